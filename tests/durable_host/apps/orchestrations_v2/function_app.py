"""The orchestrations test app in the v2 programming model: the same functions, names and answers
as its v1 twin (../orchestrations), declared with decorators. Activities and the orchestrators
that start sub-orchestrations live on blueprints registered here."""

import json
import os
from datetime import timedelta

import activities
import azure.durable_functions as df
import azure.functions as func
import children

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(activities.bp)
app.register_functions(children.bp)


@app.function_name("Chain")
@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    """Function chaining: each step's output feeds the next."""
    name = context.get_input()
    first = yield context.call_activity("Greet", name)
    second = yield context.call_activity("Greet", first)
    context.set_custom_status({"step": 2})
    third = yield context.call_activity("Greet", second)
    return [first, second, third]


@app.function_name("FanOut")
@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    """Fan-out/fan-in: squares computed in parallel, summed once all are in."""
    count = context.get_input()["count"]
    squares = yield context.task_all([context.call_activity("Square", n) for n in range(count)])
    total = yield context.call_activity("Sum", squares)
    return {"squares": squares, "total": total}


@app.function_name("Crowd")
@app.orchestration_trigger(context_name="context")
def crowd(context: df.DurableOrchestrationContext):
    """Fans out twelve Track calls and returns the highest number any of them answered."""
    seen = yield context.task_all([context.call_activity("Track", n) for n in range(12)])
    return max(seen)


@app.function_name("Pair")
@app.orchestration_trigger(context_name="context")
def pair(context: df.DurableOrchestrationContext):
    """Greets two names in parallel, reporting the first answer as soon as it arrives."""
    calls = [context.call_activity("Greet", name) for name in context.get_input()]
    first = yield context.task_any(calls)
    context.set_custom_status(first.result)
    both = yield context.task_all(calls)
    return both


@app.function_name("SlowChain")
@app.orchestration_trigger(context_name="context")
def slow_chain(context: df.DurableOrchestrationContext):
    """Five slow steps in a row: long enough to be caught mid-flight by a crash."""
    total = context.get_input()
    for step in range(5):
        total = yield context.call_activity("Pause", total + step)
    return total


@app.function_name("RetryFlaky")
@app.orchestration_trigger(context_name="context")
def retry_flaky(context: df.DurableOrchestrationContext):
    """Calls Flaky with retries; reports the attempt that succeeded or the final error."""
    request = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=200, max_number_of_attempts=request["attempts"]
    )
    try:
        attempt = yield context.call_activity_with_retry("Flaky", options, request)
    except Exception as error:
        return {"error": str(error)}
    return {"attempt": attempt}


@app.function_name("ActivityFails")
@app.orchestration_trigger(context_name="context")
def activity_fails(context: df.DurableOrchestrationContext):
    """Calls Flaky without retries and without catching: the failure fails the orchestration."""
    result = yield context.call_activity("Flaky", context.get_input())
    return result


@app.function_name("CallsMissing")
@app.orchestration_trigger(context_name="context")
def calls_missing(context: df.DurableOrchestrationContext):
    """Calls an activity the app does not have."""
    result = yield context.call_activity("NoSuchActivity", "x")
    return result


@app.function_name("Explode")
@app.orchestration_trigger(context_name="context")
def explode(context: df.DurableOrchestrationContext):
    """Runs one activity, then raises: the orchestration must end Failed."""
    yield context.call_activity("Greet", "x")
    raise ValueError("kaboom")


@app.function_name("Broken")
@app.generic_trigger(arg_name="context", type="orchestrationTrigger")
def broken(context: func.OrchestrationContext) -> str:
    """An orchestrator entry point that fails outside the SDK (no state to recover): declared
    with a generic trigger, since the Durable decorator always wraps the SDK around it."""
    raise RuntimeError("the orchestrator module is broken")


@app.function_name("TraceSeen")
@app.generic_trigger(arg_name="episode", type="orchestrationTrigger")
def trace_seen(episode: func.OrchestrationContext, context: func.Context) -> str:
    """An orchestrator entry point that also takes the invocation context (the Durable decorator
    offers none): it returns the trace context of its own invocation next to the one its
    activity saw."""
    trace = context.trace_context
    seen = {
        "trace_parent": trace.trace_parent,
        "trace_state": trace.trace_state,
        "attributes": trace.attributes,
    }

    def orchestrator(durable: df.DurableOrchestrationContext):
        activity = yield durable.call_activity("Traced", None)
        return {"orchestrator": seen, "activity": activity}

    return df.Orchestrator.create(orchestrator)(episode)


@app.function_name("Fickle")
@app.orchestration_trigger(context_name="context")
def fickle(context: df.DurableOrchestrationContext):
    """Picks its first activity from an app setting: changing it mid-flight breaks determinism."""
    first = yield context.call_activity(os.environ.get("FICKLE_ACTIVITY", "Greet"), 3)
    go = yield context.wait_for_external_event("Go")
    return [first, go]


@app.function_name("HugeOutput")
@app.orchestration_trigger(context_name="context")
def huge_output(context: df.DurableOrchestrationContext):
    """Returns an output of the requested size, directly or from the Huge activity."""
    request = context.get_input()
    if request["via_activity"]:
        text = yield context.call_activity("Huge", request["size"])
        return len(text)
    return "y" * request["size"]


@app.function_name("Delay")
@app.orchestration_trigger(context_name="context")
def delay(context: df.DurableOrchestrationContext):
    """Sleeps on a durable timer, then reports how long it waited."""
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=context.get_input()["seconds"]))
    return (context.current_utc_datetime - started).total_seconds()


@app.function_name("Approval")
@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    """Waits for an Approve event or a deadline, whichever comes first; cancels the loser timer
    unless the input says {"cancel": false}."""
    deadline = context.current_utc_datetime + timedelta(seconds=context.get_input()["seconds"])
    timer = context.create_timer(deadline)
    approved = context.wait_for_external_event("Approve")
    winner = yield context.task_any([approved, timer])
    if winner == approved:
        if context.get_input().get("cancel", True):
            timer.cancel()
        return {"approved": approved.result}
    return {"approved": None, "timed_out": True}


@app.function_name("WaitTwo")
@app.orchestration_trigger(context_name="context")
def wait_two(context: df.DurableOrchestrationContext):
    """Waits for event A, then event B (B may be raised first), and returns both payloads."""
    first = yield context.wait_for_external_event("A")
    context.set_custom_status("got A")
    second = yield context.wait_for_external_event("B")
    return [first, second]


@app.function_name("Collector")
@app.orchestration_trigger(context_name="context")
def collector(context: df.DurableOrchestrationContext):
    """Collects three Item events, one per execution (continue_as_new in between)."""
    items = context.get_input()
    item = yield context.wait_for_external_event("Item")
    items = [*items, item]
    if len(items) >= 3:
        return items
    context.continue_as_new(items)


@app.function_name("Counter")
@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    """Counts to a limit, one greeting and one continue_as_new per step."""
    state = context.get_input()
    if state["n"] >= state["limit"]:
        return state
    greeting = yield context.call_activity("Greet", str(state["n"]))
    context.continue_as_new(
        {"n": state["n"] + 1, "limit": state["limit"], "seen": [*state["seen"], greeting]}
    )


@app.function_name("ClientOps")
@app.route(route="client/{op}/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="starter")
async def client_ops(req: func.HttpRequest, starter: df.DurableOrchestrationClient):
    """Drives the SDK's DurableOrchestrationClient, so tests exercise the rpc API it calls (in
    the v2 model the binding hands the client object itself)."""
    op = req.route_params["op"]
    instance_id = req.route_params["instanceId"]
    body = req.get_json() if req.get_body() else {}
    if op == "start":
        started = await starter.start_new(body["function"], instance_id, body.get("input"))
        return starter.create_check_status_response(req, started)
    if op == "status":
        status = await starter.get_status(instance_id, show_history=True, show_input=True)
        return _json(status.to_json() if status else None)
    if op == "raise":
        await starter.raise_event(instance_id, body["event"], body.get("data"))
    elif op == "terminate":
        await starter.terminate(instance_id, body.get("reason", "stop"))
    elif op == "suspend":
        await starter.suspend(instance_id, "pause")
    elif op == "resume":
        await starter.resume(instance_id, "go on")
    elif op == "purge":
        result = await starter.purge_instance_history(instance_id)
        return _json({"deleted": result.instances_deleted})
    elif op == "list":
        statuses = await starter.get_status_all()
        return _json(
            sorted(s.instance_id for s in statuses if s.instance_id.startswith(instance_id))
        )
    return _json({"done": op})


def _json(value: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value, default=str), mimetype="application/json")
