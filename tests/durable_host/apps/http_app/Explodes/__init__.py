import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    yield context.call_activity("Hello", "first")
    raise ValueError("the orchestrator gave up")


main = df.Orchestrator.create(orchestrator_function)
