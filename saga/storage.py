"""Opens the ledgers' tables in Azure Table storage, once per process.

Activities run on a thread pool, so the process-wide ledgers are created under a lock; their table
clients are safe to share between threads. The tables are reached with the connection string in
AzureWebJobsStorage or, without one, with a managed identity (see saga.settings).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from durable_saga.errors import ServiceUnavailable
from durable_saga.http import first_line
from saga.demo_data import seed_demo_data
from saga.faults import FaultPlan
from saga.inventory import Inventory
from saga.settings import Settings, TableIdentity, load_settings
from saga.wallet import Wallets

INVENTORY_TABLE = "Inventory"
WALLETS_TABLE = "Wallets"
# Activities of many sagas use the tables at once; the SDK's default pool of 10 connections makes
# the rest open and discard a connection per request.
CONNECTION_POOL_SIZE = 64
# azure-core logs every storage request and response at INFO; on Azure the Python worker forwards
# INFO records to Application Insights, where three ledger requests per saga step would bury the
# saga's own logs. Its warnings and errors still get through.
REQUEST_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


class StorageUnavailable(ServiceUnavailable):
    """Table storage did not answer (an AzureError), said in its first line: a 503."""

    def __init__(self, error: AzureError) -> None:
        super().__init__(f"table storage did not answer: {first_line(error)}")


@dataclass(frozen=True)
class Ledgers:
    inventory: Inventory
    wallets: Wallets
    faults: FaultPlan = field(default_factory=FaultPlan)


def open_ledgers(settings: Settings) -> Ledgers:
    """Connect to the ledgers' tables, creating them if missing and seeding demo data if enabled."""
    service = table_service(settings)
    prefix = settings.table_prefix
    inventory = Inventory(service.create_table_if_not_exists(prefix + INVENTORY_TABLE))
    wallets = Wallets(service.create_table_if_not_exists(prefix + WALLETS_TABLE))
    if settings.demo_data:
        seed_demo_data(inventory, wallets)
    return Ledgers(inventory=inventory, wallets=wallets, faults=settings.faults)


def table_service(settings: Settings) -> TableServiceClient:
    """A client for the ledgers' storage account; it signs in lazily, on its first request."""
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.WARNING)
    storage = settings.storage
    if isinstance(storage, str):
        return TableServiceClient.from_connection_string(storage, transport=_pooled_transport())
    return TableServiceClient(
        endpoint=storage.endpoint, credential=_credential(storage), transport=_pooled_transport()
    )


def _credential(identity: TableIdentity) -> TokenCredential:
    if identity.managed_identity_only:
        return ManagedIdentityCredential(client_id=identity.client_id)
    # On Azure this reaches the app's managed identity; on a laptop, the developer's sign-in.
    return DefaultAzureCredential(managed_identity_client_id=identity.client_id)


def _pooled_transport() -> RequestsTransport:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONNECTION_POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=False)


class _ProcessLedgers:
    """`ledgers()` opens the ledgers from the environment on first use and then reuses them;
    `ledgers.cache_clear()` forgets them (tests switch settings between cases)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ledgers: Ledgers | None = None

    def __call__(self) -> Ledgers:
        with self._lock:
            if self._ledgers is None:
                self._ledgers = open_ledgers(load_settings())
            return self._ledgers

    def cache_clear(self) -> None:
        with self._lock:
            self._ledgers = None


ledgers = _ProcessLedgers()
