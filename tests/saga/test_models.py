"""Validation at the door: what OrderRequest, PricedOrder and SagaInput accept, and how the
starter turns any body at all into either a valid request or field errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from durable_saga.documents import SagaPolicy
from durable_saga.errors import InvalidRequest
from durable_saga.validation import parse_body, parse_identifier
from saga.models import OrderRequest, PricedLine, PricedOrder, SagaInput
from saga.starter import OrderIdConflict, ensure_same_order


def body(**fields: Any) -> bytes:
    document: dict[str, Any] = {"customerId": "alice", "items": [{"sku": "SKU-1", "quantity": 1}]}
    document.update(fields)
    return json.dumps(document).encode()


def parse_order_request(raw: bytes) -> OrderRequest:
    """A POST /api/orders body, read as the order's starter reads it."""
    return parse_body(raw, OrderRequest)


def errors_of(raw: bytes) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRequest) as caught:
        parse_order_request(raw)
    return [(error.field, error.message) for error in caught.value.errors]


def fields_of(raw: bytes) -> list[str]:
    return [field for field, _ in errors_of(raw)]


def priced(order_id: str = "o-1", customer: str = "alice", quantity: int = 2) -> PricedOrder:
    return PricedOrder(
        orderId=order_id,
        customerId=customer,
        lines=[PricedLine(sku="SKU-1", quantity=quantity, unitPrice=Decimal("9.99"))],
        amount=Decimal("9.99") * quantity,
    )


# --- OrderRequest ---------------------------------------------------------------------------


def test_a_valid_body_parses_into_a_request() -> None:
    request = parse_order_request(
        body(orderId="o-1", items=[{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 10_000}])
    )
    assert request.orderId == "o-1"
    assert request.customerId == "alice"
    assert [(line.sku, line.quantity) for line in request.items] == [("A", 2), ("B", 10_000)]


def test_order_id_is_optional() -> None:
    assert parse_order_request(body()).orderId is None


@pytest.mark.parametrize(
    ("order_id", "fragment"),
    [
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("a#b", "'#'"),
        ("a?b", "'?'"),
        ("a\nb", "'\\n'"),
        ("a\x00b", "'\\x00'"),
        ("a\x7fb", "'\\x7f'"),
        ("@entity", "'@'"),
        (" padded", "whitespace"),
        ("", "at least 1 character"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_identifiers_refuse_what_durable_ids_and_table_keys_cannot_hold(
    order_id: str, fragment: str
) -> None:
    for field in ("orderId", "customerId"):
        [(where, message)] = errors_of(body(**{field: order_id}))
        assert where == field
        assert fragment in message
    [(where, message)] = errors_of(body(items=[{"sku": order_id, "quantity": 1}]))
    assert where == "items.0.sku"
    assert fragment in message


@pytest.mark.parametrize(
    "quantity", [0, -1, True, False, "1", 1.0, 1.5, None, 10_001, 10**30, [1], {"n": 1}]
)
def test_quantities_must_be_whole_numbers_from_1_to_10000(quantity: Any) -> None:
    assert fields_of(body(items=[{"sku": "A", "quantity": quantity}])) == ["items.0.quantity"]


def test_every_bad_field_is_reported_at_once() -> None:
    raw = body(
        customerId="a/b",
        items=[{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 0}, {"quantity": 1}],
    )
    assert sorted(fields_of(raw)) == ["customerId", "items.1.quantity", "items.2.sku"]


def test_items_must_not_be_empty_nor_longer_than_50_lines() -> None:
    assert fields_of(body(items=[])) == ["items"]
    lines = [{"sku": f"S{n}", "quantity": 1} for n in range(51)]
    assert fields_of(body(items=lines)) == ["items"]
    assert len(parse_order_request(body(items=lines[:50])).items) == 50


def test_duplicate_skus_must_be_merged() -> None:
    [(field, message)] = errors_of(
        body(items=[{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}])
    )
    assert field == "items"
    assert "'A' appears more than once" in message


def test_extra_fields_are_refused_wherever_they_are() -> None:
    assert fields_of(body(coupon="FREE")) == ["coupon"]
    assert fields_of(body(items=[{"sku": "A", "quantity": 1, "price": "0.01"}])) == [
        "items.0.price"
    ]


def test_missing_required_fields_are_named() -> None:
    assert sorted(fields_of(b"{}")) == ["customerId", "items"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"{", "is not valid JSON"),
        (b"{'customerId': 'alice'}", "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b"[]", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"1" * 5000, "is not acceptable JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "at most"),
        (b"[" * 5_000 + b"]" * 5_000, "is not acceptable JSON"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused_as_a_whole(
    raw: bytes, fragment: str
) -> None:
    [(field, message)] = errors_of(raw)
    assert field == "body"
    assert fragment in message


def test_deep_nesting_that_the_parser_accepts_is_refused_by_validation() -> None:
    nested = "[" * 500 + "]" * 500
    raw = ('{"customerId": "alice", "items": [{"sku": "A", "quantity": ' + nested + "}]}").encode()
    assert fields_of(raw) == ["items.0.quantity"]


def test_lone_surrogates_are_refused_with_their_path() -> None:
    raw = b'{"customerId": "al\\ud800ice", "items": [{"sku": "\\udfff", "quantity": 1}]}'
    assert sorted(fields_of(raw)) == ["customerId", "items.0.sku"]


# --- PricedOrder, SagaInput -------------------------------------------------------------------


def test_money_accepts_two_places_and_refuses_three() -> None:
    assert priced().amount == Decimal("19.98")
    line = {"sku": "A", "quantity": 1, "unitPrice": "9.999"}
    with pytest.raises(ValidationError, match="at most two decimal places"):
        PricedLine.model_validate(line)
    with pytest.raises(ValidationError, match="at most two decimal places"):
        PricedOrder.model_validate(
            {
                "orderId": "o",
                "customerId": "c",
                "lines": [{**line, "unitPrice": "1"}],
                "amount": "1.001",
            }
        )


def test_saga_input_round_trips_through_json_with_money_as_strings() -> None:
    saga_input = SagaInput(order=priced(), policy=SagaPolicy(stepRetryAttempts=5))
    document = saga_input.model_dump(mode="json")
    assert document["order"]["amount"] == "19.98"
    assert document["order"]["lines"][0]["unitPrice"] == "9.99"
    assert SagaInput.model_validate(json.loads(json.dumps(document))) == saga_input


def test_saga_input_refuses_unknown_fields_and_bad_policy() -> None:
    document = SagaInput(order=priced()).model_dump(mode="json")
    with pytest.raises(ValidationError):
        SagaInput.model_validate({**document, "extra": 1})
    with pytest.raises(ValidationError):
        SagaInput.model_validate({**document, "policy": {"stepRetryAttempts": 0}})


# --- identifiers from URLs and repeated starts ---------------------------------------------------


def test_identifiers_from_urls_are_checked_and_named() -> None:
    assert parse_identifier("o-1", "orderId") == "o-1"
    with pytest.raises(InvalidRequest) as caught:
        parse_identifier("@x", "orderId")
    [error] = caught.value.errors
    assert (error.field, error.message) == ("orderId", "must not start with '@'")


def test_a_repeat_of_the_same_order_is_accepted_in_any_input_form() -> None:
    request = parse_order_request(body(orderId="o-1", items=[{"sku": "SKU-1", "quantity": 2}]))
    document = SagaInput(order=priced()).model_dump(mode="json")
    ensure_same_order(request, "o-1", document)
    ensure_same_order(request, "o-1", json.dumps(document))


@pytest.mark.parametrize(
    "changes",
    [
        {"customerId": "bob"},
        {"items": [{"sku": "SKU-1", "quantity": 3}]},
        {"items": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}]},
    ],
)
def test_the_same_order_id_with_a_different_body_conflicts(changes: dict[str, Any]) -> None:
    request = parse_order_request(
        body(**{"orderId": "o-1", "items": [{"sku": "SKU-1", "quantity": 2}], **changes})
    )
    with pytest.raises(OrderIdConflict) as caught:
        ensure_same_order(request, "o-1", SagaInput(order=priced()).model_dump(mode="json"))
    [error] = caught.value.errors
    assert error.field == "orderId"
    assert "'o-1'" in error.message


@pytest.mark.parametrize("existing", [None, "not json", {"something": "else"}, [1, 2], "null"])
def test_an_order_id_held_by_something_else_conflicts(existing: Any) -> None:
    request = parse_order_request(body(orderId="o-1"))
    with pytest.raises(OrderIdConflict):
        ensure_same_order(request, "o-1", existing)


# --- any body at all ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

identifiers = st.text(max_size=12) | st.sampled_from(["alice", "SKU-1", "@x", "a/b", " a", ""])
quantities = st.integers() | st.booleans() | st.floats() | st.text(max_size=3) | st.none()
lines = st.fixed_dictionaries(
    {"sku": identifiers | json_values, "quantity": quantities | json_values},
    optional={"extra": json_values},
)
near_valid_bodies = st.fixed_dictionaries(
    {"customerId": identifiers, "items": st.lists(lines, max_size=4) | json_values},
    optional={"orderId": identifiers | json_values, "note": json_values},
)


def assert_request_or_field_errors(raw: bytes) -> None:
    try:
        request = parse_order_request(raw)
    except InvalidRequest as rejected:
        assert rejected.errors
        for error in rejected.errors:
            assert isinstance(error.field, str)
            assert error.message
            json.dumps(error.to_json())
    else:
        assert isinstance(request, OrderRequest)
        assert 1 <= len(request.items) <= 50


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_document_gives_a_request_or_field_errors(document: Any) -> None:
    assert_request_or_field_errors(json.dumps(document).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_bodies)
def test_bodies_shaped_like_orders_give_a_request_or_field_errors(document: Any) -> None:
    assert_request_or_field_errors(json.dumps(document).encode())


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_any_bytes_give_a_request_or_field_errors(raw: bytes) -> None:
    assert_request_or_field_errors(raw)
