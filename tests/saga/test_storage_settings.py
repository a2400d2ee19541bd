"""How the ledgers reach Azure Storage: a connection string, or a managed identity named with the
Functions host's own AzureWebJobsStorage__* settings. Nothing here signs in: a credential only
asks for a token on the first request, and these tests make none, but the last, which reads
the ledgers in Azurite."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from saga.settings import Settings, SettingsError, TableIdentity, load_settings
from saga.storage import Ledgers, table_service

CONNECTION = "UseDevelopmentStorage=true"
CLIENT = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def test_a_connection_string_is_used_as_before() -> None:
    settings = load_settings({"AzureWebJobsStorage": CONNECTION})

    assert settings.storage == CONNECTION


def test_a_connection_string_wins_over_identity_settings_as_on_the_host() -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage": CONNECTION,
            "AzureWebJobsStorage__accountName": "shopledgers",
            "AzureWebJobsStorage__clientId": CLIENT,
        }
    )

    assert settings.storage == CONNECTION


def test_an_account_name_means_its_public_azure_table_endpoint() -> None:
    settings = load_settings({"AzureWebJobsStorage__accountName": "shopledgers"})

    assert settings.storage == TableIdentity("https://shopledgers.table.core.windows.net")


def test_a_table_service_uri_is_used_as_given_and_wins_over_the_account_name() -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage__accountName": "shopledgers",
            "AzureWebJobsStorage__tableServiceUri": "https://ledgers.table.core.chinacloudapi.cn/",
        }
    )

    assert settings.storage == TableIdentity("https://ledgers.table.core.chinacloudapi.cn")


def test_a_blank_connection_string_leaves_the_identity_settings_in_charge() -> None:
    settings = load_settings(
        {"AzureWebJobsStorage": " ", "AzureWebJobsStorage__accountName": "shopledgers"}
    )

    assert isinstance(settings.storage, TableIdentity)


def test_a_client_id_picks_a_user_assigned_identity() -> None:
    settings = load_settings(
        {"AzureWebJobsStorage__accountName": "shopledgers", "AzureWebJobsStorage__clientId": CLIENT}
    )

    assert settings.storage == TableIdentity(
        "https://shopledgers.table.core.windows.net", client_id=CLIENT
    )


def test_setting_names_are_matched_without_regard_to_case_as_on_the_host() -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage__accountname": "shopledgers",
            "AZUREWEBJOBSSTORAGE__CLIENTID": CLIENT,
            "AzureWebJobsStorage__credential": "ManagedIdentity",
        }
    )

    assert settings.storage == TableIdentity(
        "https://shopledgers.table.core.windows.net", client_id=CLIENT, managed_identity_only=True
    )


@pytest.mark.parametrize("environ", [{}, {"AzureWebJobsStorage": ""}, {"SAGA_DEMO_DATA": "true"}])
def test_without_any_storage_setting_the_error_names_what_to_set(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)

    assert caught.value.setting == "AzureWebJobsStorage"
    message = str(caught.value)
    assert "UseDevelopmentStorage=true" in message
    assert "AzureWebJobsStorage__accountName" in message
    assert "AzureWebJobsStorage__tableServiceUri" in message


@pytest.mark.parametrize(
    "uri",
    [
        "ledgers.table.core.windows.net",
        "http://ledgers.table.core.windows.net",
        "https://",
        "https://user@ledgers.table.core.windows.net",
        "https://ledgers.table.core.windows.net#tables",
        "not a uri",
    ],
)
def test_a_malformed_table_service_uri_is_refused_by_name(uri: str) -> None:
    with pytest.raises(SettingsError, match="https URI") as caught:
        load_settings({"AzureWebJobsStorage__tableServiceUri": uri})

    assert caught.value.setting == "AzureWebJobsStorage__tableServiceUri"


def test_a_sas_token_in_the_table_service_uri_is_refused_without_being_repeated() -> None:
    uri = "https://ledgers.table.core.windows.net/?sv=2024-11-04&sig=SECRETSIGNATURE"

    with pytest.raises(SettingsError) as caught:
        load_settings({"AzureWebJobsStorage__tableServiceUri": uri})

    assert caught.value.setting == "AzureWebJobsStorage__tableServiceUri"
    assert "SECRETSIGNATURE" not in str(caught.value)


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("AzureWebJobsStorage__accountName", "Shop_Ledgers", "3-24 lowercase letters or digits"),
        ("AzureWebJobsStorage__accountName", "ab", "3-24 lowercase letters or digits"),
        ("AzureWebJobsStorage__clientId", "my-identity", "client ID"),
        ("AzureWebJobsStorage__credential", "managedidentityasfederatedidentity", "unset"),
        ("AzureWebJobsStorage__managedIdentityResourceId", "/subscriptions/x", "__clientId"),
    ],
)
def test_a_bad_identity_setting_is_refused_by_name(setting: str, value: str, problem: str) -> None:
    environ = {"AzureWebJobsStorage__accountName": "shopledgers", setting: value}

    with pytest.raises(SettingsError, match=problem) as caught:
        load_settings(environ)

    assert caught.value.setting == setting


def test_the_table_client_for_an_identity_uses_its_endpoint_and_default_credential() -> None:
    settings = load_settings(
        {"AzureWebJobsStorage__accountName": "shopledgers", "AzureWebJobsStorage__clientId": CLIENT}
    )

    service = table_service(settings)

    assert service.url == "https://shopledgers.table.core.windows.net"
    assert isinstance(service.credential, DefaultAzureCredential)


def test_credential_managedidentity_uses_the_managed_identity_alone() -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage__tableServiceUri": "https://ledgers.table.core.windows.net",
            "AzureWebJobsStorage__credential": "managedidentity",
        }
    )

    service = table_service(settings)

    assert service.url == "https://ledgers.table.core.windows.net"
    assert isinstance(service.credential, ManagedIdentityCredential)


def test_the_table_client_for_a_connection_string_signs_with_the_account_key(
    storage_connection_string: str,
) -> None:
    service = table_service(Settings(storage=storage_connection_string))

    assert isinstance(service.credential, AzureNamedKeyCredential)
    assert service.credential.named_key.name == "devstoreaccount1"


def test_ledger_requests_are_not_logged_at_info_but_the_apps_own_records_are(
    opened_ledgers: Ledgers, caplog: pytest.LogCaptureFixture
) -> None:
    # On Azure the Python worker forwards INFO records to Application Insights.
    caplog.set_level(logging.INFO)
    opened_ledgers.wallets.open_wallet("carol", Decimal("5.00"))
    logging.getLogger("saga").info("the app's own record")

    wallet = opened_ledgers.wallets.wallet("carol")
    assert wallet is not None and wallet.balance == Decimal("5.00")
    assert [record.getMessage() for record in caplog.records] == ["the app's own record"]
