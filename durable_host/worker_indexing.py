"""Index a v2-model app (`function_app.py` with decorators) as the Python worker does.

The worker imports the app's script as a top-level module (the app folder on sys.path), takes the
one `azure.functions.FunctionRegister` among its attributes (a `func.FunctionApp` or `df.DFApp`,
blueprints registered on it included) and hands the host what that object's own `get_functions()`
lists: each function's name, its bindings as JSON documents and the callable to invoke
(azure-functions-python-worker `loader.index_function_app`, `functions.Registry.
add_indexed_function`). The bindings then get the same checks as a function.json's.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.functions import FunctionRegister

from durable_host.function_spec import (
    FunctionSpec,
    check_bindings,
    check_entry_point,
    check_name,
    collect,
    import_failure,
)


@dataclass
class _ImportedApp:
    """The modules an app's script brought in from its folder, so that loading another app (whose
    script has the same module name) starts from a clean slate."""

    app_dir: Path
    modules: set[str] = field(default_factory=set)
    added_to_path: bool = False


_lock = threading.Lock()
_current: _ImportedApp | None = None
# `get_functions()` may run once per app object: the library remembers the names it has seen and
# would call every function a duplicate the second time. A reloaded app reuses its first listing.
_indexed: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def index_function_app(app_dir: Path, script: Path) -> tuple[list[FunctionSpec], list[str]]:
    """The app's functions, or the problems that stop it from loading."""
    with _lock:
        module, problem = _import_script(app_dir, script)
        if module is None:
            _forget_app()
            return [], [problem]
        functions, problem = _functions_of(module, script)
        if problem:
            _forget_app()
            return [], [problem]
    return collect(_function_spec(function, script) for function in functions)


def _import_script(app_dir: Path, script: Path) -> tuple[ModuleType | None, str]:
    global _current
    if _current is None or _current.app_dir != app_dir:
        _forget_app()
        _current = _ImportedApp(app_dir)
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
        _current.added_to_path = True
    importlib.invalidate_caches()
    before = set(sys.modules)
    try:
        module = importlib.import_module(script.stem)
    except (Exception, SystemExit) as error:
        return None, import_failure(script, error)
    finally:
        _current.modules |= {
            name for name in set(sys.modules) - before if _is_under(sys.modules[name], app_dir)
        }
    imported = getattr(module, "__file__", None)
    if imported is None or Path(imported).resolve() != script:
        return None, (
            f"{script}: importing module {script.stem!r} found {imported} instead; another "
            f"module of that name comes first on sys.path"
        )
    return module, ""


def _is_under(module: ModuleType | None, folder: Path) -> bool:
    location = getattr(module, "__file__", None)
    return location is not None and Path(location).resolve().is_relative_to(folder)


def _forget_app() -> None:
    """Drop the modules the last app imported from its folder (and its sys.path entry)."""
    global _current
    if _current is None:
        return
    for name in _current.modules:
        sys.modules.pop(name, None)
    if _current.added_to_path and str(_current.app_dir) in sys.path:
        sys.path.remove(str(_current.app_dir))
    _current = None


def _functions_of(module: ModuleType, script: Path) -> tuple[list[Any], str]:
    """The functions of the module's one app object, as the worker finds that object: every
    module attribute that is a FunctionRegister counts, so a second name for it is refused too."""
    found = [
        name for name in dir(module) if isinstance(getattr(module, name, None), FunctionRegister)
    ]
    if not found:
        return [], (
            f"{script}: no function app object (azure.functions.FunctionApp or "
            "azure.durable_functions.DFApp) at the top level of the module"
        )
    if len(found) > 1:
        return [], (
            f"{script}: more than one top-level function app object ({', '.join(found)}); "
            "the Python worker indexes exactly one"
        )
    app = getattr(module, found[0])
    if app not in _indexed:
        try:
            _indexed[app] = app.get_functions()
        except Exception as error:
            return [], f"{script}: {type(error).__name__}: {error}"
    functions = _indexed[app]
    if not functions:
        return [], f"{script}: the app object {found[0]!r} has no functions"
    return functions, ""


def _function_spec(function: Any, script: Path) -> tuple[FunctionSpec | None, list[str]]:
    name = str(function.get_function_name())
    main = function.get_user_function()
    source, line = _written_at(main, script)
    where = f"{source}:{line}: function {name!r}" if line else f"{source}: function {name!r}"
    raw_bindings = [json.loads(text) for text in function.get_raw_bindings()]
    bindings, trigger, problems = check_bindings(raw_bindings, where, name)
    problems = check_name(name, where) + problems
    if trigger is None or problems:
        return None, problems
    wants_context, problems = check_entry_point(main, bindings, where)
    if problems:
        return None, problems
    # The worker reports the folder of the file that defines the callable it invokes (for a
    # decorated orchestrator or client function, that callable is the Durable SDK's wrapper).
    folder = Path(inspect.getfile(main)).parent
    return FunctionSpec(name, folder, source, tuple(bindings), trigger, main, wants_context), []


def _written_at(main: Any, script: Path) -> tuple[Path, int | None]:
    """Where the user wrote the function (behind the Durable SDK's wrappers), for messages."""
    written = (
        getattr(main, "orchestrator_function", None)
        or getattr(main, "entity_function", None)
        or inspect.unwrap(main)
    )
    code = getattr(written, "__code__", None)
    if code is None:
        return script, None
    return Path(code.co_filename), int(code.co_firstlineno)
