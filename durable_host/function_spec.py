"""What a loaded function is, and the checks the host and the Python worker make of every function,
whichever programming model declared it: a folder's function.json (v1) or a decorator in
function_app.py (v2). Both models hand the host the same binding documents, so one set of checks
serves both.
"""

from __future__ import annotations

import inspect
import re
import traceback
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_host.bindings import accepts_annotation
from durable_host.config import StartupError
from durable_host.contracts import FunctionKind
from durable_host.routing import RouteTemplate, RouteTemplateError

TRIGGER_KINDS: Mapping[str, FunctionKind] = {
    "httptrigger": FunctionKind.HTTP,
    "orchestrationtrigger": FunctionKind.ORCHESTRATOR,
    "activitytrigger": FunctionKind.ACTIVITY,
}
# The canonical spelling of each supported binding type, by its lower-case name.
SUPPORTED_TYPES: Mapping[str, str] = {
    "httptrigger": "httpTrigger",
    "http": "http",
    "orchestrationtrigger": "orchestrationTrigger",
    "activitytrigger": "activityTrigger",
    "durableclient": "durableClient",
    "orchestrationclient": "durableClient",
}
NOT_SUPPORTED_YET = {"entitytrigger": "entityTrigger"}
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"})
# The trigger property that names an orchestrator or activity for the Durable extension when it is
# not the function's name (OrchestrationTriggerAttribute.Orchestration, .Activity).
DURABLE_NAME_PROPERTY = {"orchestrationtrigger": "orchestration", "activitytrigger": "activity"}
# The host's rule for function names (Utility.IsValidFunctionName in azure-functions-host).
_FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,127}", re.IGNORECASE)


class AppLoadError(StartupError):
    """Every problem found in the app's functions."""

    def __init__(self, app_dir: Path, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"The app in {app_dir} has {len(problems)} problem(s):\n{listed}")


@dataclass(frozen=True)
class Binding:
    type: str
    """The canonical type name (`orchestrationClient` is read as `durableClient`)."""
    name: str
    direction: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    """One loaded function: its declaration and the callable the worker would invoke."""

    name: str
    folder: Path
    """The function directory the worker reports in `context.function_directory`."""
    declaration: Path
    """Where the function is declared: its function.json (v1) or the Python file (v2)."""
    bindings: tuple[Binding, ...]
    trigger: Binding
    main: Callable[..., Any]
    wants_context: bool

    @property
    def kind(self) -> FunctionKind:
        return TRIGGER_KINDS[self.trigger.type.lower()]

    @property
    def durable_name(self) -> str:
        """The name orchestrations and clients call it by: the trigger's `orchestration` or
        `activity` property when set, else the function's name (as the Durable extension's
        trigger binding providers pick it)."""
        named = self.trigger.raw.get(DURABLE_NAME_PROPERTY.get(self.trigger.type.lower(), ""))
        return named if isinstance(named, str) and named else self.name

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.main)

    @property
    def inputs(self) -> tuple[Binding, ...]:
        return tuple(b for b in self.bindings if b.direction == "in")

    @property
    def outputs(self) -> tuple[Binding, ...]:
        """Output bindings passed as `func.Out` parameters (not `$return`)."""
        return tuple(b for b in self.bindings if b.direction == "out" and b.name != "$return")

    @property
    def return_binding(self) -> Binding | None:
        return next((b for b in self.bindings if b.name == "$return"), None)

    @property
    def route(self) -> RouteTemplate:
        """The HTTP route (the function's name when the trigger gives none)."""
        return RouteTemplate.parse(str(self.trigger.raw.get("route") or self.name))

    @property
    def methods(self) -> frozenset[str] | None:
        methods = self.trigger.raw.get("methods")
        return frozenset(m.upper() for m in methods) if methods else None


def check_name(name: str, where: str) -> list[str]:
    if _FUNCTION_NAME.fullmatch(name) and name.lower() != "host":
        return []
    return [
        f"{where}: {name!r} is not a valid function name (a letter, then up to 127 letters, "
        "digits, '_' or '-'; not 'host')"
    ]


def check_bindings(
    raw_bindings: Iterable[object], where: str, function: str
) -> tuple[list[Binding], Binding | None, list[str]]:
    """The bindings, the trigger, and every problem with them, as the host validates them."""
    problems: list[str] = []
    bindings: list[Binding] = []
    for index, raw in enumerate(raw_bindings):
        binding, binding_problems = _check_binding(raw, index, where, function)
        problems += binding_problems
        if binding is not None:
            bindings.append(binding)
    names = [b.name for b in bindings]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}: binding name {duplicate!r} is used more than once")
    triggers = [b for b in bindings if b.type.lower() in TRIGGER_KINDS]
    if not triggers and not problems:
        problems.append(f"{where}: no trigger binding (a function needs exactly one)")
    if len(triggers) > 1:
        listed = ", ".join(f"{t.name} ({t.type})" for t in triggers)
        problems.append(f"{where}: more than one trigger binding: {listed}")
    return bindings, (triggers[0] if triggers else None), problems


def _check_binding(
    raw: object, index: int, where: str, function: str
) -> tuple[Binding | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"{where}: bindings[{index}] must be an object"]
    problems = []
    for key in ("type", "name", "direction"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            problems.append(f"{where}: bindings[{index}] has no {key!r}")
    if problems:
        return None, problems
    type_name, name, direction = raw["type"], raw["name"], raw["direction"].lower()
    lowered = type_name.lower()
    if lowered in NOT_SUPPORTED_YET:
        return None, [
            f"{where}: function {function!r} uses {NOT_SUPPORTED_YET[lowered]} (binding "
            f"{name!r}), which durable_host does not support yet"
        ]
    if lowered not in SUPPORTED_TYPES:
        return None, [
            f"{where}: binding {name!r} has unknown type {type_name!r} "
            f"(supported: {', '.join(sorted(set(SUPPORTED_TYPES.values())))}, "
            "orchestrationClient)"
        ]
    if direction not in ("in", "out"):
        return None, [f"{where}: binding {name!r} has direction {direction!r}; use in or out"]
    if name == "$return" and direction != "out":
        problems.append(f"{where}: the $return binding must have direction out")
    if lowered in TRIGGER_KINDS and direction != "in":
        problems.append(f"{where}: trigger {name!r} must have direction in")
    if lowered == "http" and direction != "out":
        problems.append(f"{where}: http binding {name!r} must have direction out")
    if lowered in ("durableclient", "orchestrationclient") and direction != "in":
        problems.append(f"{where}: {type_name} binding {name!r} must have direction in")
    if lowered == "httptrigger":
        problems += _check_http_trigger(raw, where)
    return Binding(SUPPORTED_TYPES[lowered], name, direction, raw), problems


def _check_http_trigger(raw: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    methods = raw.get("methods")
    if methods is not None and (
        not isinstance(methods, list)
        or not all(isinstance(m, str) and m.upper() in HTTP_METHODS for m in methods)
    ):
        problems.append(f"{where}: httpTrigger methods must be a list of HTTP methods: {methods!r}")
    route = raw.get("route")
    if route is not None and not isinstance(route, str):
        problems.append(f"{where}: httpTrigger route must be a string")
    elif route:
        try:
            RouteTemplate.parse(route)
        except RouteTemplateError as error:
            problems.append(f"{where}: {error}")
    return problems


def import_failure(script: Path, error: BaseException) -> str:
    """One line naming the file and line where importing the app's code failed."""
    if isinstance(error, SyntaxError):
        return f"{error.filename or script}:{error.lineno}: cannot import: SyntaxError: {error.msg}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "importlib" not in f.filename]
    at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{script}: cannot import: {type(error).__name__}: {error}{at}"


def check_entry_point(
    main: Callable[..., Any], bindings: list[Binding], where: str
) -> tuple[bool, list[str]]:
    """The worker's load-time checks of the callable against the bindings (its parameters and
    their annotations); returns whether it takes the invocation `context`."""
    wants_context, problems = _check_parameters(main, bindings, where)
    return wants_context, problems + _check_annotations(main, bindings, where)


def _check_parameters(
    main: Callable[..., Any], bindings: list[Binding], where: str
) -> tuple[bool, list[str]]:
    """Every bound name must be a parameter of main and vice versa, as the worker insists;
    an unbound `context` parameter receives the invocation context."""
    try:
        parameters = dict(inspect.signature(main).parameters)
    except (TypeError, ValueError) as error:
        return False, [f"{where}: cannot read the parameters of the entry point: {error}"]
    bound = {b.name for b in bindings if b.name != "$return"}
    wants_context = "context" in parameters and "context" not in bound
    if wants_context:
        del parameters["context"]
    problems = []
    missing = sorted(bound - set(parameters))
    extra = sorted(set(parameters) - bound)
    if missing:
        problems.append(
            f"{where}: binding(s) {', '.join(missing)} have no matching parameter "
            f"in the entry point"
        )
    if extra:
        problems.append(
            f"{where}: parameter(s) {', '.join(extra)} of the entry point have no binding"
        )
    return wants_context, problems


def _is_out(annotation: object) -> bool:
    declared = typing.get_origin(annotation) or annotation
    return isinstance(declared, type) and declared.__name__ == "Out"


def _check_annotations(main: Callable[..., Any], bindings: list[Binding], where: str) -> list[str]:
    """The worker's load-time checks of annotations against the bindings' converters.
    Annotations that do not resolve to plain types are left alone."""
    try:
        hints = typing.get_type_hints(main)
    except Exception:
        return []
    problems = []
    for binding in bindings:
        name = "return" if binding.name == "$return" else binding.name
        annotation = hints.get(name)
        if annotation is None:
            continue
        is_out = _is_out(annotation)
        if is_out and (binding.direction != "out" or name == "return"):
            problems.append(
                f"{where}: {name!r} is annotated azure.functions.Out but is not an "
                "out binding parameter"
            )
            continue
        if binding.direction == "out" and name != "return" and not is_out:
            problems.append(
                f"{where}: out binding {name!r} must be annotated azure.functions.Out[...]"
            )
            continue
        declared = typing.get_args(annotation)[0] if is_out else annotation
        if isinstance(declared, type) and not accepts_annotation(
            binding.type, declared, output=binding.direction == "out"
        ):
            problems.append(
                f"{where}: {name!r} is annotated {declared.__name__}, which the {binding.type} "
                "binding does not accept"
            )
    return problems


def collect(
    loaded: Iterable[tuple[FunctionSpec | None, list[str]]],
) -> tuple[list[FunctionSpec], list[str]]:
    """The functions that loaded and every problem found, from one (spec, problems) per function,
    so that one run reports them all."""
    specs: list[FunctionSpec] = []
    problems: list[str] = []
    for spec, found in loaded:
        problems += found
        if spec is not None:
            specs.append(spec)
    return specs, problems


def check_unique_names(specs: Iterable[FunctionSpec]) -> list[str]:
    """Function names, and the names orchestrators and activities are called by, are
    case-insensitive on the host: two functions answering to one name are refused."""
    problems = []
    taken: dict[str, FunctionSpec] = {}
    for spec in specs:
        for name in dict.fromkeys([spec.name, spec.durable_name]):
            other = taken.setdefault(name.lower(), spec)
            if other is spec:
                continue
            if name.lower() == other.name.lower():
                problem = f"function names are case-insensitive and {other.name!r} already exists"
            else:
                problem = (
                    f"function {spec.name!r} is called {name!r}, as function {other.name!r} "
                    "is (names are case-insensitive)"
                )
            problems.append(f"{spec.declaration}: {problem}")
    return problems
