"""Hundreds of sagas with transient faults in every step, while the host is killed (SIGKILL to its
whole process group) and restarted on the same storage, several times mid-flight.

Afterwards every saga must have ended as `completed` or `compensated`, and the ledgers must agree
with the outcomes: money and stock are conserved, nothing is charged or reserved twice, a completed
saga's reservation and charge are in effect, a compensated saga's are not.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from saga.inventory import ReservationStatus
from saga.wallet import PaymentStatus
from tests.http_client import post_json, wait_for

from .app_process import AppConfig, RunningApp
from .conftest import LaunchApp
from .saga_client import TERMINAL_STATUSES, SagaApp, new_id, order_body

pytestmark = pytest.mark.crash

ORDERS = 300
KILLS = 3
CLIENTS = 8
SETTLE_SECONDS = 120.0
POST_SECONDS = 150.0
RETRY_PAUSE_SECONDS = 0.1
SETTINGS = {
    "SAGA_FAULT_TRANSIENT": (
        "OrderActivity=0.2,PaymentActivity=0.2,"
        "RollbackOrderActivity=0.2,RollbackPaymentActivity=0.2"
    ),
    "SAGA_STEP_RETRY_ATTEMPTS": "4",
    "SAGA_STEP_RETRY_INTERVAL_MS": "50",
    # 0.2 ** 20: a compensation that still fails after this many attempts would be a real defect.
    "SAGA_COMPENSATION_RETRY_ATTEMPTS": "20",
    "SAGA_COMPENSATION_RETRY_INTERVAL_MS": "50",
    # A step slower than this (a restart can hold one up for seconds) times out and is
    # compensated, which the invariants below allow.
    "SAGA_STEP_DEADLINE_SECONDS": "40",
}
# Balances and stock chosen so that some customers and SKUs run out part way through.
WALLETS = ("3000.00", "2000.00", "1000.00", "300.00", "25.00", "0.00")
CATALOG = (("9.99", 1000), ("5.00", 500), ("12.50", 60), ("100.00", 4))


@dataclass(frozen=True)
class PlannedOrder:
    order_id: str
    customer_id: str
    lines: tuple[tuple[str, int], ...]
    amount: Decimal
    refused: bool
    """True when the order can never succeed (no wallet, or more than the SKU ever had)."""

    def body(self) -> dict[str, Any]:
        return order_body(self.order_id, self.customer_id, *self.lines)


@dataclass
class Scenario:
    balances: dict[str, Decimal]
    stock: dict[str, int]
    prices: dict[str, Decimal]
    orders: list[PlannedOrder] = field(default_factory=list)


def plan_scenario(app: SagaApp, rng: random.Random) -> Scenario:
    """Fresh customers and SKUs in the app's tables, and a mix of orders against them."""
    scenario = Scenario(
        balances={app.new_customer(balance): Decimal(balance) for balance in WALLETS},
        stock={},
        prices={},
    )
    for price, stock in CATALOG:
        sku = app.new_sku(price, stock)
        scenario.stock[sku], scenario.prices[sku] = stock, Decimal(price)
    customers, skus = list(scenario.balances), list(scenario.stock)
    for number in range(ORDERS):
        customer, refused = rng.choice(customers), False
        chosen = rng.sample(skus, rng.choice((1, 1, 2)))
        lines = [(sku, rng.randint(1, 3)) for sku in chosen]
        if number % 20 == 7:
            customer, refused = new_id("no-wallet"), True
        elif number % 20 == 13:
            lines[0] = (lines[0][0], scenario.stock[lines[0][0]] + 1)
            refused = True
        amount = sum((scenario.prices[sku] * quantity for sku, quantity in lines), Decimal("0.00"))
        scenario.orders.append(
            PlannedOrder(new_id("crash"), customer, tuple(lines), amount, refused)
        )
    return scenario


class Poster:
    """Posts every order until the app accepts it (202), across kills and restarts: a request
    the dying host never answered is simply sent again, as a client would."""

    def __init__(self, orders: list[PlannedOrder], current: Callable[[], RunningApp]) -> None:
        self.orders = orders
        self.current = current
        self.accepted: set[str] = set()
        self.unexpected: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._post_all, name="order-poster")

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"orders were still being posted after {timeout:g} s")

    @property
    def accepted_count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def wait_until_accepted(self, count: int) -> None:
        def enough() -> bool | None:
            return self.accepted_count >= count or None

        wait_for(
            f"{count} orders to be accepted",
            enough,
            POST_SECONDS,
            describe=lambda: f"{self.accepted_count} accepted; {self.unexpected[:3]}",
        )

    def _post_all(self) -> None:
        with ThreadPoolExecutor(CLIENTS, thread_name_prefix="order-client") as clients:
            list(clients.map(self._post_until_accepted, self.orders))

    def _post_until_accepted(self, order: PlannedOrder) -> None:
        deadline = time.monotonic() + POST_SECONDS
        while time.monotonic() < deadline:
            try:
                reply = post_json(self.current().url("orders"), order.body())
            except (OSError, http.client.HTTPException):
                time.sleep(RETRY_PAUSE_SECONDS)  # the host is down or restarting; try again
                continue
            if reply.status == 202 and reply.json()["orderId"] == order.order_id:
                with self._lock:
                    self.accepted.add(order.order_id)
                return
            if reply.status != 503:
                with self._lock:
                    self.unexpected.append(str(reply))
                return
            time.sleep(RETRY_PAUSE_SECONDS)
        with self._lock:
            self.unexpected.append(f"order {order.order_id} not accepted in {POST_SECONDS:g} s")


def unfinished_instances(config: AppConfig) -> int:
    """Instances the task hub holds as Pending or Running (DurableTask.AzureStorage's layout,
    which both hosts use)."""
    service = TableServiceClient.from_connection_string(config.storage)
    table = service.get_table_client(f"{config.hub_name}Instances")
    rows = table.query_entities(
        "RuntimeStatus eq 'Running' or RuntimeStatus eq 'Pending'", select=["PartitionKey"]
    )
    return sum(1 for _ in rows)


def wait_until_all_settled(app: Callable[[], SagaApp], order_ids: list[str]) -> dict[str, Any]:
    """GET /api/orders/{id} for every saga until each is in a terminal runtime status."""
    views: dict[str, Any] = {}
    pending = set(order_ids)

    def read(order_id: str) -> tuple[str, Any]:
        reply = app().get_order(order_id)
        assert reply.status == 200, str(reply)
        return order_id, reply.json()

    def all_settled() -> bool | None:
        with ThreadPoolExecutor(CLIENTS) as readers:
            for order_id, view in readers.map(read, sorted(pending)):
                views[order_id] = view
                if view["runtimeStatus"] in TERMINAL_STATUSES:
                    pending.discard(order_id)
        return True if not pending else None

    def unsettled() -> str:
        shown = [
            f"{order_id}: {views[order_id]['runtimeStatus']} stage={views[order_id].get('stage')} "
            f"steps={views[order_id]['steps']} ledgers={views[order_id]['ledgers']}"
            for order_id in sorted(pending)[:10]
        ]
        return f"{len(pending)} unsettled:\n" + "\n".join(shown)

    wait_for("every saga to settle", all_settled, SETTLE_SECONDS, interval=0.5, describe=unsettled)
    return views


def ledger_problems(app: SagaApp, scenario: Scenario, views: dict[str, Any]) -> list[str]:
    """Every way the ledgers disagree with the sagas' outcomes or with conservation: records
    from the ledgers' readers, balances and stock as GET /api/customers and /api/inventory
    show them."""
    problems: list[str] = []
    charged: Counter[str] = Counter()
    charged_money: dict[str, Decimal] = {
        customer: Decimal("0.00") for customer in scenario.balances
    }
    reserved: Counter[str] = Counter()
    for order in scenario.orders:
        view = views[order.order_id]
        name = f"order {order.order_id} ({view.get('outcome')})"
        reservation = app.ledgers.inventory.order_record(order.order_id)
        payment = app.ledgers.wallets.payment_record(order.customer_id, order.order_id)
        if reservation is None or payment is None:
            problems.append(f"{name}: missing ledger records {reservation=} {payment=}")
            continue
        if reservation.amount != order.amount or payment.amount != order.amount:
            problems.append(
                f"{name}: records for {reservation.amount} / {payment.amount}, "
                f"order is {order.amount}"
            )
        if {(line.sku, line.quantity) for line in reservation.lines} != set(order.lines):
            problems.append(f"{name}: reservation lines {reservation.lines} != {order.lines}")
        in_effect = (
            reservation.status is ReservationStatus.RESERVED,
            payment.status is PaymentStatus.CHARGED,
        )
        outcome = view.get("outcome")
        # A saga resolved by hand keeps what its failed rollback left: only conservation holds.
        if outcome == "completed" and in_effect != (True, True):
            problems.append(f"{name}: completed but {reservation.status} / {payment.status}")
        if outcome == "compensated" and any(in_effect):
            problems.append(f"{name}: compensated but {reservation.status} / {payment.status}")
        if payment.status is PaymentStatus.CHARGED:
            charged[order.customer_id] += 1
            charged_money[order.customer_id] += payment.amount
        if reservation.status is ReservationStatus.RESERVED:
            for sku, quantity in order.lines:
                reserved[sku] += quantity
    for customer, initial in scenario.balances.items():
        balance = app.balance(customer)
        if balance < 0:
            problems.append(f"customer {customer} is overdrawn: {balance}")
        if balance + charged_money[customer] != initial:
            problems.append(
                f"customer {customer}: started with {initial}, has {balance}, "
                f"{charged[customer]} charges in effect total {charged_money[customer]}"
            )
    for sku, initial_stock in scenario.stock.items():
        available = app.available(sku)
        if available < 0:
            problems.append(f"{sku} has negative stock: {available}")
        if available + reserved[sku] != initial_stock:
            problems.append(
                f"{sku}: started with {initial_stock}, has {available}, "
                f"{reserved[sku]} reserved by orders in effect"
            )
    return problems


def test_sagas_survive_host_kills_with_money_and_stock_conserved(launch_app: LaunchApp) -> None:
    launcher, first = launch_app(SETTINGS)
    scenario = plan_scenario(first, random.Random(20261128))
    apps = [first]
    poster = Poster(scenario.orders, lambda: apps[-1].running)
    unfinished_at_kills: list[int] = []

    poster.start()
    for kill in range(1, KILLS + 1):
        poster.wait_until_accepted(ORDERS * kill // (KILLS + 1))
        apps[-1].running.kill()
        unfinished_at_kills.append(unfinished_instances(launcher.config))
        apps.append(SagaApp(launcher.start(), launcher.config))
    poster.join(POST_SECONDS)

    assert not poster.unexpected, "\n".join(poster.unexpected[:20])
    assert poster.accepted_count == ORDERS
    assert all(unfinished_at_kills), f"sagas in flight at each kill: {unfinished_at_kills}"
    views = wait_until_all_settled(lambda: apps[-1], [o.order_id for o in scenario.orders])

    bad_ends = [
        f"{order_id}: {view['runtimeStatus']} {view.get('outcome')} {view.get('error', '')} "
        f"{view['steps']}"
        for order_id, view in sorted(views.items())
        if view["runtimeStatus"] != "Completed"
        or view.get("outcome") not in ("completed", "compensated")
    ]
    assert not bad_ends, f"{len(bad_ends)} saga(s) ended badly:\n" + "\n".join(bad_ends[:20])
    not_refused = [
        f"{order.order_id} {order.customer_id} {order.lines}: {views[order.order_id]['outcome']}"
        for order in scenario.orders
        if order.refused and views[order.order_id]["outcome"] != "compensated"
    ]
    assert not not_refused, "orders that cannot succeed completed:\n" + "\n".join(not_refused)
    outcomes = Counter(view["outcome"] for view in views.values())
    assert outcomes["completed"] >= ORDERS // 6, outcomes
    assert outcomes["compensated"] >= ORDERS // 6, outcomes

    problems = ledger_problems(apps[-1], scenario, views)
    assert not problems, f"{len(problems)} ledger problem(s):\n" + "\n".join(problems[:30])
