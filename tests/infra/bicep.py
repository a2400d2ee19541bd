"""The Bicep templates of infra/, read with pycep-parser and evaluated as Azure would deploy them.

This machine has neither the Bicep CLI nor Azure, so the tests evaluate the templates themselves:
parameters, variables, loops, conditions, modules and outputs, and the few template functions the
templates use. Two things stand in for Azure:

- values Azure assigns when it creates a resource (an identity's client ID, a storage account's
  endpoints) come from `AZURE_ASSIGNED`, in Azure's shape;
- `uniqueString` and `guid` are stable hashes of their arguments, as in Azure, though not the same
  hashes.

pycep gives a string literal and an identifier alike as a plain string; a string is read as an
identifier when it names a loop item, parameter, variable, resource or module in scope. An
expression this reader does not know raises `UnknownExpression`, so a template change is never
passed over unread.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser

SUBSCRIPTION_ID = "3f2c6a52-4b1e-4d57-9d36-6a1f0c1d2e3f"
TENANT_ID = "8d0e1c2b-7a6f-4e5d-9c3b-2a1f0e9d8c7b"
STORAGE_SUFFIX = "core.windows.net"
RESOURCE_GROUP = "Microsoft.Resources/resourceGroups"


class UnknownExpression(ValueError):
    """The templates use something this reader cannot evaluate yet: extend it here."""


def parse(path: Path) -> dict[str, Any]:
    """A .bicep file as pycep's JSON; raises pycep's (lark's) error for a file it cannot parse."""
    return copy.deepcopy(_parse_text(path.read_text()))


@functools.cache
def _parse_text(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = BicepParser().parse(text=text)
    return parsed


def _parse_expression(text: str) -> Any:
    """One expression, as pycep gives it in a variable's value."""
    return _parse_text(f"var v = {text}\n")["variables"]["v"]["value"]


def _hash(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()


def unique_string(*parts: object) -> str:
    """13 lowercase letters and digits, stable for the same arguments, like uniqueString()."""
    return base64.b32encode(_hash(*parts)).decode().lower()[:13]


def stable_guid(*parts: object) -> str:
    return str(uuid.UUID(bytes=_hash(*parts)[:16], version=5))


def _identity_properties(resource: Resource) -> dict[str, Any]:
    return {
        "clientId": stable_guid("clientId", resource.id),
        "principalId": stable_guid("principalId", resource.id),
        "tenantId": TENANT_ID,
    }


def _storage_properties(resource: Resource) -> dict[str, Any]:
    services = ("blob", "queue", "table", "file", "dfs", "web")
    return {
        "primaryEndpoints": {
            service: f"https://{resource.name}.{service}.{STORAGE_SUFFIX}/" for service in services
        }
    }


def _app_insights_properties(resource: Resource) -> dict[str, Any]:
    # A connection string names the resource and its ingestion endpoint; with local authentication
    # off it grants nothing without a Microsoft Entra token.
    key = stable_guid("instrumentationKey", resource.id)
    location = resource.config.get("location", "")
    return {
        "InstrumentationKey": key,
        "ConnectionString": (
            f"InstrumentationKey={key};"
            f"IngestionEndpoint=https://{location}-0.in.applicationinsights.azure.com/;"
            f"ApplicationId={stable_guid('applicationId', resource.id)}"
        ),
    }


def _site_properties(resource: Resource) -> dict[str, Any]:
    return {"defaultHostName": f"{resource.name}.azurewebsites.net"}


# Resource type -> the properties Azure fills in when it creates such a resource.
AZURE_ASSIGNED: dict[str, Callable[[Resource], dict[str, Any]]] = {
    "Microsoft.ManagedIdentity/userAssignedIdentities": _identity_properties,
    "Microsoft.Storage/storageAccounts": _storage_properties,
    "Microsoft.Insights/components": _app_insights_properties,
    "Microsoft.Web/sites": _site_properties,
}


@dataclass
class Resource:
    """One deployed resource (one per item of a resource loop), its config evaluated."""

    symbol: str
    type: str
    name: str
    id: str
    config: dict[str, Any] = field(repr=False)

    def property(self, *path: str) -> Any:
        """A value under `properties`: as declared, or as Azure assigns it."""
        assigned = AZURE_ASSIGNED.get(self.type)
        for source in (self.config.get("properties", {}), assigned(self) if assigned else {}):
            value: Any = source
            for key in path:
                if not isinstance(value, Mapping) or key not in value:
                    break
                value = value[key]
            else:
                return value
        raise UnknownExpression(f"{self.symbol}.properties.{'.'.join(path)} ({self.type})")


class Deployment:
    """A template deployed with given parameters: its resources, modules and outputs."""

    def __init__(
        self,
        path: Path,
        parameters: Mapping[str, Any],
        resource_group: str | None = None,
    ) -> None:
        self.path = path
        self.template = parse(path)
        self.resource_group = resource_group
        unknown = set(parameters) - set(self.template.get("parameters", {}))
        if unknown:
            raise UnknownExpression(f"{path.name} has no parameters {sorted(unknown)}")
        self._given = dict(parameters)
        self._values: dict[str, Any] = {}
        self._resources: dict[str, list[Resource]] = {}
        self._modules: dict[str, Deployment] = {}

    # -- what the tests look at --------------------------------------------------------------

    def parameter(self, name: str) -> Any:
        key = f"param:{name}"
        if key not in self._values:
            if name in self._given:
                self._values[key] = self._given[name]
            else:
                default = self.template["parameters"][name].get("default")
                if default is None:
                    raise UnknownExpression(f"{self.path.name}: parameter {name} has no value")
                self._values[key] = self.evaluate(default)
        return self._values[key]

    def variable(self, name: str) -> Any:
        key = f"var:{name}"
        if key not in self._values:
            self._values[key] = self.evaluate(self.template["variables"][name]["value"])
        return self._values[key]

    def resources(self, symbol: str) -> list[Resource]:
        """The resources a declaration deploys: none when its condition is false, one per item
        of a loop."""
        if symbol not in self._resources:
            self._resources[symbol] = self._deploy(symbol)
        return self._resources[symbol]

    def all_resources(self) -> list[Resource]:
        return [r for symbol in self.template.get("resources", {}) for r in self.resources(symbol)]

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.all_resources() if r.type == resource_type]

    def one(self, resource_type: str) -> Resource:
        found = self.of_type(resource_type)
        if len(found) != 1:
            raise AssertionError(f"{len(found)} resources of type {resource_type}, expected one")
        return found[0]

    def module(self, symbol: str) -> Deployment:
        if symbol not in self._modules:
            declaration = self.template["modules"][symbol]
            config = declaration["config"]
            scope = self.evaluate(config["scope"])
            if not isinstance(scope, Resource) or scope.type != RESOURCE_GROUP:
                raise UnknownExpression(f"module {symbol}: scope {config['scope']!r}")
            self._modules[symbol] = Deployment(
                self.path.parent / declaration["detail"]["path"],
                {name: self.evaluate(value) for name, value in config["params"].items()},
                resource_group=scope.name,
            )
        return self._modules[symbol]

    def modules(self) -> list[Deployment]:
        return [self.module(symbol) for symbol in self.template.get("modules", {})]

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.evaluate(output["value"])
            for name, output in self.template.get("outputs", {}).items()
        }

    # -- evaluation ------------------------------------------------------------------------

    def _deploy(self, symbol: str) -> list[Resource]:
        declaration = self.template["resources"][symbol]
        config = declaration["config"]
        if "loop_type" in config:
            if config.get("condition") is not None:
                raise UnknownExpression(f"{symbol}: a loop with a condition")
            loop = config["loop_type"]["detail"]
            items = self.evaluate(loop["array_name"])
            body = config["config"]
            return [
                self._resource(symbol, declaration["type"], body, {loop["item_name"]: item})
                for item in items
            ]
        if "condition" in config and "config" in config:
            if not self.evaluate(config["condition"]):
                return []
            config = config["config"]
        return [self._resource(symbol, declaration["type"], config, {})]

    def _resource(
        self, symbol: str, resource_type: str, config: Mapping[str, Any], local: Mapping[str, Any]
    ) -> Resource:
        name = self.evaluate(config["name"], local)
        group_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{self.resource_group or name}"
        resource = Resource(
            symbol=symbol,
            type=resource_type,
            name=name,
            id=group_id
            if resource_type == RESOURCE_GROUP
            else f"{group_id}/providers/{resource_type}/{name}",
            config={},
        )
        resource.config = {key: self.evaluate(value, local) for key, value in config.items()}
        return resource

    def evaluate(self, node: Any, local: Mapping[str, Any] | None = None) -> Any:
        local = local or {}
        if isinstance(node, str):
            return self._string(node, local)
        if isinstance(node, list):
            return [self.evaluate(item, local) for item in node]
        if isinstance(node, dict):
            if set(node) == {"operator"}:
                return self._operator(node["operator"], local)
            if set(node) == {"function"}:
                return self._function(node["function"], local)
            return {
                self._string(key, local) if key.startswith("'") else key: self.evaluate(
                    value, local
                )
                for key, value in node.items()
            }
        return node

    def _string(self, text: str, local: Mapping[str, Any]) -> Any:
        if text in local:
            return local[text]
        if text in self.template.get("parameters", {}):
            return self.parameter(text)
        if text in self.template.get("variables", {}):
            return self.variable(text)
        if text in self.template.get("resources", {}):
            found = self.resources(text)
            if len(found) != 1:
                raise UnknownExpression(f"a reference to {text}, which deploys {len(found)}")
            return found[0]
        if text in self.template.get("modules", {}):
            return self.module(text)
        if text.startswith("'") and text.endswith("'"):
            text = text[1:-1]
        return self._interpolate(text, local)

    def _interpolate(self, text: str, local: Mapping[str, Any]) -> str:
        parts: list[str] = []
        rest = text
        while "${" in rest:
            before, _, after = rest.partition("${")
            depth, end = 1, 0
            while depth:
                if end == len(after):
                    raise UnknownExpression(f"unclosed interpolation in {text!r}")
                depth += {"{": 1, "}": -1}.get(after[end], 0)
                end += 1
            value = self.evaluate(_parse_expression(after[: end - 1]), local)
            if isinstance(value, (dict, list, Resource, Deployment)):
                raise UnknownExpression(f"{after[: end - 1]!r} in {text!r} is not a string")
            parts += [before, str(value).lower() if isinstance(value, bool) else str(value)]
            rest = after[end:]
        return "".join(parts) + rest

    def _operator(self, operator: Mapping[str, Any], local: Mapping[str, Any]) -> Any:
        kind, operands = operator["type"], operator["operands"]
        if kind == "property_accessor":
            return self._member(self.evaluate(operands["operand_1"], local), operands["operand_2"])
        if kind == "conditional":
            chosen = "true_value" if self.evaluate(operands["condition"], local) else "false_value"
            return self.evaluate(operands[chosen], local)
        if kind == "greater_than":
            left = self.evaluate(operands["operand_1"], local)
            return left > self.evaluate(operands["operand_2"], local)
        if kind == "not":
            return not self.evaluate(operands["bool_value"], local)
        raise UnknownExpression(f"operator {kind}")

    def _member(self, target: Any, accessor: Any) -> Any:
        """`target.a.b.c`, which pycep nests as target.(a.(b.c))."""
        path: list[str] = []
        while isinstance(accessor, dict):
            operands = accessor["operator"]["operands"]
            path.append(operands["operand_1"])
            accessor = operands["operand_2"]
        path.append(accessor)
        if isinstance(target, Resource):
            head, *rest = path
            if head in ("name", "id", "type") and not rest:
                return getattr(target, head)
            if head == "properties":
                return target.property(*rest)
            raise UnknownExpression(f"{target.symbol}.{'.'.join(path)}")
        if isinstance(target, Deployment):
            head, *rest = path
            if head != "outputs" or len(rest) != 1:
                raise UnknownExpression(f"module member {'.'.join(path)}")
            return target.outputs()[rest[0]]
        for key in path:
            if not isinstance(target, Mapping) or key not in target:
                raise UnknownExpression(f"member {'.'.join(path)} of {target!r}")
            target = target[key]
        return target

    def _function(self, function: Mapping[str, Any], local: Mapping[str, Any]) -> Any:
        kind = function["type"]
        arguments = [
            self.evaluate(value, local)
            for value in (function.get("parameters") or {}).values()
            if value is not None
        ]
        if kind == "to_lower":
            return arguments[0].lower()
        if kind == "unique_string":
            return unique_string(*arguments)
        if kind == "guid":
            return stable_guid(*arguments)
        if kind == "empty":
            return not arguments[0]
        if kind == "union":
            merged: dict[str, Any] = {}
            for argument in arguments:
                merged.update(argument)
            return merged
        if kind == "subscription_resource_id":
            resource_type, *names = arguments
            return f"/subscriptions/{SUBSCRIPTION_ID}/providers/{resource_type}/{'/'.join(names)}"
        if kind == "resource_group" and not arguments and self.resource_group:
            return {
                "id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{self.resource_group}",
                "name": self.resource_group,
            }
        if kind == "tenant":
            return {"tenantId": TENANT_ID}
        raise UnknownExpression(f"function {kind} with {arguments!r}")
