"""The slow HTTP test app in the v2 programming model: the same functions as ../http_slow."""

import pathlib
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name("Starter")
@app.route(route="orchestrators/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def starter(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], None, req.get_json() if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.function_name("LongRunning")
@app.orchestration_trigger(context_name="context")
def long_running(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("Sleep", context.get_input()))


@app.function_name("Sleep")
@app.activity_trigger(input_name="marker")
def sleep(marker: str) -> str:
    """Says it started (by creating the marker file it is given), then runs for two minutes."""
    pathlib.Path(marker).touch()
    time.sleep(120)
    return "woke up"
