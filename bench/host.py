"""`python -m bench.host ARGS`: `python -m durable_host ARGS`, the app's storage traffic tagged.

Azurite's access log names the table of every request but one kind: an entity-group batch is
`POST /<account>/$batch`, and both the app's ledgers and durable_host's task hub send them. So
that the benchmark can tell them apart, the app's connections (azure-data-tables, over `requests`)
leave from a second loopback address, LEDGER_SOURCE, and the log's first field says whose request
it was; durable_host's own client (aiohttp) keeps 127.0.0.1. Nothing else changes.
"""

from __future__ import annotations

import runpy
import socket
from typing import Any

import requests.adapters

# All of 127.0.0.0/8 is loopback on Linux, so this needs no setup and reaches Azurite on 127.0.0.1
# (other systems may have only 127.0.0.1: see can_tag).
LEDGER_SOURCE = "127.0.0.2"


def can_tag() -> bool:
    """Whether this machine lets a socket bind LEDGER_SOURCE."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LEDGER_SOURCE, 0))
        except OSError:
            return False
    return True


def tag_app_connections() -> None:
    """Make every `requests` connection pool opened from now on bind LEDGER_SOURCE.

    `HTTPAdapter.init_poolmanager` is where requests documents that pool arguments go; the app
    builds its adapter itself, so the method is replaced on the class rather than subclassed.
    """
    open_pools = requests.adapters.HTTPAdapter.init_poolmanager

    def init_poolmanager(
        adapter: requests.adapters.HTTPAdapter,
        connections: int,
        maxsize: int,
        block: bool = requests.adapters.DEFAULT_POOLBLOCK,
        **pool_kwargs: Any,
    ) -> None:
        pool_kwargs.setdefault("source_address", (LEDGER_SOURCE, 0))
        open_pools(adapter, connections, maxsize, block, **pool_kwargs)

    requests.adapters.HTTPAdapter.init_poolmanager = init_poolmanager  # type: ignore[method-assign, assignment]


if __name__ == "__main__":
    if can_tag():
        tag_app_connections()
    runpy.run_module("durable_host", run_name="__main__", alter_sys=True)
