"""The HTTP front door: the app's HTTP functions under the route prefix, plus the engine's Durable
management routes (the public webhook API and the SDK client's rpc API)."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterable
from urllib.parse import unquote

from aiohttp import web
from yarl import URL

from durable_host.app import FunctionApp
from durable_host.bindings import HttpResult, http_request_datum
from durable_host.config import StartupError
from durable_host.engine import Engine
from durable_host.management import add_management_routes, client_binding_payload
from durable_host.routing import RouteMatch
from durable_host.trace_context import http_request_trace

log = logging.getLogger("durable_host.server")

# The Functions host accepts request bodies up to about 100 MB.
MAX_REQUEST_BODY = 100 * 1024 * 1024
# Seconds in-flight requests get to finish when the host stops.
SHUTDOWN_GRACE = 5.0


def _origin(host: str, port: int) -> str:
    """The origin clients on this machine use to reach the server (wildcards -> loopback)."""
    reachable = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
    return f"http://[{reachable}]:{port}" if ":" in reachable else f"http://{reachable}:{port}"


class AppServer:
    """One aiohttp server for one FunctionApp and its Engine."""

    def __init__(self, app: FunctionApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.origin = ""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._started_at = time.monotonic()

    def web_application(self) -> web.Application:
        application = web.Application(client_max_size=MAX_REQUEST_BODY)
        add_management_routes(application, self.engine)
        application.router.add_get("/admin/host/status", self._host_status)
        application.router.add_route("*", "/{path:.*}", self._dispatch)
        return application

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (0 = a free port); raises StartupError when the port is taken."""
        runner = web.AppRunner(
            self.web_application(), access_log=None, shutdown_timeout=SHUTDOWN_GRACE
        )
        await runner.setup()
        # SO_REUSEADDR (asyncio's default on POSIX): a restarted host can take its port back
        # while the previous run's connections linger in TIME_WAIT; a live listener still blocks.
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise StartupError(
                f"cannot listen on {host}:{port}: {error.strerror or error}"
                + (" (the port is in use; choose another with --port)" if port else "")
            ) from None
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        self.origin = _origin(host, self.port)
        origin = self.origin
        self.app.bind_durable_client(lambda: client_binding_payload(self.engine, origin))

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _host_status(self, request: web.Request) -> web.Response:
        """The host's readiness probe, answered as the Functions host does once it runs, so tools
        that wait on it work unchanged."""
        uptime = int((time.monotonic() - self._started_at) * 1000)
        return web.json_response({"state": "Running", "processUptime": uptime})

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        result = await call_http_function(
            self.app,
            request.method,
            request.url,
            request.headers.items(),
            await request.read(),
        )
        response = web.Response(status=result.status, body=result.body)
        for header, value in result.headers:
            response.headers.add(header, value)
        return response


async def call_http_function(
    app: FunctionApp,
    method: str,
    url: URL,
    headers: Iterable[tuple[str, str]],
    body: bytes,
) -> HttpResult:
    """Route a request to the app's HTTP function and run it, answering as the host does: 404 for
    no route, 405 for a route without that method, 500 when the function raises; the function's
    trace context continues the request's `traceparent` as the host's request span does. The
    server calls it for every request; the test kit calls it in-process, with no port."""
    headers = list(headers)
    path = _function_path(app, _decoded_path(url.raw_path))
    found = app.routes.resolve(path, method) if path is not None else None
    if found is None:
        return HttpResult(404, [], b"")
    if not isinstance(found, RouteMatch):
        return HttpResult(405, [("Allow", ", ".join(sorted(found)))], b"")
    name = found.route.function_name
    datum = http_request_datum(method, str(url), headers, url.query.items(), found.values, body)
    try:
        return await app.run_http(name, datum, http_request_trace(headers))
    except Exception:
        log.exception("Exception while executing function: Functions.%s", name)
        text = f"Exception while executing function: Functions.{name}"
        return HttpResult(500, [("Content-Type", "text/plain; charset=utf-8")], text.encode())


def _function_path(app: FunctionApp, path: str) -> str | None:
    """The part of the path after the route prefix, or None when outside it."""
    prefix = app.settings.route_prefix
    if not prefix:
        return path
    head = "/" + prefix.lower()
    lowered = path.lower()
    if lowered == head or lowered.startswith(head + "/"):
        return path[len(head) :]
    return None


def _decoded_path(raw_path: str) -> str:
    """The request path percent-decoded as Kestrel decodes it: everything except an encoded "/",
    so "a%2Fb" stays one route segment."""
    path = raw_path.split("?", 1)[0]
    return "%2F".join(unquote(part) for part in re.split("%2[Ff]", path))


def port_is_free(host: str, port: int) -> bool:
    """Whether host:port can be bound (checked before starting storage, to fail fast)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
