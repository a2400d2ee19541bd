"""Plain HTTP for tests that talk to a running host (stdlib, never via a proxy), and polling."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, TypeVar

T = TypeVar("T")

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Reply:
    method: str
    url: str
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise AssertionError(f"{self} is not JSON: {error}") from None

    def __str__(self) -> str:
        text = self.body.decode("utf-8", "replace")
        return f"{self.method} {self.url} -> {self.status} {text[:2000]}"


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    """One request; error statuses are returned as replies, connection failures raise OSError."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return Reply(method, url, response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(method, url, error.code, error.headers, error.read())


def post_json(url: str, document: Any) -> Reply:
    return call("POST", url, json.dumps(document).encode(), {"Content-Type": "application/json"})


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.1,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call `probe` until it returns something other than None; fail after `timeout` seconds
    with `what` (and `describe()`, the last state seen) in the message."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            detail = f"; last seen: {describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)
