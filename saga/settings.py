"""The app's settings, read once from the environment and checked before any work starts.

Azure (and durable_host, from local.settings.json) hands settings to the app as environment
variables; a bad value fails here with the setting's name and value rather than deep inside a step.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from durable_saga.documents import SagaPolicy
from durable_saga.errors import Misconfigured
from saga.faults import FaultPlan, parse_fault_map, parse_first_failures

# Table names: 3-63 alphanumeric characters starting with a letter; the longest suffix the ledgers
# append is "Inventory" (9 characters).
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,53}")
# Storage account names: 3-24 lowercase letters and digits.
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
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

STORAGE = "AzureWebJobsStorage"
# The Functions host's own names for an identity-based AzureWebJobsStorage (two underscores).
ACCOUNT_NAME = f"{STORAGE}__accountName"
TABLE_SERVICE_URI = f"{STORAGE}__tableServiceUri"
CLIENT_ID = f"{STORAGE}__clientId"
CREDENTIAL = f"{STORAGE}__credential"
RESOURCE_ID = f"{STORAGE}__managedIdentityResourceId"

T = TypeVar("T")


class SettingsError(Misconfigured, ValueError):
    """A setting is missing or malformed; the message names the setting and the value."""

    def __init__(self, setting: str, value: str | None, problem: str) -> None:
        shown = "missing" if value is None else f"{value!r}"
        super().__init__(f"setting {setting} = {shown}: {problem}")
        self.setting = setting
        self.value = value


@dataclass(frozen=True)
class TableIdentity:
    """The ledgers' table endpoint reached with a Microsoft Entra identity instead of a key.

    `client_id` picks a user-assigned managed identity (None: the system-assigned one on Azure,
    the developer's own sign-in elsewhere); `managed_identity_only` mirrors the host's
    `credential=managedidentity`, which skips every other way of signing in.
    """

    endpoint: str
    client_id: str | None = None
    managed_identity_only: bool = False


@dataclass(frozen=True)
class Settings:
    """`storage`: how to reach the ledgers' tables, a connection string or an identity."""

    storage: str | TableIdentity
    table_prefix: str = "Saga"
    demo_data: bool = False
    policy: SagaPolicy = field(default_factory=SagaPolicy)
    faults: FaultPlan = field(default_factory=FaultPlan)


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from `environ`; raises SettingsError for the first bad or missing setting."""
    storage = _storage(environ)
    prefix = environ.get("SAGA_TABLE_PREFIX", "Saga").strip()
    if not _PREFIX.fullmatch(prefix):
        raise SettingsError(
            "SAGA_TABLE_PREFIX",
            prefix,
            "must be 1-54 letters or digits, starting with a letter (it prefixes table names)",
        )
    return Settings(
        storage=storage,
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
            first_failures=_parsed(environ, "SAGA_FAULT_FIRST", parse_first_failures),
        ),
    )


def _storage(environ: Mapping[str, str]) -> str | TableIdentity:
    """The ledgers' storage, read as the Functions host reads AzureWebJobsStorage.

    A value in AzureWebJobsStorage is a connection string and wins over the identity settings
    (the host treats a value there the same way); tableServiceUri wins over accountName.
    """
    connection = environ.get(STORAGE, "").strip()
    if connection:
        return connection
    section = _section(environ, STORAGE)
    endpoint = _table_endpoint(section)
    if endpoint is None:
        raise SettingsError(
            STORAGE,
            environ.get(STORAGE),
            "set a storage connection string (UseDevelopmentStorage=true for Azurite), or, "
            f"to use a managed identity, {ACCOUNT_NAME} or {TABLE_SERVICE_URI}",
        )
    if RESOURCE_ID.lower() in section:
        raise SettingsError(
            RESOURCE_ID,
            section[RESOURCE_ID.lower()],
            f"the ledgers pick a user-assigned identity by client ID: set {CLIENT_ID} instead",
        )
    return TableIdentity(
        endpoint=endpoint,
        client_id=_client_id(section),
        managed_identity_only=_managed_identity_only(section),
    )


def _section(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    """`prefix__*` settings by lower-cased name: the host's configuration ignores case."""
    start = f"{prefix}__".lower()
    return {
        name.lower(): value.strip()
        for name, value in environ.items()
        if name.lower().startswith(start) and value.strip()
    }


def _table_endpoint(section: Mapping[str, str]) -> str | None:
    uri = section.get(TABLE_SERVICE_URI.lower())
    if uri is not None:
        parts = urlsplit(uri)
        if (
            parts.scheme.lower() != "https"
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
        ):
            # A SAS token in the query is a secret: keep it out of the message.
            shown = urlunsplit(parts._replace(query="...")) if parts.query else uri
            raise SettingsError(
                TABLE_SERVICE_URI,
                shown,
                "must be the table service's https URI without a query, "
                "e.g. https://<account>.table.core.windows.net",
            )
        return uri.rstrip("/")
    account = section.get(ACCOUNT_NAME.lower())
    if account is not None:
        if not _ACCOUNT_NAME.fullmatch(account):
            raise SettingsError(
                ACCOUNT_NAME,
                account,
                "must be a storage account name: 3-24 lowercase letters or digits",
            )
        return f"https://{account}.table.core.windows.net"
    return None


def _client_id(section: Mapping[str, str]) -> str | None:
    client_id = section.get(CLIENT_ID.lower())
    if client_id is None:
        return None
    try:
        uuid.UUID(client_id)
    except ValueError:
        raise SettingsError(
            CLIENT_ID,
            client_id,
            "must be the client ID (a GUID) of a user-assigned managed identity of the app",
        ) from None
    return client_id


def _managed_identity_only(section: Mapping[str, str]) -> bool:
    credential = section.get(CREDENTIAL.lower())
    if credential is None:
        return False
    if credential.lower() != "managedidentity":
        raise SettingsError(
            CREDENTIAL,
            credential,
            "the ledgers support managedidentity, or leave it unset to sign in with "
            "DefaultAzureCredential",
        )
    return True


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
