"""The app's settings, read once from the environment and checked before any work starts.

Azure (and durable_host, from local.settings.json) hands settings to the app as environment
variables; a bad value fails here with the setting's name and value rather than deep inside a step.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from saga.faults import FaultPlan, parse_fault_map
from saga.models import SagaPolicy

# Table names: 3-63 alphanumeric characters starting with a letter; the longest suffix the ledgers
# append is "Inventory" (9 characters).
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,53}")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}

# Setting name -> (SagaPolicy field, whether the value may have a fractional part).
_POLICY_SETTINGS = {
    "SAGA_STEP_RETRY_ATTEMPTS": ("stepRetryAttempts", False),
    "SAGA_STEP_RETRY_INTERVAL_MS": ("stepRetryIntervalMs", False),
    "SAGA_COMPENSATION_RETRY_ATTEMPTS": ("compensationRetryAttempts", False),
    "SAGA_COMPENSATION_RETRY_INTERVAL_MS": ("compensationRetryIntervalMs", False),
    "SAGA_STEP_DEADLINE_SECONDS": ("stepDeadlineSeconds", True),
}

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the setting and the value."""

    def __init__(self, setting: str, value: str | None, problem: str) -> None:
        shown = "missing" if value is None else f"{value!r}"
        super().__init__(f"setting {setting} = {shown}: {problem}")
        self.setting = setting
        self.value = value


@dataclass(frozen=True)
class Settings:
    storage_connection: str
    table_prefix: str = "Saga"
    demo_data: bool = False
    policy: SagaPolicy = field(default_factory=SagaPolicy)
    faults: FaultPlan = field(default_factory=FaultPlan)


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from `environ`; raises SettingsError for the first bad or missing setting."""
    storage = environ.get("AzureWebJobsStorage", "").strip()
    if not storage:
        raise SettingsError(
            "AzureWebJobsStorage",
            environ.get("AzureWebJobsStorage"),
            "a storage connection string is required (UseDevelopmentStorage=true for Azurite)",
        )
    prefix = environ.get("SAGA_TABLE_PREFIX", "Saga").strip()
    if not _PREFIX.fullmatch(prefix):
        raise SettingsError(
            "SAGA_TABLE_PREFIX",
            prefix,
            "must be 1-54 letters or digits, starting with a letter (it prefixes table names)",
        )
    return Settings(
        storage_connection=storage,
        table_prefix=prefix,
        demo_data=_flag(environ, "SAGA_DEMO_DATA"),
        policy=_policy(environ),
        faults=FaultPlan(
            transient=_parsed(
                environ, "SAGA_FAULT_TRANSIENT", lambda text: parse_fault_map(text, upper_bound=1)
            ),
            stall_seconds=_parsed(
                environ, "SAGA_FAULT_STALL", lambda text: parse_fault_map(text, upper_bound=None)
            ),
        ),
    )


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "")
    normalized = value.strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    raise SettingsError(name, value, "must be true or false")


def _parsed(environ: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T:
    value = environ.get(name, "")
    try:
        return parse(value)
    except ValueError as error:
        raise SettingsError(name, value, str(error)) from None


def _policy(environ: Mapping[str, str]) -> SagaPolicy:
    fields: dict[str, float | int] = {}
    for name, (field_name, fractional) in _POLICY_SETTINGS.items():
        value = environ.get(name)
        if value is None or not value.strip():
            continue
        try:
            number = float(value) if fractional else int(value)
        except ValueError:
            kind = "a number" if fractional else "a whole number"
            raise SettingsError(name, value, f"must be {kind}") from None
        if not math.isfinite(number):
            raise SettingsError(name, value, "must be a finite number")
        try:
            SagaPolicy.model_validate({field_name: number})
        except ValidationError as error:
            raise SettingsError(name, value, error.errors()[0]["msg"]) from None
        fields[field_name] = number
    return SagaPolicy.model_validate(fields)
