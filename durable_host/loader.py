"""Find, validate and import every function of a v1-model app (`*/function.json` + a script).

Every problem in every folder is collected before anything starts, so one run shows them all.
Modules are imported the way the Python worker imports them: the app folder is on sys.path (so
`from saga import ...` works) and each function folder is a package under the `__app__`
namespace (so relative imports work).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import sys
import traceback
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_host.bindings import accepts_annotation
from durable_host.config import StartupError
from durable_host.contracts import FunctionKind
from durable_host.routing import RouteTemplate, RouteTemplateError

APP_PACKAGE = "__app__"
DEFAULT_SCRIPT = "__init__.py"
DEFAULT_ENTRY_POINT = "main"

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


class AppLoadError(StartupError):
    """Every problem found in the app's function folders."""

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
    script: Path
    bindings: tuple[Binding, ...]
    trigger: Binding
    main: Callable[..., Any]
    wants_context: bool

    @property
    def kind(self) -> FunctionKind:
        return TRIGGER_KINDS[self.trigger.type.lower()]

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
        """The HTTP route (the function's name when function.json gives none)."""
        return RouteTemplate.parse(str(self.trigger.raw.get("route") or self.name))

    @property
    def methods(self) -> frozenset[str] | None:
        methods = self.trigger.raw.get("methods")
        return frozenset(m.upper() for m in methods) if methods else None


def _install_app_package(app_dir: Path) -> None:
    """Make `__app__` the namespace of this app's folders, dropping another app's modules."""
    current = sys.modules.get(APP_PACKAGE)
    locations = [str(app_dir)]
    if current is not None and list(getattr(current, "__path__", [])) != locations:
        for module_name in [m for m in sys.modules if m.split(".")[0] == APP_PACKAGE]:
            del sys.modules[module_name]
        current = None
    if current is None:
        spec = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
        spec.submodule_search_locations = locations
        sys.modules[APP_PACKAGE] = importlib.util.module_from_spec(spec)
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    importlib.invalidate_caches()


def _check_binding(raw: object, index: int, where: str) -> tuple[Binding | None, list[str]]:
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
        function = Path(where).parent.name
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


def _import_failure(script: Path, error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"{error.filename or script}:{error.lineno}: cannot import: SyntaxError: {error.msg}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "importlib" not in f.filename]
    at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{script}: cannot import: {type(error).__name__}: {error}{at}"


def _import_entry_point(
    app_dir: Path, script: Path, entry_point: str
) -> tuple[Callable[..., Any] | None, str | None]:
    relative = script.relative_to(app_dir).with_suffix("")
    parts = [APP_PACKAGE, *relative.parts]
    if parts[-1] == "__init__":
        parts.pop()
    try:
        module = importlib.import_module(".".join(parts))
    except (Exception, SystemExit) as error:
        return None, _import_failure(script, error)
    main = getattr(module, entry_point, None)
    if not callable(main):
        return None, f"{script}: entry point {entry_point}() is not defined"
    return main, None


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


def _load_function(app_dir: Path, folder: Path) -> tuple[FunctionSpec | None, list[str]]:
    path = folder / "function.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        return None, [f"{path}: not valid JSON: {error.msg} at line {error.lineno}"]
    except OSError as error:
        return None, [f"{path}: cannot read: {error.strerror or error}"]
    if not isinstance(document, dict):
        return None, [f"{path}: expected a JSON object"]
    if document.get("disabled") is True:
        return None, []
    raw_bindings = document.get("bindings")
    if not isinstance(raw_bindings, list):
        return None, [f"{path}: missing 'bindings' (a list)"]

    problems: list[str] = []
    bindings: list[Binding] = []
    for index, raw in enumerate(raw_bindings):
        binding, binding_problems = _check_binding(raw, index, str(path))
        problems += binding_problems
        if binding is not None:
            bindings.append(binding)
    names = [b.name for b in bindings]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{path}: binding name {duplicate!r} is used more than once")
    triggers = [b for b in bindings if b.type.lower() in TRIGGER_KINDS]
    if not triggers and not problems:
        problems.append(f"{path}: no trigger binding (a function needs exactly one)")
    if len(triggers) > 1:
        listed = ", ".join(f"{t.name} ({t.type})" for t in triggers)
        problems.append(f"{path}: more than one trigger binding: {listed}")

    script = (folder / str(document.get("scriptFile") or DEFAULT_SCRIPT)).resolve()
    entry_point = str(document.get("entryPoint") or DEFAULT_ENTRY_POINT)
    if not script.is_relative_to(app_dir):
        problems.append(f"{path}: scriptFile {script} is outside the app folder")
    elif script.suffix != ".py":
        problems.append(f"{path}: scriptFile {script.name} is not a Python file")
    elif not script.is_file():
        problems.append(f"{path}: scriptFile {script} does not exist")
    if problems:
        return None, problems

    main, import_problem = _import_entry_point(app_dir, script, entry_point)
    if main is None:
        return None, [import_problem or f"{script}: cannot load"]
    wants_context, parameter_problems = _check_parameters(main, bindings, str(path))
    parameter_problems += _check_annotations(main, bindings, str(path))
    if parameter_problems:
        return None, parameter_problems
    spec = FunctionSpec(
        folder.name, folder, script, tuple(bindings), triggers[0], main, wants_context
    )
    return spec, []


def load_functions(app_dir: Path) -> dict[str, FunctionSpec]:
    """Every enabled function of the app by name; raises AppLoadError listing every problem."""
    app_dir = app_dir.resolve()
    _install_app_package(app_dir)
    functions: dict[str, FunctionSpec] = {}
    problems: list[str] = []
    for path in sorted(app_dir.glob("*/function.json")):
        spec, found = _load_function(app_dir, path.parent)
        problems += found
        if spec is None:
            continue
        clash = next((name for name in functions if name.lower() == spec.name.lower()), None)
        if clash is not None:
            problems.append(
                f"{spec.folder}: function names are case-insensitive and {clash!r} already exists"
            )
        functions[spec.name] = spec
    if problems:
        raise AppLoadError(app_dir, problems)
    return functions
