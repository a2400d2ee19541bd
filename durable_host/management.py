"""The Durable HTTP management API and the durableClient binding payload.

The same handlers serve the public webhook API (`/runtime/webhooks/durabletask/...`) and the rpc
API the Python client calls (`/durabletask/...`), with the real extension's status codes and
payloads, so that starters, dashboards and scripts written against Azure work unchanged.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from durable_host import history as h
from durable_host.engine import Engine, InstanceExistsError, UnknownFunctionError
from durable_host.history import EventType, OrchestrationStatus
from durable_host.store import InstanceQuery, InstanceRecord, ValueTooLargeError

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
CONTINUATION_HEADER = "x-ms-continuation-token"
MAX_INSTANCE_ID_LENGTH = 256
# The host pages instance queries by 100 unless `top` says otherwise.
DEFAULT_PAGE_SIZE = 100
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_management_routes(app: web.Application, engine: Engine) -> None:
    """Serve the management API under both the webhook and the rpc base paths."""
    api = _ManagementApi(engine)
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/orchestrators/{functionName}", api.start),
        ("POST", "/orchestrators/{functionName}/{instanceId}", api.start),
        ("GET", "/instances", api.list_instances),
        ("GET", "/instances/", api.list_instances),
        ("DELETE", "/instances", api.purge_where),
        ("DELETE", "/instances/", api.purge_where),
        ("GET", "/instances/{instanceId}", api.status),
        ("DELETE", "/instances/{instanceId}", api.purge),
        ("POST", "/instances/{instanceId}/raiseEvent/{eventName}", api.raise_event),
        ("POST", "/instances/{instanceId}/terminate", api.terminate),
        ("POST", "/instances/{instanceId}/suspend", api.suspend),
        ("POST", "/instances/{instanceId}/resume", api.resume),
        ("POST", "/instances/{instanceId}/restart", api.restart),
    ]
    for prefix in (WEBHOOK_PREFIX, RPC_PREFIX):
        for method, path, handler in routes:
            app.router.add_route(method, prefix + path, handler)


def _query_string(engine: Engine) -> str:
    return f"taskHub={quote(engine.hub_name)}&connection=Storage"


def _instance_links(base_url: str, engine: Engine, instance_id: str) -> dict[str, str]:
    """The check-status links for an instance (HttpManagementPayload)."""
    instance = f"{base_url}/instances/{quote(instance_id, safe='')}"
    query = _query_string(engine)
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }


def client_binding_payload(engine: Engine, origin: str) -> str:
    """The durableClient binding value the real host passes to a Python function (JSON text)."""
    base_url = origin.rstrip("/") + WEBHOOK_PREFIX
    query = _query_string(engine)
    management = _instance_links(base_url, engine, "INSTANCEID")
    management["rewindPostUri"] = f"{base_url}/instances/INSTANCEID/rewind?reason={{text}}&{query}"
    orchestrators = f"{base_url}/orchestrators/{{functionName}}[/{{instanceId}}]"
    return json.dumps(
        {
            "taskHubName": engine.hub_name,
            "creationUrls": {
                "createNewInstancePostUri": f"{orchestrators}?{query}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{orchestrators}?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{query}"
                ),
            },
            "managementUrls": management,
            "baseUrl": base_url,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": origin.rstrip("/") + RPC_PREFIX + "/",
            "httpBaseUrl": None,
            "connectionName": None,
        }
    )


def _format_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_json_text(text: str | None) -> Any:
    """Stored values are JSON text; the API shows them parsed, or raw when they are not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error(status: int, message: str, error: BaseException | None = None) -> web.Response:
    body: dict[str, Any] = {"Message": message}
    if error is not None:
        body["ExceptionMessage"] = str(error)
        body["ExceptionType"] = _exception_type(error)
        body["StackTrace"] = None
    return web.json_response(body, status=status)


def _exception_type(error: BaseException) -> str:
    if isinstance(error, InstanceExistsError):
        return "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
    if isinstance(error, json.JSONDecodeError):
        return "Newtonsoft.Json.JsonReaderException"
    if isinstance(error, ValueError):
        return "System.ArgumentException"
    return "System.Exception"


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() == "true"


def _time_parameter(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        return h.parse_timestamp(value)
    except ValueError as error:
        raise web.HTTPBadRequest(
            text=json.dumps({"Message": f"Invalid value for '{name}': {value!r}"}),
            content_type="application/json",
        ) from error


def _status_filter(request: web.Request) -> frozenset[OrchestrationStatus]:
    value = request.query.get("runtimeStatus")
    if not value:
        return frozenset()
    statuses = set()
    for name in value.split(","):
        matches = [s for s in OrchestrationStatus if s.name.lower() == name.strip().lower()]
        if not matches:
            raise web.HTTPBadRequest(
                text=json.dumps({"Message": f"Unknown runtimeStatus {name.strip()!r}"}),
                content_type="application/json",
            )
        statuses.add(matches[0])
    return frozenset(statuses)


def validate_instance_id(instance_id: str) -> None:
    """Instance ids the real host refuses (they would break storage keys or URLs)."""
    if not instance_id.strip():
        raise ValueError("Instance ID must not be empty or whitespace.")
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise ValueError(f"Instance ID must not exceed {MAX_INSTANCE_ID_LENGTH} characters.")
    if instance_id.startswith("@"):
        raise ValueError(f"Orchestration instance ids must not start with @: '{instance_id}'.")
    if any(char in instance_id for char in "/\\#?") or _CONTROL_CHARS.search(instance_id):
        raise ValueError(
            f"Instance ID '{instance_id}' contains invalid characters "
            "('/', '\\', '#', '?' or control characters)."
        )


class _ManagementApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _base_url(self, request: web.Request) -> str:
        return str(request.url.origin()) + WEBHOOK_PREFIX

    def _check_status(self, request: web.Request, instance_id: str) -> web.Response:
        links = _instance_links(self._base_url(request), self.engine, instance_id)
        return web.json_response(
            links,
            status=202,
            headers={"Location": links["statusQueryGetUri"], "Retry-After": "10"},
        )

    async def start(self, request: web.Request) -> web.Response:
        function_name = request.match_info["functionName"]
        instance_id = request.match_info.get("instanceId") or uuid.uuid4().hex
        body = await request.text()
        try:
            input_text = _canonical_json(body) if body.strip() else None
        except json.JSONDecodeError as error:
            return _error(400, "Invalid JSON content", error)
        try:
            validate_instance_id(instance_id)
            await self.engine.start_new(function_name, instance_id, input_text)
        except (ValueError, UnknownFunctionError) as error:
            # ValueTooLargeError included: the input does not fit in storage.
            return _error(400, "One or more of the arguments submitted is incorrect", error)
        except InstanceExistsError as error:
            return _error(500, "Something went wrong while processing your request", error)
        return await self._respond_when_done(request, instance_id)

    async def _respond_when_done(self, request: web.Request, instance_id: str) -> web.Response:
        """With timeout and pollingInterval (seconds), wait for the result as the host does."""
        try:
            timeout = float(request.query["timeout"])
            interval = float(request.query["pollingInterval"])
        except (KeyError, ValueError):
            return self._check_status(request, instance_id)
        deadline = time.monotonic() + timeout
        while True:
            record = await self.engine.get_status(instance_id)
            if record is not None and record.runtime_status == OrchestrationStatus.Completed:
                return web.json_response(parse_json_text(record.output))
            if record is not None and record.is_terminal:
                return web.json_response(await self._payload(record, False, False, True))
            if time.monotonic() + interval > deadline:
                return self._check_status(request, instance_id)
            await asyncio.sleep(max(interval, 0.05))

    async def status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instanceId"]
        record = await self.engine.get_status(instance_id)
        if record is None:
            return web.Response(status=404)
        payload = await self._payload(
            record,
            _flag(request, "showHistory", False),
            _flag(request, "showHistoryOutput", False),
            _flag(request, "showInput", True),
        )
        headers: dict[str, str] = {}
        if not record.is_terminal:
            status = 202
            headers = {"Location": str(request.url), "Retry-After": "5"}
        elif record.runtime_status == OrchestrationStatus.Failed:
            status = 500 if _flag(request, "returnInternalServerErrorOnFailure", False) else 200
        else:
            status = 200
        return web.json_response(payload, status=status, headers=headers)

    async def _payload(
        self, record: InstanceRecord, show_history: bool, show_output: bool, show_input: bool
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": record.name,
            "instanceId": record.instance_id,
            "runtimeStatus": record.runtime_status.name,
            "input": parse_json_text(record.input) if show_input else None,
            "customStatus": parse_json_text(record.custom_status),
            "output": parse_json_text(record.output),
            "createdTime": _format_time(record.created_time),
            "lastUpdatedTime": _format_time(record.last_updated_time),
        }
        if show_history and record.runtime_status != OrchestrationStatus.Pending:
            events = await self.engine.get_history(record.instance_id)
            payload["historyEvents"] = public_history(events, show_output, show_input)
        return payload

    async def list_instances(self, request: web.Request) -> web.Response:
        query = InstanceQuery(
            created_from=_time_parameter(request, "createdTimeFrom"),
            created_to=_time_parameter(request, "createdTimeTo"),
            statuses=_status_filter(request),
            id_prefix=request.query.get("instanceIdPrefix") or None,
        )
        top = DEFAULT_PAGE_SIZE
        if request.query.get("top"):
            try:
                top = int(request.query["top"])
            except ValueError:
                return _error(400, f"Invalid value for 'top': {request.query['top']!r}")
            if top <= 0:
                top = DEFAULT_PAGE_SIZE
        try:
            records, token = await self.engine.query(
                query, top, request.headers.get(CONTINUATION_HEADER)
            )
        except ValueError as error:
            return _error(400, "One or more of the arguments submitted is incorrect", error)
        show_input = _flag(request, "showInput", True)
        payloads = [await self._payload(r, False, False, show_input) for r in records]
        headers = {CONTINUATION_HEADER: token} if token else {}
        return web.json_response(payloads, headers=headers)

    async def purge(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instanceId"]
        if await self.engine.get_status(instance_id) is None:
            return web.Response(status=404)
        deleted = await self.engine.purge(instance_id)
        return web.json_response({"instancesDeleted": deleted})

    async def purge_where(self, request: web.Request) -> web.Response:
        created_from = _time_parameter(request, "createdTimeFrom")
        if created_from is None:
            return web.json_response(
                "Please provide value for 'createdTimeFrom' parameter.", status=400
            )
        query = InstanceQuery(
            created_from=created_from,
            created_to=_time_parameter(request, "createdTimeTo") or self.engine.now(),
            statuses=_status_filter(request),
        )
        deleted = await self.engine.purge_where(query)
        if deleted == 0:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instanceId"]
        record = await self.engine.get_status(instance_id)
        if record is None:
            return web.Response(status=404)
        if record.is_terminal:
            return web.Response(status=410)
        if request.content_type.lower() != "application/json":
            return _error(400, "Only application/json request content is supported")
        body = await request.text()
        try:
            input_text = _canonical_json(body) if body.strip() else None
        except json.JSONDecodeError as error:
            return _error(400, "Invalid JSON content", error)
        try:
            await self.engine.raise_event(instance_id, request.match_info["eventName"], input_text)
        except ValueTooLargeError as error:
            return _error(400, "One or more of the arguments submitted is incorrect", error)
        return web.Response(status=202)

    async def _control(
        self, request: web.Request, action: Callable[[str, str | None], Awaitable[None]]
    ) -> web.Response:
        instance_id = request.match_info["instanceId"]
        record = await self.engine.get_status(instance_id)
        if record is None:
            return web.Response(status=404)
        if record.is_terminal:
            return web.Response(status=410)
        await action(instance_id, request.query.get("reason"))
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.Response:
        return await self._control(request, self.engine.terminate)

    async def suspend(self, request: web.Request) -> web.Response:
        return await self._control(request, self.engine.suspend)

    async def resume(self, request: web.Request) -> web.Response:
        return await self._control(request, self.engine.resume)

    async def restart(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instanceId"]
        new_id = _flag(request, "restartWithNewInstanceId", True)
        try:
            validate_instance_id(instance_id)
            restarted = await self.engine.restart(instance_id, uuid.uuid4().hex if new_id else None)
        except (KeyError, ValueError, UnknownFunctionError) as error:
            message = f"An orchestration with the instanceId {instance_id} was not found."
            if not isinstance(error, KeyError):
                message = str(error)
            return _error(
                400,
                "InstanceId does not match a valid orchestration instance.",
                ValueError(message),
            )
        except InstanceExistsError as error:
            return _error(500, "Something went wrong while processing your request", error)
        return await self._respond_when_done(request, restarted)


def _canonical_json(body: str) -> str:
    """Parse a request body and write it back compactly, as the host stores it."""
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)


def public_history(
    events: list[h.Event], show_output: bool, show_input: bool
) -> list[dict[str, Any]]:
    """History as the status API shows it: names for enums, scheduling events folded into their
    completions (as FunctionName and ScheduledTime), orchestrator episode markers dropped."""
    scheduled: dict[tuple[int, int], tuple[int, h.Event]] = {}
    dropped: set[int] = set()
    shown: list[tuple[int, dict[str, Any]]] = []
    for index, event in enumerate(events):
        kind = EventType(event["EventType"])
        item: dict[str, Any] = {
            k: v for k, v in event.items() if k not in ("EventId", "IsPlayed", "MessageId")
        }
        item["EventType"] = kind.name
        if kind in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            continue
        if kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[(int(kind), int(event["EventId"]))] = (index, event)
            item.pop("Version", None)
        elif kind in (
            EventType.TaskCompleted,
            EventType.TaskFailed,
            EventType.SubOrchestrationInstanceCompleted,
            EventType.SubOrchestrationInstanceFailed,
        ):
            opener = (
                EventType.TaskScheduled
                if kind in (EventType.TaskCompleted, EventType.TaskFailed)
                else EventType.SubOrchestrationInstanceCreated
            )
            match = scheduled.get((int(opener), int(event["TaskScheduledId"])))
            if match is not None:
                opened_at, opened = match
                item["ScheduledTime"] = opened["Timestamp"]
                item["FunctionName"] = opened.get("Name")
                if show_input:
                    item["Input"] = opened.get("Input")
                dropped.add(opened_at)
            item.pop("TaskScheduledId", None)
            if kind in (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted):
                if show_output:
                    item["Result"] = parse_json_text(item.get("Result"))
                else:
                    item.pop("Result", None)
        elif kind == EventType.ExecutionStarted:
            item["FunctionName"] = item.pop("Name", None)
            for member in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(member, None)
        elif kind == EventType.ExecutionCompleted:
            item["OrchestrationStatus"] = OrchestrationStatus(item["OrchestrationStatus"]).name
            if show_output:
                item["Result"] = parse_json_text(item.get("Result"))
            else:
                item.pop("Result", None)
        elif kind == EventType.TimerFired:
            item.pop("TimerId", None)
        if not show_input:
            item.pop("Input", None)
        shown.append((index, item))
    return [item for index, item in shown if index not in dropped]
