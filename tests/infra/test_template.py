"""The template held against the code: on Azure the app starts with what the template gives it,
its identity holds every role its code paths need, names fit Azure's rules, and nothing secret is
created or output."""

from __future__ import annotations

import json
import re
from collections.abc import ItemsView, Iterator, Mapping
from typing import Any

import pytest
import yaml

from saga.faults import FaultPlan
from saga.settings import TableIdentity, load_settings
from tests.conftest import PROJECT_ROOT
from tests.infra.bicep import Deployment, Resource
from tests.infra.conftest import (
    AZD_ENVIRONMENT,
    AZD_ENVIRONMENT_VARIABLES,
    AZD_SIGNED_IN_VARIABLES,
    INFRA,
    MAIN,
    Deploy,
    bicep_files,
)

SITE = "Microsoft.Web/sites"
PLAN = "Microsoft.Web/serverfarms"
STORAGE = "Microsoft.Storage/storageAccounts"
CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
APP_INSIGHTS = "Microsoft.Insights/components"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
PUBLISHING_CREDENTIALS = "Microsoft.Web/sites/basicPublishingCredentialsPolicies"

# Azure's built-in roles, by the IDs every tenant shares.
ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Queue Data Reader": "19e7f393-937e-4f77-808e-94535e297925",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Storage Table Data Reader": "76199698-9eea-4c19-bc75-cec21354c6b6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# App settings that Flex Consumption replaced with functionAppConfig or does not support
# (Microsoft's "Flex Consumption plan deprecations" in the Functions app settings reference).
FLEX_DEPRECATED_SETTINGS = {
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_MOUNT_ENABLED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_TIME_ZONE",
    "TZ",
}

# Azure's naming rules, per resource type (Microsoft's "Naming rules and restrictions for Azure
# resources"). A new resource type in the templates needs its rule here.
NAME_RULES = {
    "Microsoft.Resources/resourceGroups": r"[-\w.()]{0,89}[-\w()]",
    STORAGE: r"[a-z0-9]{3,24}",
    "Microsoft.Storage/storageAccounts/blobServices": r"default",
    CONTAINER: r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
    IDENTITY: r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}",
    "Microsoft.OperationalInsights/workspaces": r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]",
    APP_INSIGHTS: r"[^%&\\?/]{1,260}",
    PLAN: r"[A-Za-z0-9-]{1,60}",
    SITE: r"[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]",
    PUBLISHING_CREDENTIALS: r"ftp|scm",
    ROLE_ASSIGNMENT: r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every name the code looks up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def items(self) -> ItemsView[str, str]:
        # Going through every setting (as the storage section's lookup does) reads no name.
        return self._values.items()

    def __len__(self) -> int:
        return len(self._values)


def app_settings(app: Deployment) -> dict[str, str]:
    entries = app.one(SITE).config["properties"]["siteConfig"]["appSettings"]
    settings = {entry["name"]: entry["value"] for entry in entries}
    assert len(settings) == len(entries), "an app setting is set twice"
    return settings


def local_settings() -> dict[str, str]:
    values: dict[str, str] = json.loads((PROJECT_ROOT / "local.settings.json").read_text())[
        "Values"
    ]
    return values


def role_of(assignment: Resource) -> str:
    """The name of the built-in role an assignment grants (its ID where the role is not known)."""
    role_id = str(assignment.config["properties"]["roleDefinitionId"]).rsplit("/", 1)[-1]
    return next((name for name, known in ROLES.items() if known == role_id), role_id)


def holds(app: Deployment, principal_id: str, scope: Resource) -> dict[str, str]:
    """The roles a principal holds on a resource, with the principal type of each assignment."""
    return {
        role_of(assignment): assignment.config["properties"]["principalType"]
        for assignment in app.of_type(ROLE_ASSIGNMENT)
        if assignment.config["properties"]["principalId"] == principal_id
        and assignment.config["scope"].id == scope.id
    }


def test_the_app_starts_with_the_settings_the_template_gives_it(app: Deployment) -> None:
    settings = load_settings(app_settings(app))

    identity, storage = app.one(IDENTITY), app.one(STORAGE)
    assert settings.storage == TableIdentity(
        endpoint=storage.property("primaryEndpoints", "table").rstrip("/"),
        client_id=identity.property("clientId"),
        managed_identity_only=True,
    )
    assert settings.demo_data is False
    assert settings.faults == FaultPlan()


def test_every_saga_setting_the_code_reads_is_set_as_local_settings_json_sets_it(
    app: Deployment,
) -> None:
    deployed = app_settings(app)
    environ = RecordingEnviron(deployed)
    load_settings(environ)
    local = local_settings()
    read = {name for name in environ.read if name.startswith("SAGA_")}
    assert read, "load_settings read no SAGA_* setting: is this still the app's settings module?"

    for name in sorted(read):
        if name not in local:
            assert name not in deployed, f"{name}: local.settings.json leaves it to the code"
            continue
        expected = "false" if name == "SAGA_DEMO_DATA" else local[name]
        assert deployed.get(name) == expected, (
            f"{name}: the code reads it and local.settings.json sets it to {local[name]!r}; "
            f"the template sets {deployed.get(name)!r}"
        )
    unread = {name for name in deployed if name.startswith("SAGA_")} - read
    assert not unread, f"the template sets settings the code never reads: {sorted(unread)}"


def test_demo_data_is_a_choice_of_the_deployer(deploy: Deploy) -> None:
    (app,) = deploy(demoData=True).modules()

    assert load_settings(app_settings(app)).demo_data is True


def test_the_host_reaches_its_storage_as_the_identity_without_a_secret(
    app: Deployment,
) -> None:
    settings = app_settings(app)
    site, identity = app.one(SITE), app.one(IDENTITY)
    storage = app.one(STORAGE)
    client_id = identity.property("clientId")

    assert site.config["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": {identity.id: {}},
    }
    assert "AzureWebJobsStorage" not in settings  # a connection string there would win
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == client_id
    for service in ("blob", "queue", "table"):
        endpoint = storage.property("primaryEndpoints", service)
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == endpoint
    package = site.config["properties"]["functionAppConfig"]["deployment"]["storage"]
    container = app.one(CONTAINER)
    assert package["value"] == storage.property("primaryEndpoints", "blob") + container.name
    assert package["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": identity.id,
    }


def test_the_hosts_and_the_apps_logs_reach_application_insights(app: Deployment) -> None:
    """The Python worker hands the app's `logging` records to the host (category
    Function.<name>.User), and the host sends what host.json lets through to Application
    Insights, signing in as the identity."""
    settings = app_settings(app)
    insights, identity = app.one(APP_INSIGHTS), app.one(IDENTITY)
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == insights.property(
        "ConnectionString"
    )
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        f"ClientId={identity.property('clientId')};Authorization=AAD"
    )

    host_logging = json.loads((PROJECT_ROOT / "host.json").read_text())["logging"]
    kept = {"Trace", "Debug", "Information"}
    assert host_logging["logLevel"]["default"] in kept
    assert host_logging["logLevel"].get("Function", "Information") in kept
    assert all(
        level in kept
        for category, level in host_logging["logLevel"].items()
        if category.startswith("Function.")
    )
    sampling = host_logging["applicationInsights"]["samplingSettings"]
    assert {"Request", "Exception"} <= set(sampling["excludedTypes"].split(";"))


def test_no_setting_that_flex_consumption_replaced(app: Deployment) -> None:
    assert not FLEX_DEPRECATED_SETTINGS & set(app_settings(app))


def test_the_identity_holds_every_role_the_code_paths_need(app: Deployment) -> None:
    ledgers = load_settings(app_settings(app)).storage
    assert isinstance(ledgers, TableIdentity)
    (identity,) = [i for i in app.of_type(IDENTITY) if i.property("clientId") == ledgers.client_id]
    (ledger_account,) = [
        s
        for s in app.of_type(STORAGE)
        if s.property("primaryEndpoints", "table").rstrip("/") == ledgers.endpoint
    ]
    host_account, insights = app.one(STORAGE), app.one(APP_INSIGHTS)
    needed = [
        (ledger_account, "Storage Table Data Contributor", "the ledgers create tables, write rows"),
        (
            host_account,
            "Storage Blob Data Owner",
            "the Functions host keeps keys and leases in blobs",
        ),
        (host_account, "Storage Queue Data Contributor", "Durable Functions' task hub queues"),
        (host_account, "Storage Table Data Contributor", "Durable Functions' task hub tables"),
        (insights, "Monitoring Metrics Publisher", "telemetry with local authentication off"),
    ]

    principal = identity.property("principalId")
    for scope, role, why in needed:
        assert holds(app, principal, scope).get(role) == "ServicePrincipal", (
            f"the app's identity needs {role} on {scope.symbol}: {why}"
        )


@pytest.mark.parametrize("principal_type", ["User", "ServicePrincipal"])
def test_the_deploying_principal_may_read_the_data_and_its_type_is_a_parameter(
    deploy: Deploy, principal_type: str
) -> None:
    (app,) = deploy(principalType=principal_type).modules()

    assert holds(app, AZD_ENVIRONMENT["principalId"], app.one(STORAGE)) == {
        "Storage Blob Data Reader": principal_type,
        "Storage Queue Data Reader": principal_type,
        "Storage Table Data Reader": principal_type,
    }


def test_without_a_deploying_principal_only_the_identity_holds_roles(deploy: Deploy) -> None:
    (app,) = deploy(principalId="").modules()

    principals = {a.config["properties"]["principalId"] for a in app.of_type(ROLE_ASSIGNMENT)}
    assert principals == {app.one(IDENTITY).property("principalId")}


def test_storage_and_telemetry_accept_microsoft_entra_id_over_https_only(
    app: Deployment,
) -> None:
    storage = app.one(STORAGE).config["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["supportsHttpsTrafficOnly"] is True
    assert all(c.config["properties"]["publicAccess"] == "None" for c in app.of_type(CONTAINER))
    assert app.one(APP_INSIGHTS).config["properties"]["DisableLocalAuth"] is True

    site = app.one(SITE).config["properties"]
    assert site["httpsOnly"] is True
    assert site["siteConfig"]["minTlsVersion"] == "1.2"
    assert site["siteConfig"]["ftpsState"] == "Disabled"
    publishing = {
        p.name: p.config["properties"]["allow"] for p in app.of_type(PUBLISHING_CREDENTIALS)
    }
    assert publishing == {"ftp": False, "scm": False}


def test_a_flex_consumption_app_on_python_with_one_instance_ready_for_durable(
    app: Deployment, deploy: Deploy
) -> None:
    plan, site = app.one(PLAN), app.one(SITE)
    assert plan.config["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.config["properties"]["reserved"] is True  # Linux
    assert site.config["kind"] == "functionapp,linux"
    assert site.config["properties"]["serverFarmId"] == plan.id
    flex = site.config["properties"]["functionAppConfig"]
    assert flex["runtime"] == {"name": "python", "version": "3.11"}
    assert flex["scaleAndConcurrency"]["alwaysReady"] == [{"name": "durable", "instanceCount": 1}]

    (scaled_to_zero,) = deploy(durableAlwaysReadyInstances=0).modules()
    flex = scaled_to_zero.one(SITE).config["properties"]["functionAppConfig"]
    assert flex["scaleAndConcurrency"]["alwaysReady"] == []
    # Flex Consumption runs apps in other languages than C# only with extension bundle 4.
    host = json.loads((PROJECT_ROOT / "host.json").read_text())
    assert host["extensionBundle"]["version"].startswith("[4.")


@pytest.mark.parametrize(
    "environment_name",
    ["a", "saga-prod", "Team_A.saga(2)", "x" * 64],
    ids=["shortest", "usual", "punctuated", "longest"],
)
def test_names_fit_azure_rules(deploy: Deploy, environment_name: str) -> None:
    main = deploy(environmentName=environment_name)
    resources = main.all_resources() + [r for app in main.modules() for r in app.all_resources()]

    for resource in resources:
        assert resource.type in NAME_RULES, f"no naming rule for {resource.type} here"
        assert re.fullmatch(NAME_RULES[resource.type], resource.name), (
            f"{resource.symbol}: {resource.name!r} breaks the naming rule of {resource.type}"
        )


def test_nothing_secret_is_read_written_or_output(main: Deployment, app: Deployment) -> None:
    secret_values = re.compile(r"AccountKey=|SharedAccessSignature=|[?&]sig=", re.IGNORECASE)
    for path in bicep_files():
        text = path.read_text()
        # listKeys(), listAccountSas(), listSecrets(), ... return secrets.
        assert not re.search(r"\blist[A-Z]\w*\(", text), f"{path.name} reads a secret"
        assert "@secure" not in text, f"{path.name} takes a secret parameter"
        assert not secret_values.search(text), f"{path.name} holds a key or a SAS"
    for name, value in app_settings(app).items():
        assert not secret_values.search(value), f"app setting {name} holds a key or a SAS"

    secret_words = re.compile(r"key|secret|password|token|connection|sas", re.IGNORECASE)
    for deployment in (main, *main.modules()):
        for name, value in deployment.outputs().items():
            assert not secret_words.search(name), f"{deployment.path.name} outputs {name}"
            assert not secret_values.search(str(value)), f"{name} = {value!r}"
            # The connection string grants nothing with local authentication off, but it stays
            # an app setting, not an output.
            assert "InstrumentationKey=" not in str(value), f"{name} = {value!r}"


def test_azd_finds_the_app_and_the_outputs_name_it(main: Deployment, app: Deployment) -> None:
    azure_yaml = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text())
    ((service, config),) = azure_yaml["services"].items()
    assert config == {"project": ".", "language": "python", "host": "function"}
    site = app.one(SITE)
    assert site.config["tags"]["azd-service-name"] == service

    outputs = main.outputs()
    assert outputs["SERVICE_API_NAME"] == site.name
    assert outputs["SERVICE_API_URI"] == f"https://{site.name}.azurewebsites.net"
    assert outputs["AZURE_RESOURCE_GROUP"] == main.one("Microsoft.Resources/resourceGroups").name
    assert outputs["AZURE_STORAGE_ACCOUNT_NAME"] == app.one(STORAGE).name
    assert outputs["APPLICATIONINSIGHTS_NAME"] == app.one(APP_INSIGHTS).name


def test_main_parameters_json_passes_every_parameter_with_the_template_default() -> None:
    """azd fills main.parameters.json from its environment; for a variable of the deployer's
    choosing the default there must be the template's own, so that leaving it unset changes
    nothing."""
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = Deployment(MAIN, AZD_ENVIRONMENT).template["parameters"]
    assert set(parameters) == set(declared)

    for name, declaration in declared.items():
        value = parameters[name]["value"]
        match = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", value)
        assert match, f"{name}: {value!r} is neither ${{VARIABLE}} nor ${{VARIABLE=default}}"
        if match[1] in AZD_ENVIRONMENT_VARIABLES | AZD_SIGNED_IN_VARIABLES:
            continue
        default: Any = declaration.get("default")
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert match[2] == shown, f"{name}: {match[2]!r} here, {shown!r} in main.bicep"
