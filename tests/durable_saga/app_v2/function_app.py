"""A declared saga in a v2 app (one function_app.py, decorators): ship a parcel. Pack it and book
the courier in parallel, then print the label (nothing to undo), then charge the sender. Its
services answer as the parcel asks (`refuse` and `fail` name activities), so a run over HTTP can
take every path; the kit's tests replace them by name."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_saga import Saga, SagaMonitor, SagaPolicy, Stage, Step, orchestrator, saga_activity
from durable_saga.monitor import command_compensation, get_saga, list_sagas, monitor_page

PARCEL_SAGA = Saga(
    "ParcelSaga",
    Stage("prepare", Step("pack", "Pack", "Unpack"), Step("courier", "BookCourier", "Release")),
    Stage("label", Step("label", "PrintLabel")),
    Stage("charge", Step("charge", "Charge", "Refund")),
    policy=SagaPolicy(compensationRetryAttempts=2),
)
PARCEL_MONITOR = SagaMonitor(PARCEL_SAGA, collection="parcels", id_field="parcelId", noun="parcel")

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.function_name("ParcelSaga")
@app.orchestration_trigger(context_name="context")
def parcel_saga(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield from orchestrator(PARCEL_SAGA)(context))


def _answer(activity: str, parcel: Any) -> dict[str, Any]:
    asked = parcel if isinstance(parcel, dict) else {}
    if activity in asked.get("fail", ()):
        raise RuntimeError(f"{activity} is down")
    if activity in asked.get("refuse", ()):
        return {"ok": False, "reason": f"{activity} refused the parcel"}
    return {"ok": True, "reason": None}


def _activity(name: str) -> None:
    @saga_activity
    def run(parcel: Any) -> dict[str, Any]:
        return _answer(name, parcel)

    app.function_name(name)(app.activity_trigger(input_name="parcel")(run))


for _name in ("Pack", "Unpack", "BookCourier", "Release", "PrintLabel", "Charge", "Refund"):
    _activity(_name)


# The monitor's endpoints take the durableClient binding's JSON text, as a v1 function gets it:
# a generic input binding of type durableClient hands it over unwrapped.
@app.route(route="parcels", methods=["GET"])
@app.generic_input_binding(arg_name="client", type="durableClient")
async def parcels(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await list_sagas(PARCEL_MONITOR, req, client)


@app.route(route="parcels/{parcelId}", methods=["GET"])
@app.generic_input_binding(arg_name="client", type="durableClient")
async def parcel(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await get_saga(PARCEL_MONITOR, req, df.DurableOrchestrationClient(client))


@app.route(route="parcels/{parcelId}/compensation", methods=["POST"])
@app.generic_input_binding(arg_name="client", type="durableClient")
async def parcel_compensation(
    req: func.HttpRequest, client: str, context: func.Context
) -> func.HttpResponse:
    client_object = df.DurableOrchestrationClient(client)
    return await command_compensation(PARCEL_MONITOR, req, client_object, context)


@app.route(route="monitor", methods=["GET"])
def monitor(req: func.HttpRequest) -> func.HttpResponse:
    return monitor_page(PARCEL_MONITOR, req)
