import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("Sleep", context.get_input()))


main = df.Orchestrator.create(orchestrator_function)
