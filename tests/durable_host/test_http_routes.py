"""The app's HTTP routes over real HTTP against LocalHost: routing, methods, errors, starters."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_host.host import LocalHost
from durable_host.routing import RouteTemplate, RouteTemplateError
from tests.http_client import Reply, call, wait_for

from .conftest import serve, twins, write_app


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("orders/{id}", "orders/42", {"id": "42"}),
        ("orders/{id}", "ORDERS/42/", {"id": "42"}),
        ("orders/{id}", "orders", None),
        ("orders/{id?}", "orders", {}),
        ("orders/{page=1}", "orders", {"page": "1"}),
        ("orders/{id:int}", "orders/x", None),
        ("orders/{n:int:min(3)}", "orders/2", None),
        ("orders/{n:int:min(3)}", "orders/3", {"n": "3"}),
        ("flags/{on:bool}", "flags/True", {"on": "True"}),
        (
            "ids/{g:guid}",
            "ids/6f1c1d3e-8a0b-4c9e-9a57-5d2b9c6f0e11",
            {"g": "6f1c1d3e-8a0b-4c9e-9a57-5d2b9c6f0e11"},
        ),
        ("codes/{c:regex(^[A-Z]+$)}", "codes/ABC", {"c": "ABC"}),
        ("codes/{c:alpha:length(2,3)}", "codes/ABCD", None),
        ("files/{name}.{ext}", "files/report.final.pdf", {"name": "report.final", "ext": "pdf"}),
        ("files/{**path}", "files/a/b.txt", {"path": "a/b.txt"}),
        ("", "", {}),
    ],
)
def test_route_templates(template: str, path: str, values: dict[str, str] | None) -> None:
    assert RouteTemplate.parse(template).match(path) == values


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("files/{*rest}/more", "catch-all parameter must be last"),
        ("orders/{id:integer}", "unknown constraint 'integer'"),
        ("orders/{id}/{ID}", "repeats"),
        ("orders/{id", "unbalanced braces"),
        ("orders/{a?}.{b}", "must be a whole segment"),
    ],
)
def test_bad_route_templates(template: str, problem: str) -> None:
    with pytest.raises(RouteTemplateError, match=problem):
        RouteTemplate.parse(template)


@pytest.fixture(scope="module", params=twins("http_app"))
def host(storage_connection_string: str, request: pytest.FixtureRequest) -> Iterator[LocalHost]:
    with serve(request.param, storage_connection_string, "HttpRoutes") as running:
        yield running


def get(host: LocalHost, path: str, method: str = "GET", **options: object) -> Reply:
    return call(method, host.base_url + path, **options)  # type: ignore[arg-type]


def test_route_parameters_and_constraints(host: LocalHost) -> None:
    assert get(host, "/api/echo/7").json()["route_params"] == {"id": "7"}
    assert get(host, "/api/echo/7/blue").json()["route_params"] == {"id": "7", "label": "blue"}
    assert get(host, "/api/echo/seven").status == 404


def test_route_values_are_decoded_except_for_slashes(host: LocalHost) -> None:
    values = get(host, "/api/echo/7/caf%C3%A9%20au%2Flait").json()["route_params"]
    assert values == {"id": "7", "label": "caf\u00e9 au%2Flait"}


def test_query_and_headers_reach_the_function(host: LocalHost) -> None:
    received = get(host, "/api/echo/1?size=L&q=x%20y", headers={"X-Order": "o-9"}).json()
    assert received["params"] == {"size": "L", "q": "x y"}
    assert received["headers"]["x-order"] == "o-9"
    assert received["url"] == f"{host.base_url}/api/echo/1?size=L&q=x%20y"


def test_literal_routes_win_over_catch_all(host: LocalHost) -> None:
    assert get(host, "/api/items/special").body == b"literal:special"
    assert get(host, "/api/ITEMS/Special").body == b"literal:special"
    assert get(host, "/api/items/a/b/c").body == b"catch-all:a/b/c"
    assert get(host, "/api/items").body == b"catch-all:"


def test_the_host_status_probe_says_running(host: LocalHost) -> None:
    reply = get(host, "/admin/host/status")
    assert reply.status == 200
    assert reply.json()["state"] == "Running"


def test_unknown_routes_are_404(host: LocalHost) -> None:
    assert get(host, "/api/nothing-here").status == 404
    assert get(host, "/text").status == 404
    assert get(host, "/").status == 404


def test_a_route_without_the_method_is_405(host: LocalHost) -> None:
    reply = get(host, "/api/echo/7", method="DELETE")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, POST, PUT"


def test_a_function_without_methods_accepts_every_method(host: LocalHost) -> None:
    for method in ("GET", "POST", "PATCH", "DELETE"):
        assert (
            get(host, "/api/DefaultRoute", method=method).body
            == f"default route via {method}".encode()
        )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"order": 1}'),
        ("text/plain; charset=utf-8", "caf\u00e9".encode()),
        ("application/octet-stream", bytes(range(256))),
        ("application/x-www-form-urlencoded", b"a=1&b=2"),
    ],
)
def test_bodies_of_any_content_type_arrive_as_bytes(
    host: LocalHost, content_type: str, body: bytes
) -> None:
    reply = get(
        host, "/api/echo/3", method="POST", body=body, headers={"Content-Type": content_type}
    )
    assert base64.b64decode(reply.json()["body_base64"]) == body


def test_an_exception_is_a_500_and_the_host_keeps_serving(host: LocalHost) -> None:
    reply = get(host, "/api/boom")
    assert reply.status == 500
    assert reply.body == b"Exception while executing function: Functions.Boom"
    assert get(host, "/api/text").body == b"just a string"


def test_a_function_calling_sys_exit_is_a_500_and_the_host_keeps_serving(host: LocalHost) -> None:
    assert get(host, "/api/exit").status == 500
    assert get(host, "/api/text").status == 200


def test_a_function_without_http_output_answers_204(host: LocalHost) -> None:
    reply = get(host, "/api/nooutput/none")
    assert (reply.status, reply.body) == (204, b"")


def test_a_value_returned_without_a_return_binding_is_a_500(host: LocalHost) -> None:
    assert get(host, "/api/nooutput/value").status == 500


def test_an_unencodable_return_is_a_500(host: LocalHost) -> None:
    assert get(host, "/api/dict").status == 500


def test_named_output_sets_status_headers_and_cookies(host: LocalHost) -> None:
    reply = get(host, "/api/named", method="POST", body=b"made")
    assert (reply.status, reply.body) == (201, b"made")
    assert reply.headers["X-Saga"] == "created"
    assert reply.headers["Set-Cookie"] == "session=abc; Path=/"


def test_local_settings_values_are_in_the_environment(host: LocalHost) -> None:
    assert get(host, "/api/settings/HTTP_APP_GREETING").body == b"Hello"


def test_local_settings_values_leave_the_environment_with_the_host(
    storage_connection_string: str, unique_name: str, tmp_path: Path
) -> None:
    setting = f"SETTING_{unique_name}"
    script = (
        "import os\n\nimport azure.functions as func\n\n\n"
        "def main(req: func.HttpRequest) -> func.HttpResponse:\n"
        f"    return func.HttpResponse(os.environ['{setting}'])\n"
    )
    bindings = [
        {"type": "httpTrigger", "direction": "in", "name": "req", "route": "setting"},
        {"type": "http", "direction": "out", "name": "$return"},
    ]
    write_app(tmp_path, {"ShowSetting": ({"bindings": bindings}, script)})
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {setting: "on"}}))
    with serve(tmp_path, storage_connection_string, unique_name) as running:
        assert get(running, "/api/setting").body == b"on"
    assert setting not in os.environ


@pytest.mark.parametrize("app_dir", twins("http_app"))
def test_an_existing_environment_variable_wins_over_local_settings(
    storage_connection_string: str,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    app_dir: Path,
) -> None:
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "from-environment")
    with serve(app_dir, storage_connection_string, unique_name) as running:
        assert get(running, "/api/settings/FUNCTIONS_WORKER_RUNTIME").body == b"from-environment"
        assert "FUNCTIONS_WORKER_RUNTIME" in running.skipped_settings


def test_a_durable_client_starter_starts_an_orchestration(host: LocalHost) -> None:
    reply = get(
        host,
        "/api/orchestrators/HelloSequence",
        method="POST",
        body=json.dumps(["Tokyo", "Seattle", "London"]).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 202
    links = reply.json()
    assert reply.headers["Location"] == links["statusQueryGetUri"]
    assert links["statusQueryGetUri"].startswith(f"{host.base_url}/runtime/webhooks/durabletask/")
    last: list[dict[str, object]] = []

    def finished() -> dict[str, object] | None:
        last[:] = [get_status(links["statusQueryGetUri"])]
        return None if last[0]["runtimeStatus"] in ("Pending", "Running") else last[0]

    status = wait_for(
        "HelloSequence to finish",
        finished,
        60,
        describe=lambda: f"{last[0]['runtimeStatus']}: {last[0]}",
    )
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def get_status(url: str) -> dict[str, object]:
    status: dict[str, object] = call("GET", url).json()
    return status


def test_the_durable_client_binding_points_at_this_host(host: LocalHost) -> None:
    received = get(host, "/api/links/order-42").json()
    assert received["binding"]["taskHubName"] == "HttpRoutes"
    assert received["binding"]["rpcBaseUrl"] == f"{host.base_url}/durabletask/"
    status_url = received["links"]["statusQueryGetUri"]
    assert status_url.startswith(
        f"{host.base_url}/runtime/webhooks/durabletask/instances/order-42?"
    )
    assert "taskHub=HttpRoutes" in status_url
    assert call("GET", status_url).status == 404


def test_local_settings_can_override_the_route_prefix(
    storage_connection_string: str, unique_name: str, tmp_path: Path
) -> None:
    bindings = [
        {"type": "httpTrigger", "direction": "in", "name": "req", "route": "ping"},
        {"type": "http", "direction": "out", "name": "$return"},
    ]
    script = (
        "import azure.functions as func\n\n\n"
        "def main(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('pong')\n"
    )
    write_app(tmp_path, {"Ping": ({"bindings": bindings}, script)})
    override = {"AzureFunctionsJobHost__extensions__http__routePrefix": "v1"}
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": override}))
    with serve(tmp_path, storage_connection_string, unique_name) as running:
        assert get(running, "/v1/ping").body == b"pong"
        assert get(running, "/api/ping").status == 404


def test_a_client_binding_to_another_hub_is_warned_about(
    storage_connection_string: str,
    unique_name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bindings = [
        {"type": "httpTrigger", "direction": "in", "name": "req"},
        {"type": "http", "direction": "out", "name": "$return"},
        {"type": "durableClient", "direction": "in", "name": "client", "taskHub": "OtherHub"},
    ]
    script = "def main(req, client):\n    return None\n"
    write_app(tmp_path, {"OtherClient": ({"bindings": bindings}, script)})
    with serve(tmp_path, storage_connection_string, unique_name):
        pass
    assert f"to task hub 'OtherHub'; durable_host serves only task hub '{unique_name}'" in (
        caplog.text
    )
