"""The OrderSaga orchestrator: the saga itself lives in saga.workflow."""

import azure.durable_functions as df

from saga.workflow import orchestrator_function

main = df.Orchestrator.create(orchestrator_function)
