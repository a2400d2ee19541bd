"""A small client for the management API used by the engine tests: start, poll, raise."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from tests.http_client import Reply, call, wait_for

JSON = {"Content-Type": "application/json"}
FINISHED = ("Completed", "Failed", "Terminated", "Canceled")


class ManagementClient:
    def __init__(self, base_url: str) -> None:
        self.origin = base_url
        self.api = base_url + "/runtime/webhooks/durabletask"

    def start(self, function: str, instance_id: str, payload: Any = None) -> Reply:
        """Start as the Python client's start_new does: the input JSON text, sent as JSON."""
        body = None if payload is None else json.dumps(json.dumps(payload)).encode()
        return call(
            "POST", f"{self.api}/orchestrators/{function}/{_quote(instance_id)}", body, JSON
        )

    def status(self, instance_id: str, query: str = "") -> Reply:
        return call("GET", f"{self.api}/instances/{_quote(instance_id)}{query}")

    def raise_event(self, instance_id: str, name: str, payload: Any) -> Reply:
        url = f"{self.api}/instances/{_quote(instance_id)}/raiseEvent/{name}"
        return call("POST", url, json.dumps(payload).encode(), JSON)

    def post(self, instance_id: str, operation: str, query: str = "") -> Reply:
        return call("POST", f"{self.api}/instances/{_quote(instance_id)}/{operation}{query}")

    def wait_until(
        self, instance_id: str, statuses: tuple[str, ...] = FINISHED, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll the status until it is one of `statuses`; the last payload on success."""
        seen = _LastReply()

        def probe() -> dict[str, Any] | None:
            reply = seen.keep(self.status(instance_id, "?showHistory=true&showHistoryOutput=true"))
            if reply.status in (200, 202):
                status = dict(reply.json())
                if status["runtimeStatus"] in statuses:
                    return status
            return None

        what = f"{instance_id} to be in {statuses}"
        return wait_for(what, probe, timeout, interval=0.05, describe=seen.describe)

    def wait_for_history(
        self, instance_id: str, event_type: str, count: int = 1, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll until the history holds `count` events of a type (e.g. the first TaskCompleted)."""
        seen = _LastReply()

        def probe() -> dict[str, Any] | None:
            reply = seen.keep(self.status(instance_id, "?showHistory=true"))
            if reply.status in (200, 202):
                status = dict(reply.json())
                events = status.get("historyEvents") or []
                if sum(1 for e in events if e["EventType"] == event_type) >= count:
                    return status
            return None

        what = f"{count} x {event_type} in the history of {instance_id}"
        return wait_for(what, probe, timeout, interval=0.05, describe=seen.describe)


class _LastReply:
    """The last status reply a poll saw, for its failure message."""

    def __init__(self) -> None:
        self.reply: Reply | None = None

    def keep(self, reply: Reply) -> Reply:
        self.reply = reply
        return reply

    def describe(self) -> str:
        reply = self.reply
        if reply is None:
            return "no reply"
        if reply.status not in (200, 202):
            return str(reply)
        status = reply.json()
        shown = f"{reply.status}, runtimeStatus {status.get('runtimeStatus')!r}"
        if "historyEvents" in status:
            shown += f", history {[e['EventType'] for e in status['historyEvents']]}"
        return f"{shown}: {status}"


def _quote(instance_id: str) -> str:
    return urllib.parse.quote(instance_id, safe="")


def event_types(status: dict[str, Any]) -> list[str]:
    return [event["EventType"] for event in status["historyEvents"]]
