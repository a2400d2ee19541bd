"""Start and stop the project's own Azurite (the Azure Storage emulator from node_modules).

Used by durable_host when the app points at development storage and nothing listens there, by the
test suite (on free loopback ports, with a throwaway data folder), and by `make func`. Before it
starts Azurite it checks the Node.js on PATH, so that a too-old one is one clear message rather
than a crash deep inside the emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = "devstoreaccount1"
# The emulator's well-known development key (documented publicly by Microsoft; not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEFAULT_PORTS = (10000, 10001, 10002)
LOOPBACK = "127.0.0.1"
# The oldest Node.js major the pinned Azurite runs on: its dependencies declare node >=20, and
# package.json's "engines" says the same (a test holds the two together).
MINIMUM_NODE = 20
_NODE_VERSION = re.compile(r"v?(\d+)\.\d+\.\d+")


class AzuriteError(RuntimeError):
    """Azurite could not be found or did not start."""


@dataclass(frozen=True)
class Ports:
    blob: int
    queue: int
    table: int


def connection_string(ports: Ports, host: str = LOOPBACK) -> str:
    """The storage connection string for an emulator listening on `ports`."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{ports.blob}/{ACCOUNT};"
        f"QueueEndpoint=http://{host}:{ports.queue}/{ACCOUNT};"
        f"TableEndpoint=http://{host}:{ports.table}/{ACCOUNT};"
    )


def is_development_storage(value: str) -> bool:
    return value.strip().rstrip(";").lower() == "usedevelopmentstorage=true"


def is_listening(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def find_executable(*search_from: Path) -> Path:
    """node_modules/.bin/azurite in one of the given folders or their parents."""
    for start in search_from:
        for folder in (start.resolve(), *start.resolve().parents):
            candidate = folder / "node_modules" / ".bin" / "azurite"
            if candidate.exists():
                return candidate
    found = shutil.which("azurite")
    if found:
        return Path(found)
    raise AzuriteError(
        "Azurite is not installed: run `npm ci` in the project folder (package.json pins it)."
    )


def check_node() -> str:
    """The version of the `node` on PATH (which runs Azurite); AzuriteError if too old or absent."""
    node = shutil.which("node")
    if node is None:
        raise AzuriteError(
            f"Azurite needs Node.js {MINIMUM_NODE} or newer, and no `node` is on PATH: "
            f"install Node.js {MINIMUM_NODE}+ (https://nodejs.org) and run `npm ci` in the project."
        )
    try:
        answer = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise AzuriteError(f"could not ask {node} for its version: {error}") from None
    found = answer.stdout.strip()
    match = _NODE_VERSION.match(found)
    if match is None:
        raise AzuriteError(
            f"{node} --version answered {found or answer.stderr.strip()!r}, not a Node.js "
            f"version: put Node.js {MINIMUM_NODE}+ first on PATH."
        )
    if int(match.group(1)) < MINIMUM_NODE:
        raise AzuriteError(
            f"Azurite needs Node.js {MINIMUM_NODE} or newer, but the `node` on PATH ({node}) "
            f"is {found}: install Node.js {MINIMUM_NODE}+ (https://nodejs.org) and put it first "
            "on PATH."
        )
    return found


class Azurite:
    """One Azurite process on loopback with its own data folder; a context manager."""

    def __init__(
        self,
        location: Path,
        ports: Ports | None = None,
        executable: Path | None = None,
        log_file: Path | None = None,
        access_log: bool = False,
    ) -> None:
        self.location = location
        self.ports = ports or Ports(free_port(), free_port(), free_port())
        self.executable = executable or find_executable(Path.cwd(), Path(__file__).parent)
        self.log_file = log_file or location / "azurite.log"
        self.access_log = access_log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.ports)

    def start(self, timeout: float = 30.0) -> Azurite:
        check_node()
        self.location.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.executable),
            *([] if self.access_log else ["--silent"]),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--location",
            str(self.location),
            "--blobHost",
            LOOPBACK,
            "--blobPort",
            str(self.ports.blob),
            "--queueHost",
            LOOPBACK,
            "--queuePort",
            str(self.ports.queue),
            "--tableHost",
            LOOPBACK,
            "--tablePort",
            str(self.ports.table),
        ]
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        wanted = (self.ports.blob, self.ports.queue, self.ports.table)
        while not all(is_listening(port) for port in wanted):
            if self._process.poll() is not None:
                raise AzuriteError(
                    f"Azurite exited with code {self._process.returncode} while starting; "
                    f"see {self.log_file}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AzuriteError(f"Azurite did not listen on {wanted} within {timeout:.0f} s")
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int | None:
        """The emulator's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def wait(self) -> None:
        """Block until the emulator exits (or the caller is interrupted)."""
        if self._process is not None:
            self._process.wait()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m durable_host.azurite",
        description="Run the project's Azurite on loopback until interrupted.",
    )
    parser.add_argument("--location", type=Path, default=Path(".azurite"))
    parser.add_argument(
        "--check-node",
        action="store_true",
        help="only check that node and npm are on PATH and node is new enough, then exit",
    )
    args = parser.parse_args(argv)
    if args.check_node:
        return _report_node()
    busy = [port for port in DEFAULT_PORTS if is_listening(port)]
    if busy:
        print(f"Storage ports {busy} already in use; using what listens there.", file=sys.stderr)
        return 0
    # SIGTERM (make func's cleanup) leaves through the `with`, so the emulator is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Azurite(args.location, Ports(*DEFAULT_PORTS)) as azurite:
        print(f"Azurite listening on {LOOPBACK} ports {DEFAULT_PORTS}; Ctrl-C stops it.")
        with contextlib.suppress(KeyboardInterrupt):
            azurite.wait()
    return 0


def _report_node() -> int:
    try:
        version = check_node()
    except AzuriteError as error:
        print(error, file=sys.stderr)
        return 1
    if shutil.which("npm") is None:
        print(
            f"node {version} is on PATH but npm is not: install npm with Node.js.", file=sys.stderr
        )
        return 1
    print(f"node {version} (Azurite needs {MINIMUM_NODE}+) and npm are on PATH.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
