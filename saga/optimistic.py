"""Optimistic concurrency for the ledgers: read, decide, write with ETags, and on a lost race decide
again from a fresh read.

A step holds no lock in storage (within one process, the steps that change the same row take it in
turn: see saga.rows). It reads the rows it needs, decides, and commits one entity-group transaction
whose updates carry the ETags it read (and whose new records are creates). If another writer got
there first, the commit fails as a whole with 412 (row changed) or 409 (record exists),
and the step starts over. Only a bounded number of times: after that the step raises
`LedgerContention`, a transient error the orchestrator's retry policy handles.

A forward step's first attempt skips reading its order's idempotency record and presumes there is
none: almost always true, and one storage request saved per step. (The rows a step does read often
come from what the process already knows: see saga.rows.) The presumption needs no read to
be safe, because whatever the step decides, its commit creates the record (with the effect, or
alone when refusing), and a create fails with 409, the whole transaction with it, when the record
exists: a duplicate delivery, a retry after a lost reply, or a fence an earlier rollback left.
Every attempt after a conflict reads the record first, so a repeated step returns the recorded
answer and a fenced order is refused. Rollbacks always read the record: it is what they decide from.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from azure.core.exceptions import HttpResponseError

MAX_ATTEMPTS = 30
_FIRST_BACKOFF_SECONDS = 0.005
_MAX_BACKOFF_SECONDS = 0.1
_CONFLICT_STATUSES = {409, 412}

T = TypeVar("T")


class LedgerContention(RuntimeError):
    """Other writers kept winning the race for the same rows; retrying later is expected to work."""


def is_conflict(error: HttpResponseError) -> bool:
    """True when a write lost an optimistic race (a changed ETag, or a record that now exists)."""
    return error.status_code in _CONFLICT_STATUSES


def retry_on_conflict(
    what: str,
    decide: Callable[[], T],
    attempts: int = MAX_ATTEMPTS,
    *,
    first: Callable[[], T] | None = None,
) -> T:
    """Run `decide` until it commits without a conflict; `what` names the step in the error.

    `first`, when given, is the first attempt instead of `decide`: a cheaper decision whose
    presumption a conflict disproves (so every later attempt is `decide`, which reads more).
    """
    for attempt in range(attempts):
        if attempt:
            # Jittered, growing backoff: racing writers spread out instead of colliding again.
            ceiling = min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
            time.sleep(random.uniform(0, ceiling))
        try:
            return first() if first is not None and not attempt else decide()
        except HttpResponseError as error:
            if not is_conflict(error):
                raise
    raise LedgerContention(
        f"{what}: the rows kept changing under concurrent writers; gave up after {attempts} "
        "attempts (safe to retry: nothing was applied)"
    )
