"""Sagas of every outcome the app can reach, in one task hub, for the monitor to show.

Fault settings are read by the running app, so each kind of saga gets its own run of the app on
the same task hub and tables: a refusal and a success with no faults, a payment that fails at every
attempt, a payment slower than its step deadline, and last a payment that stalls for minutes,
whose saga stays Running (the app is left running for the browser).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.e2e.app_process import DURABLE_HOST, AppConfig, AppLauncher
from tests.e2e.saga_client import SagaApp, new_id, order_body
from tests.http_client import wait_for


@dataclass(frozen=True)
class Sagas:
    """The order id of each kind of saga, and the app serving them (`app.url(path)`)."""

    app: SagaApp
    launcher: AppLauncher
    completed: str
    refused: str
    retries_exhausted: str
    timed_out: str
    awaiting_retry: str
    awaiting_resolve: str
    running: str

    def stop(self) -> None:
        # The running saga's stalled payment would hold a graceful stop for minutes.
        for run in self.launcher.runs:
            run.kill()


def run_phase(
    launcher: AppLauncher,
    config: AppConfig,
    settings: Mapping[str, str],
    orders: list[dict[str, Any]],
) -> SagaApp:
    """Start the app on the shared hub with `settings` on top of `config`'s, and start `orders`."""
    launcher.config = replace(config, settings={**config.settings, **settings})
    app = SagaApp(launcher.start(), launcher.config)
    for body in orders:
        reply = app.start(body)
        assert reply.status == 202, str(reply)
    return app


def settle_and_stop(app: SagaApp, order_ids: list[str]) -> None:
    for order_id in order_ids:
        app.wait_until_settled(order_id)
    app.running.stop()


def place_sagas(
    storage: str,
    workdir: Path,
    order_ids: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> Sagas:
    """Run the phases and return with the last run serving. `order_ids` names the sagas
    (default: fresh ids); `settings` applies to every run."""
    ids = {
        kind: new_id(kind.replace("_", "-"))
        for kind in (
            "completed",
            "refused",
            "retries_exhausted",
            "timed_out",
            "awaiting_retry",
            "awaiting_resolve",
            "running",
        )
    }
    ids.update(order_ids or {})
    name = "Monitor" + uuid.uuid4().hex[:10]
    config = AppConfig(storage=storage, hub_name=name, table_prefix=name, settings=settings or {})
    launcher = AppLauncher(DURABLE_HOST, config, workdir)
    try:
        app = run_phase(
            launcher,
            config,
            {},
            [
                order_body(ids["completed"], "alice", ("SKU-RED", 2), ("SKU-BLUE", 1)),
                order_body(ids["refused"], "bob", ("SKU-RARE", 1)),
            ],
        )
        settle_and_stop(app, [ids["completed"], ids["refused"]])
        # Every payment attempt fails; the saga compensates after its (quick) retries.
        app = run_phase(
            launcher,
            config,
            {"SAGA_FAULT_TRANSIENT": "PaymentActivity=1", "SAGA_STEP_RETRY_INTERVAL_MS": "100"},
            [order_body(ids["retries_exhausted"], "alice", ("SKU-RED", 1))],
        )
        settle_and_stop(app, [ids["retries_exhausted"]])
        app = run_phase(
            launcher,
            config,
            {"SAGA_FAULT_STALL": "PaymentActivity=3", "SAGA_STEP_DEADLINE_SECONDS": "1"},
            [order_body(ids["timed_out"], "alice", ("SKU-BLUE", 2))],
        )
        app.wait_until_settled(ids["timed_out"])
        wait_for(
            "the late payment to meet its fence",
            lambda: app.ledgers.wallets.payment_record("alice", ids["timed_out"]) or None,
            30,
        )
        app.running.stop()
        # The payment rollback keeps failing: both sagas wait for an operator. The next run has
        # no such fault, so an operator's retry there succeeds.
        app = run_phase(
            launcher,
            config,
            {
                "SAGA_FAULT_FIRST": "RollbackPaymentActivity=1000",
                "SAGA_COMPENSATION_RETRY_ATTEMPTS": "2",
            },
            [
                order_body(ids["awaiting_retry"], "bob", ("SKU-RARE", 1)),
                order_body(ids["awaiting_resolve"], "bob", ("SKU-RARE", 1)),
            ],
        )
        for order_id in (ids["awaiting_retry"], ids["awaiting_resolve"]):
            wait_for(
                f"{order_id} to wait for an operator",
                lambda order_id=order_id: (
                    app.get_order(order_id).json().get("stage") == "needs_attention" or None
                ),
                30,
            )
        app.running.stop()
        app = run_phase(
            launcher,
            config,
            {"SAGA_FAULT_STALL": "PaymentActivity=600", "SAGA_STEP_DEADLINE_SECONDS": "900"},
            [order_body(ids["running"], "alice", ("SKU-BLUE", 1))],
        )
        wait_for(
            "the running saga's stock to be reserved",
            lambda: app.ledgers.inventory.order_record(ids["running"]) or None,
            30,
        )
        assert app.get_order(ids["running"]).json()["runtimeStatus"] == "Running"
    except BaseException:
        for run in launcher.runs:
            run.kill()
        raise
    return Sagas(app=app, launcher=launcher, **ids)
