"""infra/ deployed on paper: main.bicep evaluated with an azd environment's parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.infra.bicep import Deployment

INFRA = PROJECT_ROOT / "infra"
MAIN = INFRA / "main.bicep"
# What `azd provision` passes to main.bicep for an environment (infra/main.parameters.json); the
# other parameters keep the template's defaults unless a test sets them.
AZD_ENVIRONMENT = {
    "environmentName": "saga-prod",
    "location": "westeurope",
    "principalId": "5d8f2a41-93c7-4b0e-a6d2-1f7e9c3b8a60",
}

# Variables azd itself puts in main.parameters.json: from the environment it deploys, and from
# whoever is signed in (azd 1.17.1 and later fill in the principal's type).
AZD_ENVIRONMENT_VARIABLES = {"AZURE_ENV_NAME", "AZURE_LOCATION"}
AZD_SIGNED_IN_VARIABLES = {"AZURE_PRINCIPAL_ID", "AZURE_PRINCIPAL_TYPE"}

Deploy = Callable[..., Deployment]


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@pytest.fixture
def deploy() -> Deploy:
    """main.bicep deployed with the azd environment's parameters and these overrides."""

    def deployed(**parameters: Any) -> Deployment:
        return Deployment(MAIN, {**AZD_ENVIRONMENT, **parameters})

    return deployed


@pytest.fixture
def main(deploy: Deploy) -> Deployment:
    return deploy()


@pytest.fixture
def app(main: Deployment) -> Deployment:
    """The resource group's deployment, where the app and everything it uses live."""
    (app,) = main.modules()
    return app
