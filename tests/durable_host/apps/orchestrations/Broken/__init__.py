"""An orchestrator entry point that fails outside the SDK (no state to recover)."""

import azure.functions as func


def main(context: func.OrchestrationContext) -> str:
    raise RuntimeError("the orchestrator module is broken")
