"""HTTP trigger route templates (the ASP.NET syntax function.json uses), matched the host's way.

Supported: literal segments (case-insensitive), `{name}`, optional `{name?}`, defaults `{name=x}`,
catch-all `{*name}` / `{**name}` as the last segment, constraints `{name:int}` (several may be
chained), and segments that mix literals and parameters (`{file}.{ext}`). Routes are tried in the
host's precedence order: literal segments before parameters, catch-alls last.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

_PARAMETER = re.compile(r"\{([^{}]*)\}")
_CONSTRAINT = re.compile(r"^([A-Za-z]+)(?:\((.*)\))?$")


class RouteTemplateError(ValueError):
    pass


def _is_int(value: str, *_: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", value) is not None


def _is_number(value: str, *_: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str, *_: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _length(value: str, *args: str) -> bool:
    if len(args) == 1:
        return len(value) == int(args[0])
    return int(args[0]) <= len(value) <= int(args[1])


def _in_range(value: str, low: str, high: str) -> bool:
    return _is_int(value) and int(low) <= int(value) <= int(high)


_CHECKS: dict[str, Callable[..., bool]] = {
    "int": _is_int,
    "long": _is_int,
    "bool": lambda value, *_: value.lower() in ("true", "false"),
    "alpha": lambda value, *_: re.fullmatch(r"[A-Za-z]+", value) is not None,
    "guid": _is_guid,
    "double": _is_number,
    "float": _is_number,
    "decimal": _is_number,
    "datetime": lambda value, *_: bool(value),
    "length": _length,
    "minlength": lambda value, low: len(value) >= int(low),
    "maxlength": lambda value, high: len(value) <= int(high),
    "min": lambda value, low: _is_int(value) and int(value) >= int(low),
    "max": lambda value, high: _is_int(value) and int(value) <= int(high),
    "range": _in_range,
    "regex": lambda value, pattern: re.search(pattern, value, re.IGNORECASE) is not None,
}


@dataclass(frozen=True)
class Constraint:
    name: str
    args: tuple[str, ...]

    def accepts(self, value: str) -> bool:
        return _CHECKS[self.name](value, *self.args)


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class Segment:
    parts: tuple[str | Parameter, ...]

    @property
    def precedence(self) -> int:
        """Lower is tried first, after the host's route ordering."""
        if all(isinstance(part, str) for part in self.parts):
            return 0
        if len(self.parts) > 1:
            return 1
        parameter = self.parts[0]
        assert isinstance(parameter, Parameter)
        if parameter.catch_all:
            return 5
        if parameter.optional or parameter.default is not None:
            return 4
        return 2 if parameter.constraints else 3


def _parse_parameter(text: str, template: str) -> Parameter:
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    default: str | None = None
    if "=" in text:
        text, default = text.split("=", 1)
    optional = text.endswith("?")
    text = text.rstrip("?")
    name, *constraint_texts = text.split(":")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteTemplateError(f"route {template!r}: invalid parameter name {name!r}")
    constraints = []
    for constraint_text in constraint_texts:
        found = _CONSTRAINT.match(constraint_text)
        if not found or found.group(1).lower() not in _CHECKS:
            raise RouteTemplateError(
                f"route {template!r}: unknown constraint {constraint_text!r} on {{{name}}}"
            )
        args = tuple(a.strip() for a in found.group(2).split(",")) if found.group(2) else ()
        if found.group(1).lower() == "regex":
            args = (found.group(2) or "",)
        constraints.append(Constraint(found.group(1).lower(), args))
    return Parameter(name, optional, catch_all, default, tuple(constraints))


def _parse_segment(text: str, template: str) -> Segment:
    parts: list[str | Parameter] = []
    position = 0
    for found in _PARAMETER.finditer(text):
        if found.start() > position:
            parts.append(text[position : found.start()])
        parts.append(_parse_parameter(found.group(1), template))
        position = found.end()
    if position < len(text):
        parts.append(text[position:])
    if any(isinstance(part, str) and ("{" in part or "}" in part) for part in parts):
        raise RouteTemplateError(f"route {template!r}: unbalanced braces in {text!r}")
    parameters = [part for part in parts if isinstance(part, Parameter)]
    if len(parts) > 1 and any(p.catch_all or p.optional for p in parameters):
        raise RouteTemplateError(
            f"route {template!r}: an optional or catch-all parameter must be a whole segment"
        )
    return Segment(tuple(parts))


@dataclass(frozen=True)
class RouteTemplate:
    """One parsed template; `match` returns the route values, or None."""

    text: str
    segments: tuple[Segment, ...]
    _pattern: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        stripped = template.strip().strip("/")
        segments = (
            tuple(_parse_segment(s, template) for s in stripped.split("/")) if stripped else ()
        )
        names: set[str] = set()
        for index, segment in enumerate(segments):
            for part in segment.parts:
                if isinstance(part, Parameter):
                    if part.name.lower() in names:
                        raise RouteTemplateError(f"route {template!r}: {{{part.name}}} repeats")
                    names.add(part.name.lower())
                    if part.catch_all and index != len(segments) - 1:
                        raise RouteTemplateError(
                            f"route {template!r}: a catch-all parameter must be last"
                        )
        return cls(stripped, segments, re.compile(_regex(segments), re.IGNORECASE | re.DOTALL))

    @property
    def parameters(self) -> Iterable[Parameter]:
        for segment in self.segments:
            for part in segment.parts:
                if isinstance(part, Parameter):
                    yield part

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(segment.precedence for segment in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        found = self._pattern.fullmatch("/" + path.strip("/") if path.strip("/") else "")
        if not found:
            return None
        values: dict[str, str] = {}
        for index, parameter in enumerate(self.parameters):
            value = found.group(f"p{index}")
            if value is None or value == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            if not all(constraint.accepts(value) for constraint in parameter.constraints):
                return None
            values[parameter.name] = value
        return values


def _regex(segments: tuple[Segment, ...]) -> str:
    pattern = ""
    index = 0
    for segment in segments:
        piece = ""
        optional = False
        for part in segment.parts:
            if isinstance(part, str):
                piece += re.escape(part)
                continue
            if part.catch_all:
                piece += f"(?P<p{index}>.*)"
                optional = True
            else:
                # Greedy, so a mixed segment splits at its last literal, as the host's does.
                piece += f"(?P<p{index}>[^/]+)"
                optional = part.optional or part.default is not None
            index += 1
        pattern += f"(?:/{piece})?" if optional else f"/{piece}"
    return pattern


@dataclass(frozen=True)
class Route:
    """An HTTP function's route: template plus the methods it accepts (None = every method)."""

    function_name: str
    template: RouteTemplate
    methods: frozenset[str] | None


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    values: Mapping[str, str]


class RouteTable:
    """Every HTTP route of the app, in the order the host would try them."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: (r.template.precedence, r.template.text.lower()))

    def resolve(self, path: str, method: str) -> RouteMatch | frozenset[str] | None:
        """The match for this path and method; else the methods the path allows (405); else
        None (404)."""
        allowed: set[str] = set()
        for route in self.routes:
            values = route.template.match(path)
            if values is None:
                continue
            if route.methods is None or method.upper() in route.methods:
                return RouteMatch(route, values)
            allowed |= route.methods
        return frozenset(allowed) if allowed else None
