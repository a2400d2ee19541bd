"""The GitHub workflows: CI runs what .ci/run runs plus a real Bicep build; deployment is azd's
provision-then-deploy, signed in with a federated credential, and skipped where the repository
has no Azure set up. (actionlint checks their syntax and expressions in `make lint`.)"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.conftest import PROJECT_ROOT
from tests.infra.conftest import AZD_SIGNED_IN_VARIABLES, INFRA

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
AZURE_VARIABLES = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_ENV_NAME",
    "AZURE_LOCATION",
)


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads the key `on` as true
    return loaded


def runs(job: dict[str, Any]) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def test_ci_runs_the_projects_own_ci_and_a_bicep_build_on_every_push_and_pull_request() -> None:
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])

    test = ci["jobs"]["test"]
    assert test["container"] == "python:3.11-bookworm"  # Debian, for `make browser`
    (node,) = [s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-node@")]
    assert node["with"]["node-version"] == "20"
    assert "bash .ci/run" in runs(test)
    assert any(
        re.search(r"bicep build .*infra/main\.bicep", run) for run in runs(ci["jobs"]["bicep"])
    )


def test_a_push_to_main_that_passes_ci_deploys() -> None:
    deploy = workflow("ci.yml")["jobs"]["deploy"]

    assert set(deploy["needs"]) == {"test", "bicep"}
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert deploy["uses"] == "./.github/workflows/deploy.yml"
    assert deploy["permissions"]["id-token"] == "write"
    assert {"workflow_dispatch", "workflow_call"} <= set(workflow("deploy.yml")["on"])


def test_deployment_signs_in_with_a_federated_credential_then_provisions_then_deploys() -> None:
    deploy = workflow("deploy.yml")
    job = deploy["jobs"]["deploy"]
    steps = runs(job)

    assert deploy["permissions"]["id-token"] == "write"
    (login,) = [i for i, run in enumerate(steps) if run.startswith("azd auth login")]
    assert "--federated-credential-provider github" in steps[login]
    assert "--client-secret" not in " ".join(steps)
    provision = steps.index("azd provision --no-prompt")
    assert login < provision < steps.index("azd deploy --no-prompt")


def test_deployment_is_skipped_where_the_repository_has_no_azure_variables() -> None:
    job = workflow("deploy.yml")["jobs"]["deploy"]

    conditions = set(job["if"].split(" && "))
    assert conditions == {f"vars.{name} != ''" for name in AZURE_VARIABLES}


def test_deployment_passes_every_choice_main_parameters_json_reads() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    read = {re.findall(r"\$\{(\w+)", p["value"])[0] for p in parameters.values()}
    env = workflow("deploy.yml")["jobs"]["deploy"]["env"]

    for name in sorted(read - AZD_SIGNED_IN_VARIABLES):
        assert env.get(name) == f"${{{{ vars.{name} }}}}", f"{name} is not passed to azd"
