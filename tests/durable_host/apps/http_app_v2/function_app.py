"""The HTTP test app in the v2 programming model: the same functions, routes and answers as its
v1 twin (../http_app), declared with decorators. Most names come from `function_name`; the
Python function's own name is the function name where it is already the one wanted."""

import asyncio
import base64
import json
import os
import sys

import azure.durable_functions as df
import azure.functions as func
from routes.imports import bp as imports

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(imports)


@app.function_name("Echo")
@app.route(
    route="echo/{id:int}/{label?}",
    methods=["GET", "POST", "PUT"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    """Reflects every request field back as JSON, so tests see what the function received."""
    received = {
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "headers": dict(req.headers),
        "body_base64": base64.b64encode(req.get_body()).decode(),
    }
    return func.HttpResponse(json.dumps(received), mimetype="application/json")


@app.function_name("AsyncHello")
@app.route(route="async/{name}", methods=["GET"])
async def async_hello(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(f"Hello {req.route_params['name']}")


# No function_name: the Python name is the function name.
@app.route(route="boom")
def Boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function failed on purpose")


@app.route()
def DefaultRoute(req: func.HttpRequest) -> func.HttpResponse:
    """No route and no methods: the route is the function's name, and every method is taken."""
    return func.HttpResponse(f"default route via {req.method}")


@app.function_name("DictReturn")
@app.route(route="dict", methods=["GET"])
def dict_return(req: func.HttpRequest):
    """Returns a dict through the http binding, which its converter refuses at run time.

    (Unannotated: with `-> dict` the worker would already refuse the function at load time.)
    """
    return {"not": "an HttpResponse"}


@app.function_name("Exits")
@app.route(route="exit")
def exits(req: func.HttpRequest) -> func.HttpResponse:
    sys.exit(3)


@app.function_name("Items")
@app.route(route="items/{*rest}", methods=["GET"])
def items(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"catch-all:{req.route_params.get('rest', '')}")


@app.function_name("ItemsSpecial")
@app.route(route="items/special", methods=["GET"])
def items_special(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal:special")


@app.function_name("NamedOutput")
@app.route(route="named", methods=["POST"], binding_arg_name="res")
def named_output(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    response = func.HttpResponse(
        req.get_body(), status_code=201, headers={"X-Saga": "created"}, mimetype="text/plain"
    )
    response.headers.add("Set-Cookie", "session=abc; Path=/")
    res.set(response)


@app.function_name("NoOutput")
@app.generic_trigger(arg_name="req", type="httpTrigger", route="nooutput/{mode}", methods=["GET"])
def no_output(req: func.HttpRequest):
    """An HTTP trigger without an http output binding: nothing to send back but a status."""
    # A value with no $return binding to carry it is an error the worker reports.
    return "OK" if req.route_params["mode"] == "value" else None


@app.function_name("PlainText")
@app.route(route="text", methods=["GET"])
def plain_text(req: func.HttpRequest) -> str:
    return "just a string"


@app.function_name("Setting")
@app.route(route="settings/{name}", methods=["GET"])
def setting(req: func.HttpRequest) -> func.HttpResponse:
    """Shows an app setting, so tests see local.settings.json Values arrive in the environment."""
    value = os.environ.get(req.route_params["name"])
    if value is None:
        return func.HttpResponse(status_code=404)
    return func.HttpResponse(value)


@app.function_name("WithContext")
@app.route(route="context", methods=["GET"])
def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    seen = {
        "function_name": context.function_name,
        "folder": os.path.basename(context.function_directory),
        "invocation_id": context.invocation_id,
        "thread_invocation_id": context.thread_local_storage.invocation_id,
        "trace_parent": context.trace_context.trace_parent,
        "trace_state": context.trace_context.trace_state,
        "attributes": context.trace_context.attributes,
        "Traceparent": context.trace_context.Traceparent,
    }
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")


@app.function_name("Starter")
@app.route(
    route="orchestrators/{functionName}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
)
@app.durable_client_input(client_name="client")
async def starter(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """The v2 durable client binding hands the DurableOrchestrationClient itself."""
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], None, req.get_json() if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.function_name("ClientLinks")
@app.route(route="links/{instanceId}", methods=["GET"])
@app.generic_input_binding(arg_name="client", type="orchestrationClient")
def client_links(req: func.HttpRequest, client: str) -> func.HttpResponse:
    """Shows what the Durable client makes of its binding, declared as a generic binding under
    the binding's older name, which hands the JSON text as function.json apps get it."""
    durable = df.DurableOrchestrationClient(client)
    links = durable.create_http_management_payload(req.route_params["instanceId"])
    payload = {"links": links, "binding": json.loads(client)}
    return func.HttpResponse(json.dumps(payload), mimetype="application/json")


@app.function_name("HelloSequence")
@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for city in cities:
        results.append((yield context.call_activity("Hello", city)))
    return results


@app.function_name("Explodes")
@app.orchestration_trigger(context_name="context")
def explodes(context: df.DurableOrchestrationContext):
    yield context.call_activity("Hello", "first")
    raise ValueError("the orchestrator gave up")


@app.function_name("ExitsOrchestrating")
@app.orchestration_trigger(context_name="context")
def exits_orchestrating(context: df.DurableOrchestrationContext):
    sys.exit(3)
    yield


@app.function_name("Hello")
@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}!"


@app.function_name("Identity")
@app.activity_trigger(input_name="value")
def identity(value: object) -> object:
    """Returns its input unchanged, so tests can see the activity encoding both ways."""
    return value


@app.function_name("Fails")
@app.activity_trigger(input_name="payload")
def fails(payload: object) -> None:
    raise ValueError(f"cannot handle {payload!r}")
