"""The loader refuses malformed apps with messages that name the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_host.config import (
    ConfigError,
    HostSettings,
    apply_values,
    read_host_settings,
    read_local_settings,
    resolve_hub_name,
)
from durable_host.contracts import FunctionKind
from durable_host.loader import AppLoadError, load_functions

from .conftest import APPS, write_app

HTTP_MAIN = (
    "import azure.functions as func\n\n\n"
    "def main(req: func.HttpRequest) -> func.HttpResponse:\n"
    "    return func.HttpResponse('ok')\n"
)
ACTIVITY_MAIN = "def main(name):\n    return name\n"
HTTP_BINDINGS = [
    {"type": "httpTrigger", "direction": "in", "name": "req"},
    {"type": "http", "direction": "out", "name": "$return"},
]


def problems_of(app_dir: Path) -> list[str]:
    with pytest.raises(AppLoadError) as raised:
        load_functions(app_dir)
    assert str(app_dir.resolve()) in str(raised.value)
    return raised.value.problems


def only_problem(app_dir: Path) -> str:
    problems = problems_of(app_dir)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_http_test_app_loads_with_the_right_kinds() -> None:
    functions = load_functions(APPS / "http_app")
    kinds = {name: spec.kind for name, spec in functions.items()}
    assert kinds["Echo"] is FunctionKind.HTTP
    assert kinds["Hello"] is FunctionKind.ACTIVITY
    assert kinds["HelloSequence"] is FunctionKind.ORCHESTRATOR
    assert functions["Starter"].inputs[1].type == "durableClient"
    assert functions["Echo"].methods == frozenset({"GET", "POST", "PUT"})
    assert functions["DefaultRoute"].methods is None
    assert functions["WithContext"].wants_context


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    write_app(tmp_path, {"Broken": ('{"bindings": [', HTTP_MAIN)})
    problem = only_problem(tmp_path)
    assert str(tmp_path / "Broken" / "function.json") in problem
    assert "not valid JSON" in problem


def test_missing_bindings(tmp_path: Path) -> None:
    write_app(tmp_path, {"NoBindings": ({"scriptFile": "__init__.py"}, HTTP_MAIN)})
    problem = only_problem(tmp_path)
    assert "NoBindings" in problem and "missing 'bindings'" in problem


@pytest.mark.parametrize("key", ["type", "name", "direction"])
def test_binding_without_a_required_key(tmp_path: Path, key: str) -> None:
    binding = {"type": "httpTrigger", "direction": "in", "name": "req"}
    del binding[key]
    write_app(tmp_path, {"Partial": ({"bindings": [binding]}, HTTP_MAIN)})
    problem = only_problem(tmp_path)
    assert "Partial" in problem and f"bindings[0] has no '{key}'" in problem


def test_unknown_binding_type(tmp_path: Path) -> None:
    bindings = [{"type": "queueTrigger", "direction": "in", "name": "msg"}]
    write_app(tmp_path, {"Queue": ({"bindings": bindings}, "def main(msg):\n    pass\n")})
    problem = only_problem(tmp_path)
    assert "Queue" in problem and "unknown type 'queueTrigger'" in problem


def test_entity_trigger_is_not_supported_yet(tmp_path: Path) -> None:
    bindings = [{"type": "entityTrigger", "direction": "in", "name": "context"}]
    write_app(tmp_path, {"Counter": ({"bindings": bindings}, "def main(context):\n    pass\n")})
    problem = only_problem(tmp_path)
    assert "function 'Counter'" in problem and "not support" in problem


def test_a_function_needs_a_trigger(tmp_path: Path) -> None:
    bindings = [{"type": "http", "direction": "out", "name": "$return"}]
    write_app(tmp_path, {"NoTrigger": ({"bindings": bindings}, "def main():\n    pass\n")})
    problem = only_problem(tmp_path)
    assert "NoTrigger" in problem and "no trigger binding" in problem


def test_more_than_one_trigger(tmp_path: Path) -> None:
    bindings = [
        {"type": "httpTrigger", "direction": "in", "name": "req"},
        {"type": "activityTrigger", "direction": "in", "name": "name"},
    ]
    write_app(tmp_path, {"Twice": ({"bindings": bindings}, "def main(req, name):\n    pass\n")})
    problem = only_problem(tmp_path)
    assert "Twice" in problem and "more than one trigger binding" in problem
    assert "req (httpTrigger)" in problem and "name (activityTrigger)" in problem


def test_an_in_binding_needs_a_parameter(tmp_path: Path) -> None:
    bindings = [*HTTP_BINDINGS, {"type": "durableClient", "direction": "in", "name": "starter"}]
    write_app(tmp_path, {"Starter": ({"bindings": bindings}, HTTP_MAIN)})
    problem = only_problem(tmp_path)
    assert "Starter" in problem and "starter have no matching parameter" in problem


def test_a_parameter_needs_a_binding(tmp_path: Path) -> None:
    script = "def main(req, extra):\n    pass\n"
    write_app(tmp_path, {"Extra": ({"bindings": HTTP_BINDINGS}, script)})
    assert "extra of the entry point have no binding" in only_problem(tmp_path)


def test_entry_point_and_script_file_are_honoured(tmp_path: Path) -> None:
    declaration = {"scriptFile": "run.py", "entryPoint": "handle", "bindings": HTTP_BINDINGS}
    write_app(tmp_path, {"Custom": (declaration, "")})
    (tmp_path / "Custom" / "run.py").write_text(HTTP_MAIN.replace("def main", "def handle"))
    functions = load_functions(tmp_path)
    assert functions["Custom"].main.__name__ == "handle"


def test_a_missing_entry_point(tmp_path: Path) -> None:
    declaration = {"entryPoint": "run", "bindings": HTTP_BINDINGS}
    write_app(tmp_path, {"NoRun": (declaration, HTTP_MAIN)})
    problem = only_problem(tmp_path)
    assert str(tmp_path / "NoRun" / "__init__.py") in problem
    assert "entry point run() is not defined" in problem


def test_a_missing_script_file(tmp_path: Path) -> None:
    declaration = {"scriptFile": "gone.py", "bindings": HTTP_BINDINGS}
    write_app(tmp_path, {"Gone": (declaration, HTTP_MAIN)})
    assert "gone.py does not exist" in only_problem(tmp_path)


def test_a_module_that_fails_to_import(tmp_path: Path) -> None:
    script = "import module_that_is_not_installed\n" + HTTP_MAIN
    write_app(tmp_path, {"BadImport": ({"bindings": HTTP_BINDINGS}, script)})
    problem = only_problem(tmp_path)
    assert str(tmp_path / "BadImport" / "__init__.py") in problem
    assert "ModuleNotFoundError" in problem and "module_that_is_not_installed" in problem


def test_a_module_with_a_syntax_error(tmp_path: Path) -> None:
    write_app(
        tmp_path, {"BadSyntax": ({"bindings": HTTP_BINDINGS}, "def main(req):\n  return (\n")}
    )
    problem = only_problem(tmp_path)
    assert "BadSyntax" in problem and "SyntaxError" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        {
            "Broken": ("not json", HTTP_MAIN),
            "Fine": ({"bindings": HTTP_BINDINGS}, HTTP_MAIN),
            "NoTrigger": ({"bindings": []}, HTTP_MAIN),
        },
    )
    problems = problems_of(tmp_path)
    assert len(problems) == 2
    assert any("Broken" in p for p in problems) and any("NoTrigger" in p for p in problems)


def test_unbound_context_parameter_and_return_binding_are_allowed(tmp_path: Path) -> None:
    script = "def main(req, context):\n    return None\n"
    write_app(tmp_path, {"WithContext": ({"bindings": HTTP_BINDINGS}, script)})
    assert load_functions(tmp_path)["WithContext"].wants_context


def test_disabled_functions_are_not_loaded(tmp_path: Path) -> None:
    declaration = {"disabled": True, "bindings": [{"type": "queueTrigger"}]}
    write_app(tmp_path, {"Off": (declaration, HTTP_MAIN)})
    assert load_functions(tmp_path) == {}


def test_a_bad_route_template(tmp_path: Path) -> None:
    bindings = [{**HTTP_BINDINGS[0], "route": "orders/{id"}, HTTP_BINDINGS[1]]
    write_app(tmp_path, {"BadRoute": ({"bindings": bindings}, HTTP_MAIN)})
    assert "unbalanced braces" in only_problem(tmp_path)


def test_host_json_problems_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": []}))
    with pytest.raises(ConfigError, match=r"host\.json: extensions must be an object"):
        read_host_settings(tmp_path)
    (tmp_path / "host.json").write_text("{")
    with pytest.raises(ConfigError, match=r"host\.json: not valid JSON"):
        read_host_settings(tmp_path)


def test_a_host_json_with_two_objects_back_to_back_is_refused(tmp_path: Path) -> None:
    # As in the Durable SDK's samples-v2/function_chaining; the Functions host refuses it too.
    first = json.dumps({"version": "2.0"}, indent=2)
    (tmp_path / "host.json").write_text(first + json.dumps({"version": "2.0"}, indent=2))
    with pytest.raises(ConfigError) as refused:
        read_host_settings(tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'host.json'}: not valid JSON: a second JSON value")
    assert "line 3 column 2" in message and "exactly one object" in message


def test_host_json_settings_are_read() -> None:
    settings = read_host_settings(APPS / "http_app")
    assert settings.route_prefix == "api"
    assert settings.hub_name == "HttpAppHub"
    assert settings.max_concurrent_activities == 4


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("def main(req: int):\n    pass\n", "'req' is annotated int, which the httpTrigger"),
        (
            "def main(req) -> dict:\n    pass\n",
            "'return' is annotated dict, which the http binding",
        ),
        (
            "import azure.functions as func\n\n\ndef main(req: func.Out[str]):\n    pass\n",
            "'req' is annotated azure.functions.Out but is not an out binding",
        ),
    ],
)
def test_annotations_the_converters_refuse(tmp_path: Path, script: str, problem: str) -> None:
    write_app(tmp_path, {"Annotated": ({"bindings": HTTP_BINDINGS}, script)})
    assert problem in only_problem(tmp_path)


def test_a_named_output_must_be_annotated_out(tmp_path: Path) -> None:
    bindings = [HTTP_BINDINGS[0], {"type": "http", "direction": "out", "name": "res"}]
    script = (
        "import azure.functions as func\n\n\ndef main(req, res: func.HttpResponse):\n    pass\n"
    )
    write_app(tmp_path, {"NamedOut": ({"bindings": bindings}, script)})
    assert "out binding 'res' must be annotated azure.functions.Out" in only_problem(tmp_path)


def test_function_names_differing_only_in_case_clash(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        {
            "Hello": ({"bindings": HTTP_BINDINGS}, HTTP_MAIN),
            "hello": ({"bindings": HTTP_BINDINGS}, HTTP_MAIN),
        },
    )
    assert "case-insensitive and 'Hello' already exists" in only_problem(tmp_path)


def test_an_invalid_function_name_is_refused(tmp_path: Path) -> None:
    write_app(tmp_path, {"host": ({"bindings": HTTP_BINDINGS}, HTTP_MAIN)})
    assert "'host' is not a valid function name" in only_problem(tmp_path)


def test_a_folder_with_neither_programming_model_is_refused(tmp_path: Path) -> None:
    write_app(tmp_path, {})
    problem = only_problem(tmp_path)
    assert "no functions to run: neither function_app.py" in problem
    assert "nor any */function.json folder" in problem


def test_local_settings_values_and_port_are_read(tmp_path: Path) -> None:
    settings = {"Values": {"A": "1", "N": 5, "EMPTY": None}, "Host": {"LocalHttpPort": 7072}}
    (tmp_path / "local.settings.json").write_text(json.dumps(settings))
    local = read_local_settings(tmp_path)
    assert local.values == {"A": "1", "N": "5", "EMPTY": ""}
    assert local.local_http_port == 7072
    assert read_local_settings(tmp_path / "missing").values == {}


def test_encrypted_local_settings_are_refused(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({"IsEncrypted": True, "Values": {}}))
    with pytest.raises(ConfigError, match="IsEncrypted is true"):
        read_local_settings(tmp_path)


def test_values_fill_only_unset_or_empty_environment_variables() -> None:
    environ = {"SET": "from-environment", "EMPTY": ""}
    skipped = apply_values({"SET": "file", "EMPTY": "file", "NEW": "file"}, environ)
    assert skipped == ["SET"]
    assert environ == {"SET": "from-environment", "EMPTY": "file", "NEW": "file"}


@pytest.mark.parametrize(
    ("explicit", "configured", "environ", "expected"),
    [
        ("ArgHub", "FileHub", {}, "ArgHub"),
        (None, "FileHub", {}, "FileHub"),
        (None, None, {}, "TestHubName"),
        (None, "%HUB_SETTING%", {"HUB_SETTING": "FromSetting"}, "FromSetting"),
    ],
)
def test_hub_name_resolution(
    explicit: str | None, configured: str | None, environ: dict[str, str], expected: str
) -> None:
    assert resolve_hub_name(explicit, HostSettings(hub_name=configured), environ) == expected


@pytest.mark.parametrize("bad", ["ab", "1Hub", "has-dash", "%UNSET_SETTING%"])
def test_invalid_hub_names_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        resolve_hub_name(bad, HostSettings(), {})


def test_environment_overrides_host_json_as_the_functions_host_does() -> None:
    environ = {
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "OverriddenHub",
        "azurefunctionsjobhost__Extensions__HTTP__routePrefix": "v1",
        "AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions": "7",
        "UNRELATED__extensions__http__routePrefix": "ignored",
    }
    settings = read_host_settings(APPS / "http_app", environ)
    assert settings.hub_name == "OverriddenHub"
    assert settings.route_prefix == "v1"
    assert settings.max_concurrent_activities == 7
    assert settings.max_concurrent_orchestrators == 4


def test_a_module_that_exits_while_importing(tmp_path: Path) -> None:
    script = "import sys\n\nsys.exit('no configuration')\n"
    write_app(tmp_path, {"Exits": ({"bindings": HTTP_BINDINGS}, script)})
    assert "cannot import: SystemExit: no configuration" in only_problem(tmp_path)
