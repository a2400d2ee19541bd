"""Settings come from the environment; every bad value is refused with its setting's name."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_saga.documents import SagaPolicy
from saga.settings import SettingsError, load_settings
from tests.conftest import PROJECT_ROOT

STORAGE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults_need_only_the_storage_connection() -> None:
    settings = load_settings(STORAGE)

    assert settings.storage == "UseDevelopmentStorage=true"
    assert settings.table_prefix == "Saga"
    assert settings.demo_data is False
    assert settings.policy == SagaPolicy()
    assert dict(settings.faults.transient) == {}
    assert dict(settings.faults.stall_seconds) == {}


def test_the_projects_local_settings_load() -> None:
    values = json.loads((PROJECT_ROOT / "local.settings.json").read_text())["Values"]

    settings = load_settings(values)

    assert settings.demo_data is True
    assert settings.table_prefix == "Saga"
    assert settings.policy == SagaPolicy(
        stepRetryAttempts=3,
        stepRetryIntervalMs=1000,
        compensationRetryAttempts=10,
        compensationRetryIntervalMs=2000,
        stepDeadlineSeconds=60,
    )


def test_every_setting_is_read() -> None:
    settings = load_settings(
        {
            **STORAGE,
            "SAGA_TABLE_PREFIX": "Shop2",
            "SAGA_DEMO_DATA": "TRUE",
            "SAGA_STEP_RETRY_ATTEMPTS": "5",
            "SAGA_STEP_RETRY_INTERVAL_MS": "250",
            "SAGA_COMPENSATION_RETRY_ATTEMPTS": "40",
            "SAGA_COMPENSATION_RETRY_INTERVAL_MS": "500",
            "SAGA_STEP_DEADLINE_SECONDS": "2.5",
            "SAGA_FAULT_TRANSIENT": "OrderActivity=0.2, RollbackPaymentActivity=1",
            "SAGA_FAULT_STALL": "PaymentActivity=5",
            "SAGA_FAULT_FIRST": "RollbackPaymentActivity=4",
        }
    )

    assert settings.table_prefix == "Shop2"
    assert settings.demo_data is True
    assert settings.policy == SagaPolicy(
        stepRetryAttempts=5,
        stepRetryIntervalMs=250,
        compensationRetryAttempts=40,
        compensationRetryIntervalMs=500,
        stepDeadlineSeconds=2.5,
    )
    assert dict(settings.faults.transient) == {
        "OrderActivity": 0.2,
        "RollbackPaymentActivity": 1.0,
    }
    assert dict(settings.faults.stall_seconds) == {"PaymentActivity": 5.0}
    assert dict(settings.faults.first_failures) == {"RollbackPaymentActivity": 4}


@pytest.mark.parametrize("value", ["true", "1", "yes", "On"])
def test_demo_data_flag_true(value: str) -> None:
    assert load_settings({**STORAGE, "SAGA_DEMO_DATA": value}).demo_data is True


@pytest.mark.parametrize("value", ["false", "0", "no", "OFF", ""])
def test_demo_data_flag_false(value: str) -> None:
    assert load_settings({**STORAGE, "SAGA_DEMO_DATA": value}).demo_data is False


@pytest.mark.parametrize("value", [None, "", "   "])
def test_storage_connection_is_required(value: str | None) -> None:
    environ = {} if value is None else {"AzureWebJobsStorage": value}

    with pytest.raises(SettingsError, match="AzureWebJobsStorage") as caught:
        load_settings(environ)

    assert caught.value.setting == "AzureWebJobsStorage"


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("SAGA_TABLE_PREFIX", "9lives", "starting with a letter"),
        ("SAGA_TABLE_PREFIX", "my-shop", "letters or digits"),
        ("SAGA_TABLE_PREFIX", "", "letters or digits"),
        ("SAGA_TABLE_PREFIX", "A" * 55, "1-54"),
        ("SAGA_DEMO_DATA", "maybe", "true or false"),
        ("SAGA_STEP_RETRY_ATTEMPTS", "three", "whole number"),
        ("SAGA_STEP_RETRY_ATTEMPTS", "2.5", "whole number"),
        ("SAGA_STEP_RETRY_ATTEMPTS", "0", "greater than or equal to 1"),
        ("SAGA_STEP_RETRY_INTERVAL_MS", "-5", "greater than or equal to 1"),
        ("SAGA_COMPENSATION_RETRY_ATTEMPTS", "1001", "less than or equal to 1000"),
        ("SAGA_COMPENSATION_RETRY_INTERVAL_MS", "soon", "whole number"),
        ("SAGA_STEP_DEADLINE_SECONDS", "0", "greater than 0"),
        ("SAGA_STEP_DEADLINE_SECONDS", "518401", "less than or equal to 518400"),
        ("SAGA_STEP_DEADLINE_SECONDS", "nan", "finite"),
        ("SAGA_STEP_DEADLINE_SECONDS", "inf", "finite"),
        ("SAGA_FAULT_TRANSIENT", "OrderActivty=0.5", "unknown activity 'OrderActivty'"),
        ("SAGA_FAULT_TRANSIENT", "OrderActivity=often", "not a number"),
        ("SAGA_FAULT_TRANSIENT", "OrderActivity=1.5", "at most 1"),
        ("SAGA_FAULT_TRANSIENT", "OrderActivity=-0.1", ">= 0"),
        ("SAGA_FAULT_TRANSIENT", "OrderActivity", "ActivityName=number"),
        ("SAGA_FAULT_TRANSIENT", "OrderActivity=0.1,OrderActivity=0.2", "more than once"),
        ("SAGA_FAULT_STALL", "PaymentActivity=-1", ">= 0"),
        ("SAGA_FAULT_STALL", "PaymentActivity=nan", "finite"),
        ("SAGA_FAULT_STALL", "StartSaga=3", "unknown activity 'StartSaga'"),
        ("SAGA_FAULT_FIRST", "RollbackPaymentActivity=2.5", "whole number of calls"),
        ("SAGA_FAULT_FIRST", "RollbackPaymentActivity=-1", ">= 0"),
    ],
)
def test_bad_values_name_the_setting_and_the_value(setting: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**STORAGE, setting: value})

    message = str(caught.value)
    assert caught.value.setting == setting
    assert message.startswith(f"setting {setting} = {value!r}")
    assert problem in message


@given(st.text(max_size=60))
def test_any_fault_text_either_parses_or_names_its_setting(text: str) -> None:
    try:
        settings = load_settings({**STORAGE, "SAGA_FAULT_TRANSIENT": text})
    except SettingsError as error:
        assert error.setting == "SAGA_FAULT_TRANSIENT"
    else:
        assert all(0 <= rate <= 1 for rate in settings.faults.transient.values())
