"""The app's host.json and local.settings.json, read and checked the way Core Tools reads them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_host.store import validate_hub_name

DEFAULT_ROUTE_PREFIX = "api"
# What the Durable extension names the hub when host.json names none (local development).
DEFAULT_HUB_NAME = "TestHubName"
DEFAULT_MAX_CONCURRENT = 10
DEFAULT_PORT = 7071
# App settings named AzureFunctionsJobHost__section__key override host.json's section.key.
OVERRIDE_PREFIX = "AzureFunctionsJobHost"
_SETTING_REFERENCE = re.compile(r"^%([^%]+)%$")


class StartupError(Exception):
    """The host cannot start; the message names the file or setting to fix."""


class ConfigError(StartupError):
    pass


@dataclass(frozen=True)
class HostSettings:
    """What durable_host uses from host.json."""

    route_prefix: str = DEFAULT_ROUTE_PREFIX
    hub_name: str | None = None
    max_concurrent_activities: int = DEFAULT_MAX_CONCURRENT
    max_concurrent_orchestrators: int = DEFAULT_MAX_CONCURRENT


@dataclass(frozen=True)
class LocalSettings:
    """What durable_host uses from local.settings.json."""

    values: Mapping[str, str]
    local_http_port: int | None = None


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":
            # The Functions host parses host.json with JObject.Parse, which refuses it too
            # ("Unable to parse host configuration file").
            raise ConfigError(
                f"{path}: not valid JSON: a second JSON value starts at line {error.lineno} "
                f"column {error.colno}, after the first one ended; the file must hold exactly "
                "one object (two objects back to back? keep one)"
            ) from None
        raise ConfigError(
            f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(document).__name__}")
    return document


def _get(mapping: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """host.json keys are case-insensitive, as the Functions host's configuration reads them."""
    return next((v for k, v in mapping.items() if k.lower() == key.lower()), default)


def _section(document: Mapping[str, Any], key: str, path: Path, where: str) -> dict[str, Any]:
    value = _get(document, key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where}{key} must be an object")
    return value


def _positive_int(section: Mapping[str, Any], key: str, path: Path) -> int:
    value = _get(section, key, DEFAULT_MAX_CONCURRENT)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # from an AzureFunctionsJobHost__ override, where all values are text
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{path}: extensions.durableTask.{key} must be a positive integer, got {value!r}"
        )
    return value


def _apply_overrides(document: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Overlay `AzureFunctionsJobHost__a__b` settings onto host.json's a.b, as the Functions host
    lets app settings override host.json (this is how a deployment or a test picks a hub)."""
    for name, value in environ.items():
        prefix, *path = name.split("__")
        if prefix.lower() != OVERRIDE_PREFIX.lower() or not path:
            continue
        node = document
        for key in path[:-1]:
            existing = next((k for k in node if k.lower() == key.lower()), key)
            child = node.get(existing)
            if not isinstance(child, dict):
                child = node[existing] = {}
            node = child
        leaf = next((k for k in node if k.lower() == path[-1].lower()), path[-1])
        node[leaf] = value


def read_host_settings(app_dir: Path, environ: Mapping[str, str] = os.environ) -> HostSettings:
    """host.json (which makes a folder a Function App, so a missing one is an error), with the
    environment's `AzureFunctionsJobHost__...` overrides applied."""
    path = app_dir / "host.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not found; is {app_dir} a Function App folder?")
    document = _read_json_object(path)
    version = _get(document, "version")
    if version != "2.0":
        raise ConfigError(f'{path}: "version" must be "2.0" (got {version!r})')
    _apply_overrides(document, environ)
    extensions = _section(document, "extensions", path, "")
    http = _section(extensions, "http", path, "extensions.")
    durable = _section(extensions, "durableTask", path, "extensions.")

    route_prefix = _get(http, "routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(route_prefix, str):
        raise ConfigError(f"{path}: extensions.http.routePrefix must be a string")
    hub_name = _get(durable, "hubName")
    if hub_name is not None and not isinstance(hub_name, str):
        raise ConfigError(f"{path}: extensions.durableTask.hubName must be a string")
    return HostSettings(
        route_prefix=route_prefix.strip("/"),
        hub_name=hub_name,
        max_concurrent_activities=_positive_int(durable, "maxConcurrentActivityFunctions", path),
        max_concurrent_orchestrators=_positive_int(
            durable, "maxConcurrentOrchestratorFunctions", path
        ),
    )


def read_local_settings(app_dir: Path) -> LocalSettings:
    """local.settings.json is optional (Core Tools runs without it)."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return LocalSettings(values={})
    document = _read_json_object(path)
    if document.get("IsEncrypted") is True:
        raise ConfigError(
            f"{path}: IsEncrypted is true; durable_host reads only plain-text settings"
        )
    raw_values = _section(document, "Values", path, "")
    values: dict[str, str] = {}
    for name, value in raw_values.items():
        if isinstance(value, dict | list):
            raise ConfigError(f"{path}: Values.{name} must be a string, not an object or array")
        values[name] = "" if value is None else value if isinstance(value, str) else str(value)
    host = _section(document, "Host", path, "")
    port = host.get("LocalHttpPort")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise ConfigError(f"{path}: Host.LocalHttpPort must be an integer")
    return LocalSettings(values=values, local_http_port=port)


def apply_values(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Copy settings into the environment as Core Tools does: a variable that is already set to a
    non-empty value wins over local.settings.json. Returns the names that were skipped."""
    skipped: list[str] = []
    for name, value in values.items():
        if environ.get(name):
            skipped.append(name)
        else:
            environ[name] = value
    return skipped


def resolve_hub_name(
    explicit: str | None, settings: HostSettings, environ: Mapping[str, str] = os.environ
) -> str:
    """Argument > host.json (a `%Setting%` reference is looked up) > the extension's default."""
    name = explicit or settings.hub_name or DEFAULT_HUB_NAME
    reference = _SETTING_REFERENCE.match(name)
    if reference:
        resolved = environ.get(reference.group(1))
        if not resolved:
            raise ConfigError(
                f"host.json: extensions.durableTask.hubName refers to app setting "
                f"{reference.group(1)!r}, which is not set"
            )
        name = resolved
    try:
        validate_hub_name(name)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return name
