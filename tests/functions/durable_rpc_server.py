"""A small stand-in for the Durable host's local RPC endpoint, so the real
`DurableOrchestrationClient` runs unpatched against it.

It answers the two calls the HTTP functions make as the host does (protocol reference 5.2/5.3):
POST orchestrators/{name}/{id} stores the body as the instance's input and answers 202 with the
id payload (refusing an id whose instance is still Pending or Running), and
GET instances/{id} answers 202 (Pending/Running) or 200 with the status payload, or 404 with an
empty body. Every call is recorded, and tests move instances along as an orchestrator would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from azure.durable_functions.models.utils import http_utils

T = TypeVar("T")

HUB = "SagaHub"
HOST_URL = "http://localhost:7071"
RUNNING_STATES = {"Pending", "Running"}


@dataclass
class Instance:
    name: str
    input: Any
    runtime_status: str = "Pending"
    custom_status: Any = None
    output: Any = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class EventLoopThread:
    """One event loop on a background thread for the server and for the functions under test:
    the SDK keeps a process-wide aiohttp session, which must stay on a single loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class DurableRpcServer:
    """The host's RPC endpoint on 127.0.0.1 and a free port; see the module docstring."""

    def __init__(self, runner: EventLoopThread) -> None:
        self._runner = runner
        self._lock = threading.Lock()
        self.instances: dict[str, Instance] = {}
        self.calls: list[Call] = []
        self.accepted: list[str] = []
        self._claims: dict[str, Any] = {}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        app = web.Application()
        app.router.add_post("/durabletask/orchestrators/{name}/{instance_id}", self._start)
        app.router.add_get("/durabletask/instances/{instance_id}", self._status)
        self._web_runner = web.AppRunner(app)

    @property
    def rpc_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/durabletask/"

    def start(self) -> None:
        async def serve() -> None:
            await self._web_runner.setup()
            await web.SockSite(self._web_runner, self._sock).start()

        self._runner.run(serve())

    def stop(self) -> None:
        self._runner.run(self._web_runner.cleanup())

    def client_binding(self) -> str:
        """The durableClient binding payload as the host sends it (protocol reference 5.1)."""
        base = f"{HOST_URL}/runtime/webhooks/durabletask"
        query = f"taskHub={HUB}&connection=Storage&code=SYSTEMKEY"
        instance = f"{base}/instances/INSTANCEID"
        return json.dumps(
            {
                "taskHubName": HUB,
                "connectionName": None,
                "creationUrls": {
                    "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}"
                    f"[/{{instanceId}}]?code=SYSTEMKEY",
                    "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/{{functionName}}"
                    "[/{instanceId}]?timeout={timeoutInSeconds}"
                    "&pollingInterval={intervalInSeconds}&code=SYSTEMKEY",
                },
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": f"{instance}?{query}",
                    "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
                    "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
                    "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
                    "purgeHistoryDeleteUri": f"{instance}?{query}",
                    "restartPostUri": f"{instance}/restart?{query}",
                    "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
                    "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
                },
                "baseUrl": base,
                "requiredQueryStringParameters": "code=SYSTEMKEY",
                "rpcBaseUrl": self.rpc_base_url,
                "httpBaseUrl": "",
            }
        )

    def starts(self) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == "POST"]

    def advance(
        self,
        instance_id: str,
        runtime_status: str,
        *,
        custom_status: Any = None,
        output: Any = None,
    ) -> None:
        """Move an instance along as its orchestrator would."""
        with self._lock:
            instance = self.instances[instance_id]
            instance.runtime_status = runtime_status
            instance.custom_status = custom_status
            instance.output = output
            instance.updated = datetime.now(UTC)

    def claim_after_next_miss(self, instance_id: str, saga_input: Any) -> None:
        """Let another starter win the race: the next status read of `instance_id` still finds
        nothing, and right after it an instance with `saga_input` exists."""
        with self._lock:
            self._claims[instance_id] = saga_input

    async def _start(self, request: web.Request) -> web.Response:
        name, instance_id = request.match_info["name"], request.match_info["instance_id"]
        body = await request.json() if request.can_read_body else None
        with self._lock:
            self.calls.append(Call("POST", request.path, dict(request.query), body))
            existing = self.instances.get(instance_id)
            if existing is not None and existing.runtime_status in RUNNING_STATES:
                message = (
                    f"An Orchestration instance with the status {existing.runtime_status} "
                    "already exists."
                )
                return web.json_response(
                    {
                        "Message": "Something went wrong while processing your request",
                        "ExceptionMessage": message,
                        "ExceptionType": "System.InvalidOperationException",
                    },
                    status=500,
                )
            # The host stores the body it parsed: the client's JSON text, as a string.
            self.instances[instance_id] = Instance(name=name, input=body)
            self.accepted.append(instance_id)
        return web.json_response({"id": instance_id}, status=202)

    async def _status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        with self._lock:
            self.calls.append(Call("GET", request.path, dict(request.query), None))
            instance = self.instances.get(instance_id)
            if instance is None:
                if instance_id in self._claims:
                    claimed = json.dumps(self._claims.pop(instance_id))
                    self.instances[instance_id] = Instance(name="OrderSaga", input=claimed)
                return web.Response(status=404)
            show_input = request.query.get("showInput", "true").lower() != "false"
            payload = {
                "name": instance.name,
                "instanceId": instance_id,
                "runtimeStatus": instance.runtime_status,
                "input": instance.input if show_input else None,
                "customStatus": instance.custom_status,
                "output": instance.output,
                "createdTime": _stamp(instance.created),
                "lastUpdatedTime": _stamp(instance.updated),
            }
            status = 202 if instance.runtime_status in RUNNING_STATES else 200
        return web.json_response(payload, status=status)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def forget_sdk_session() -> None:
    """Drop a session (and its lock) that another event loop in this process left behind: the
    SDK shares one aiohttp session per process, and it only works on the loop that opened it."""
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()


async def close_sdk_session() -> None:
    """Close the SDK's shared session on the loop that opened it, leaving none behind."""
    await http_utils._close_session()


@contextmanager
def durable_rpc_server() -> Iterator[tuple[EventLoopThread, DurableRpcServer]]:
    """A running server and the loop that the functions under test must run on."""
    forget_sdk_session()
    runner = EventLoopThread()
    server = DurableRpcServer(runner)
    try:
        server.start()
        yield runner, server
    finally:
        server.stop()
        runner.run(close_sdk_session())
        runner.close()
