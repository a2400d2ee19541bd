"""On Azure every HTTP endpoint of the app asks for a function key: an anonymous trigger added by
mistake would open the order API (or a read API) to anyone who finds the URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_ROOT

# The app's HTTP functions today; a new one is checked too, this only guards against a glob that
# silently finds nothing.
KNOWN_HTTP_FUNCTIONS = {
    "StartSaga",
    "GetOrder",
    "GetCustomer",
    "GetInventory",
    "ListOrders",
    "OrderTimeline",
    "OrderPayloads",
    "CompensateOrder",
    "TerminateOrder",
    "Monitor",
}


def http_triggers() -> dict[Path, list[dict[str, Any]]]:
    """Every httpTrigger binding of every function folder at the repository root, by file."""
    found: dict[Path, list[dict[str, Any]]] = {}
    for path in sorted(PROJECT_ROOT.glob("*/function.json")):
        bindings = json.loads(path.read_text(encoding="utf-8")).get("bindings", [])
        triggers = [b for b in bindings if str(b.get("type", "")).lower() == "httptrigger"]
        if triggers:
            found[path] = triggers
    return found


def test_every_http_function_of_the_app_is_found() -> None:
    folders = {path.parent.name for path in http_triggers()}
    assert folders >= KNOWN_HTTP_FUNCTIONS


def test_every_http_trigger_requires_a_function_key() -> None:
    not_keyed = [
        f"{path.relative_to(PROJECT_ROOT)}: authLevel {trigger.get('authLevel', '(unset)')!r}"
        for path, triggers in http_triggers().items()
        for trigger in triggers
        if str(trigger.get("authLevel", "")).lower() != "function"
    ]
    assert not not_keyed, (
        'set "authLevel": "function" on every httpTrigger (docs/deployment.md, "Keys on Azure"): '
        + "; ".join(not_keyed)
    )
