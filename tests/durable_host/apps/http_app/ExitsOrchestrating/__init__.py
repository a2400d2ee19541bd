import sys

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    sys.exit(3)
    yield


main = df.Orchestrator.create(orchestrator_function)
