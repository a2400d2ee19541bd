"""Loading v2 apps (function_app.py) as the Python worker indexes them, and refusing the mistakes a
v2 app can make with one message that names the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_host.contracts import FunctionKind
from durable_host.function_spec import AppLoadError
from durable_host.loader import load_functions

from .conftest import APPS, write_app, write_v2_app

IMPORTS = (
    "import azure.durable_functions as df\n"
    "import azure.functions as func\n\n"
    "app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n\n"
)
HELLO = (
    "@app.activity_trigger(input_name='city')\n"
    "def say_hello(city: str) -> str:\n"
    "    return f'Hello {city}'\n"
)


def only_problem(app_dir: Path) -> str:
    with pytest.raises(AppLoadError) as raised:
        load_functions(app_dir)
    assert len(raised.value.problems) == 1, raised.value.problems
    return raised.value.problems[0]


def test_functions_are_named_and_bound_as_the_app_object_lists_them(tmp_path: Path) -> None:
    write_v2_app(
        tmp_path,
        IMPORTS
        + "from greetings import bp\n\napp.register_functions(bp)\n\n\n"
        + "@app.function_name('Start')\n"
        "@app.route(route='start/{name:alpha}/{times:int?}', methods=['POST'])\n"
        "@app.durable_client_input(client_name='client')\n"
        "async def start(req: func.HttpRequest, client) -> func.HttpResponse:\n"
        "    return func.HttpResponse('')\n\n\n"
        "@app.orchestration_trigger(context_name='context', orchestration='Greeting')\n"
        "def greeting_orchestrator(context):\n"
        "    return (yield context.call_activity('say_hello', 'Tokyo'))\n\n\n"
        "@app.route()\n"
        "def ping(req, context):\n"
        "    return 'pong'\n",
        {
            "greetings.py": "import azure.durable_functions as df\n\nbp = df.Blueprint()\n\n\n"
            + HELLO.replace("@app.", "@bp.")
        },
    )
    functions = load_functions(tmp_path)
    assert sorted(functions) == ["Start", "greeting_orchestrator", "ping", "say_hello"]
    start = functions["Start"]
    assert (start.kind, start.is_async) == (FunctionKind.HTTP, True)
    assert start.route.text == "start/{name:alpha}/{times:int?}"
    assert start.methods == frozenset({"POST"})
    assert [b.type for b in start.inputs] == ["durableClient", "httpTrigger"]
    # An HTTP function without a route answers on its name; `context` is the invocation context.
    assert (functions["ping"].route.text, functions["ping"].wants_context) == ("ping", True)
    # The orchestrator runs under the name its trigger gives, as the Durable extension registers it.
    orchestrator = functions["greeting_orchestrator"]
    assert (orchestrator.kind, orchestrator.durable_name) == (FunctionKind.ORCHESTRATOR, "Greeting")
    # A blueprint's function is declared where it is written.
    assert functions["say_hello"].declaration == tmp_path / "greetings.py"
    assert functions["say_hello"].folder == tmp_path


def test_an_import_error_names_the_file_and_line(tmp_path: Path) -> None:
    write_v2_app(tmp_path, IMPORTS + HELLO, {"helpers.py": "x = 1\nraise KeyError('TABLE')\n"})
    (tmp_path / "function_app.py").write_text("import helpers\n" + IMPORTS + HELLO)
    problem = only_problem(tmp_path)
    assert problem.startswith(f"{tmp_path / 'function_app.py'}: cannot import: KeyError: 'TABLE'")
    assert f"(at {tmp_path / 'helpers.py'}:2)" in problem


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    write_v2_app(tmp_path, IMPORTS + HELLO + "\ndef broken(:\n    pass\n")
    problem = only_problem(tmp_path)
    assert problem.startswith(f"{tmp_path / 'function_app.py'}:11: cannot import: SyntaxError")


def test_two_functions_with_one_name_are_refused(tmp_path: Path) -> None:
    write_v2_app(
        tmp_path,
        IMPORTS + HELLO + "\n\n@app.function_name('say_hello')\n" + HELLO.replace("say_", "greet_"),
    )
    problem = only_problem(tmp_path)
    assert str(tmp_path / "function_app.py") in problem
    assert "Function say_hello does not have a unique function name" in problem


def test_function_names_differing_only_in_case_clash(tmp_path: Path) -> None:
    write_v2_app(tmp_path, IMPORTS + HELLO + "\n\n" + HELLO.replace("say_hello", "Say_Hello"))
    assert "case-insensitive and 'say_hello' already exists" in only_problem(tmp_path)


def test_function_app_py_wins_over_function_folders_and_both_are_refused(tmp_path: Path) -> None:
    write_app(tmp_path, {"Legacy": ({"bindings": []}, ""), "Older": ({"bindings": []}, "")})
    (tmp_path / "function_app.py").write_text(IMPORTS + HELLO)
    problem = only_problem(tmp_path)
    assert problem.startswith(f"{tmp_path / 'function_app.py'} (the v2 programming model)")
    assert "(the v1 model: Legacy, Older)" in problem
    assert "indexes only function_app.py and ignores those folders" in problem


def test_the_script_setting_names_another_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_v2_app(tmp_path, "raise RuntimeError('not this one')\n", {"main_app.py": IMPORTS + HELLO})
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "main_app.py")
    assert list(load_functions(tmp_path)) == ["say_hello"]
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "../main_app.py")
    assert "PYTHON_SCRIPT_FILE_NAME='../main_app.py' is not a valid" in only_problem(tmp_path)
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "missing_app.py")
    problem = only_problem(tmp_path)
    assert "neither missing_app.py (the v2 programming model, as PYTHON_SCRIPT_FILE_NAME" in problem


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("x = 1\n", "no function app object (azure.functions.FunctionApp or"),
        (IMPORTS + "other = app\n", "more than one top-level function app object (app, other)"),
        (IMPORTS, "the app object 'app' has no functions"),
    ],
)
def test_the_module_must_hold_one_app_object_with_functions(
    tmp_path: Path, script: str, problem: str
) -> None:
    write_v2_app(tmp_path, script)
    assert f"{tmp_path / 'function_app.py'}: {problem}" in only_problem(tmp_path)


@pytest.mark.parametrize(
    ("function", "problem"),
    [
        (
            "@app.queue_trigger(arg_name='msg', queue_name='q', connection='C')\n"
            "def on_message(msg):\n    pass\n",
            "function 'on_message': binding 'msg' has unknown type 'queueTrigger'",
        ),
        (
            "@app.entity_trigger(context_name='context')\ndef counter(context):\n    pass\n",
            "function 'counter' uses entityTrigger (binding 'context'), which durable_host does "
            "not support yet",
        ),
        (
            "@app.orchestration_trigger(context_name='ctx')\n"
            "def orchestrator(ctx):\n    yield ctx.call_activity('say_hello', 'x')\n",
            "function 'orchestrator': binding(s) ctx have no matching parameter",
        ),
        (
            "@app.route(route='orders/{id')\ndef orders(req):\n    return 'x'\n",
            "function 'orders': route 'orders/{id': unbalanced braces",
        ),
        (
            "@app.route()\ndef _private(req):\n    return 'x'\n",
            "'_private' is not a valid function name",
        ),
    ],
)
def test_a_function_the_host_or_worker_refuses_names_its_line(
    tmp_path: Path, function: str, problem: str
) -> None:
    write_v2_app(tmp_path, IMPORTS + HELLO + "\n\n" + function)
    found = only_problem(tmp_path)
    assert found.startswith(f"{tmp_path / 'function_app.py'}:12: ")
    assert problem in found


def test_apps_with_the_same_module_names_load_one_after_another(tmp_path: Path) -> None:
    for name in ("first", "second"):
        write_v2_app(
            tmp_path / name,
            IMPORTS + "from helpers import NAME\n\n\n"
            "@app.activity_trigger(input_name='value')\n"
            "def hello(value: str) -> str:\n"
            "    return NAME\n",
            {"helpers.py": f"NAME = {name!r}\n"},
        )
    for name in ("first", "second", "first"):
        # Loaded twice in a row too: the app object is indexed once, as in one worker process.
        for _ in range(2):
            assert load_functions(tmp_path / name)["hello"].main("x") == name


def test_the_v2_twins_declare_the_functions_of_their_v1_apps() -> None:
    for name in ("http_app", "orchestrations", "http_slow"):
        v1, v2 = (
            {
                function: (spec.kind, spec.durable_name, spec.methods, spec.route.text.lower())
                for function, spec in load_functions(app).items()
            }
            for app in (APPS / name, APPS / f"{name}_v2")
        )
        assert v1 == v2
