"""Find, validate and import every function of an app, in the programming model the Functions
host would pick for it:

- v2: the app's script (`PYTHON_SCRIPT_FILE_NAME`, default function_app.py) exists. The Python
  worker indexes it (worker_indexing.py) and the host uses only what it lists: function.json
  folders next to it are ignored (WorkerFunctionMetadataProvider logs "Detected mixed function
  app"), so durable_host refuses such a folder rather than silently drop functions.
- v1: otherwise the host reads every `*/function.json`. Modules are imported the way the worker
  imports them: the app folder is on sys.path (so `from saga import ...` works) and each function
  folder is a package under the `__app__` namespace (so relative imports work).

Every problem in every function is collected before anything starts, so one run shows them all.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from durable_host.function_spec import (
    AppLoadError,
    FunctionSpec,
    check_bindings,
    check_entry_point,
    check_name,
    check_unique_names,
    collect,
    import_failure,
)
from durable_host.worker_indexing import index_function_app

APP_PACKAGE = "__app__"
DEFAULT_SCRIPT = "__init__.py"
DEFAULT_ENTRY_POINT = "main"
# The app setting that names a v2 app's script, and its default (the worker's constants.py).
SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_APP_SCRIPT = "function_app.py"
# What the worker accepts as that name (utils.common.validate_script_file_name).
_SCRIPT_FILE_NAME = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py")


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
        return None, import_failure(script, error)
    main = getattr(module, entry_point, None)
    if not callable(main):
        return None, f"{script}: entry point {entry_point}() is not defined"
    return main, None


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

    bindings, trigger, problems = check_bindings(raw_bindings, str(path), folder.name)
    problems = check_name(folder.name, str(path)) + problems
    script = (folder / str(document.get("scriptFile") or DEFAULT_SCRIPT)).resolve()
    entry_point = str(document.get("entryPoint") or DEFAULT_ENTRY_POINT)
    if not script.is_relative_to(app_dir):
        problems.append(f"{path}: scriptFile {script} is outside the app folder")
    elif script.suffix != ".py":
        problems.append(f"{path}: scriptFile {script.name} is not a Python file")
    elif not script.is_file():
        problems.append(f"{path}: scriptFile {script} does not exist")
    if trigger is None or problems:
        return None, problems

    main, import_problem = _import_entry_point(app_dir, script, entry_point)
    if main is None:
        return None, [import_problem or f"{script}: cannot load"]
    wants_context, problems = check_entry_point(main, bindings, str(path))
    if problems:
        return None, problems
    spec = FunctionSpec(folder.name, folder, path, tuple(bindings), trigger, main, wants_context)
    return spec, []


def _load_folders(app_dir: Path, folders: list[Path]) -> tuple[list[FunctionSpec], list[str]]:
    _install_app_package(app_dir)
    return collect(_load_function(app_dir, folder) for folder in folders)


def app_script(app_dir: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Where a v2 app's script would be: the file `PYTHON_SCRIPT_FILE_NAME` names, else
    function_app.py, in the app folder."""
    name = environ.get(SCRIPT_FILE_SETTING) or DEFAULT_APP_SCRIPT
    if not _SCRIPT_FILE_NAME.fullmatch(name):
        raise AppLoadError(
            app_dir,
            [
                f"app setting {SCRIPT_FILE_SETTING}={name!r} is not a valid script file name "
                "(a Python file name in the app folder, such as function_app.py)"
            ],
        )
    return app_dir / name


def _mixed_models(script: Path, folders: list[Path]) -> str:
    names = ", ".join(folder.name for folder in folders)
    return (
        f"{script} (the v2 programming model) sits next to function.json folders (the v1 model: "
        f"{names}). The Functions host then indexes only {script.name} and ignores those "
        f"folders, so their functions would not exist: move them into {script.name} (or a "
        f"blueprint it registers), or remove {script.name} to keep the v1 model"
    )


def _no_functions(app_dir: Path, script: Path) -> str:
    setting = "" if script.name == DEFAULT_APP_SCRIPT else f", as {SCRIPT_FILE_SETTING} names it"
    return (
        f"{app_dir}: no functions to run: neither {script.name} (the v2 programming model"
        f"{setting}) nor any */function.json folder (v1). Is this the Function App folder?"
    )


def load_functions(app_dir: Path) -> dict[str, FunctionSpec]:
    """Every enabled function of the app by name; raises AppLoadError listing every problem."""
    app_dir = app_dir.resolve()
    script = app_script(app_dir)
    folders = sorted(path.parent for path in app_dir.glob("*/function.json"))
    if script.is_file():
        if folders:
            raise AppLoadError(app_dir, [_mixed_models(script, folders)])
        specs, problems = index_function_app(app_dir, script)
    elif folders:
        specs, problems = _load_folders(app_dir, folders)
    else:
        raise AppLoadError(app_dir, [_no_functions(app_dir, script)])
    problems += check_unique_names(specs)
    if problems:
        raise AppLoadError(app_dir, problems)
    return {spec.name: spec for spec in specs}
