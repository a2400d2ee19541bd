"""The arrows between the rooms point one way: function folders -> saga -> durable_saga.

The toolkit knows no order: it imports nothing of the order domain (saga) and, apart from its
test helpers in durable_saga/testing.py (which may use durable_host.testing), nothing of the
local host. The order domain does not import the local host, and the host imports neither.
Imports are read from the source with `ast` (every import statement, wherever it stands).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from tests.conftest import PROJECT_ROOT

TOOLKIT_TESTING = "durable_saga/testing.py"


def imported_modules(source: str, package: str) -> Iterator[str]:
    """Every module `source` imports (a relative import resolved against `package`)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            if node.module:
                yield ".".join([*base, node.module])
            else:
                yield from (".".join([*base, alias.name]) for alias in node.names)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(room: str, forbidden: tuple[str, ...], allowed: dict[str, str]) -> list[str]:
    """`file: module` for each import of a forbidden package by a module of `room`, except the
    module a file may import by name in `allowed`."""
    found = []
    for path in sorted((PROJECT_ROOT / room).rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        package = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts[:-1])
        for module in imported_modules(path.read_text("utf-8"), package):
            if allowed.get(relative) and within(module, allowed[relative]):
                continue
            if any(within(module, banned) for banned in forbidden):
                found.append(f"{relative}: {module}")
    return found


def test_the_toolkit_knows_no_order_and_no_host() -> None:
    assert (PROJECT_ROOT / "durable_saga" / "__init__.py").exists()
    found = violations(
        "durable_saga", ("saga", "durable_host"), {TOOLKIT_TESTING: "durable_host.testing"}
    )
    assert found == [], "the toolkit imports the order domain or the local host"


def test_the_order_domain_does_not_import_the_local_host() -> None:
    assert violations("saga", ("durable_host",), {}) == []


def test_the_local_host_imports_no_saga() -> None:
    assert violations("durable_host", ("saga", "durable_saga"), {}) == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from saga.models import SagaInput", "saga.models"),
        ("import saga.workflow as workflow", "saga.workflow"),
        ("def late():\n    from durable_host import engine", "durable_host"),
        ("from . import timeline", "durable_saga.timeline"),
        ("from ..saga import models", "saga"),
    ],
)
def test_every_kind_of_import_is_read(source: str, module: str) -> None:
    assert module in list(imported_modules(source, "durable_saga"))
