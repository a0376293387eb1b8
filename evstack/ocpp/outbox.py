"""The messages a station owes its CSMS, kept in SQLite until the CSMS has taken them.

OCPP's promise for transaction messages (2.0.1 use case E13, and the same idea in 1.6) is that
each reaches the CSMS, in order, however long the station is offline: a day without a
connection, with a meter value every 10 s, is 8,640 messages per EVSE, and none may be dropped
because the queue is long. So every such message is written here, durably, before anyone tries
to send it, and leaves only when the CSMS has answered it.

The head of the queue blocks the rest: messages of one transaction must arrive in order, and
interleaving retries of one message with later ones would break that. A message the CSMS
refuses (a CALLERROR) or does not answer in time is retried after `interval x transmissions so
far + message timeout`, as Part 6's TC_E_41/TC_E_50 measure it, up to the policy's number of
attempts; then it is given up and the next one goes. A message cut off by a lost connection is
not a failed attempt: it goes again, first, when the connection is back.

Message ids are not kept: each transmission gets a new one from the RPC layer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from evstack.runtime.state import transaction

__all__ = ["Outbox", "QueuedMessage", "RetryPolicy"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    action         TEXT NOT NULL,
    payload        BLOB NOT NULL,
    kind           TEXT NOT NULL,
    transaction_id TEXT,
    transmissions  INTEGER NOT NULL DEFAULT 0,
    not_before     REAL NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a kind of message is offered to the CSMS."""

    attempts: int  # transmissions in all, the first included
    interval_s: float  # times the transmissions so far, added to the message timeout


@dataclass(frozen=True)
class QueuedMessage:
    seq: int
    action: str
    payload: bytes
    kind: str
    transaction_id: str | None
    transmissions: int  # how often it was sent and went unanswered or refused
    not_before: float  # monotonic time before which it must not be sent again


class Outbox:
    """A durable FIFO of messages to the CSMS, with the retry rules of OCPP.

    `policies` maps each message kind (an action such as "TransactionEvent", or any name the
    station uses) to its `RetryPolicy`; `message_timeout_s` is OCPPCommCtrlr.MessageTimeout.
    Times are on a monotonic clock passed in by the caller, so tests can drive them.
    """

    def __init__(
        self, db: sqlite3.Connection, policies: Mapping[str, RetryPolicy], message_timeout_s: float
    ) -> None:
        self._policies = dict(policies)
        self.message_timeout_s = message_timeout_s
        # The station's database (`open_database`: a queued message survives a power cut);
        # the outbox's table is `outbox`, and its owner closes it.
        self._db = db
        self._db.execute(_SCHEMA)
        # Not-before times are monotonic and mean nothing after a restart: start afresh.
        with transaction(self._db) as db:
            db.execute("UPDATE outbox SET not_before = 0")

    def set_policy(self, kind: str, policy: RetryPolicy) -> None:
        """The CSMS may change the attempts and intervals at any time (SetVariables)."""
        self._policies[kind] = policy

    def put(
        self,
        action: str,
        payload: bytes,
        *,
        kind: str | None = None,
        transaction_id: str | None = None,
    ) -> int:
        """Queue a message, durably, before it is sent; returns its sequence number."""
        with transaction(self._db) as db:
            cursor = db.execute(
                "INSERT INTO outbox (action, payload, kind, transaction_id) VALUES (?, ?, ?, ?)",
                (action, payload, kind or action, transaction_id),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def head(self) -> QueuedMessage | None:
        """The oldest message, which must go before any other; None if the queue is empty."""
        row = self._db.execute(
            "SELECT seq, action, payload, kind, transaction_id, transmissions, not_before"
            " FROM outbox ORDER BY seq LIMIT 1"
        ).fetchone()
        return None if row is None else QueuedMessage(*row)

    def due(self, now: float) -> QueuedMessage | None:
        """The head, if it may be sent at `now`."""
        head = self.head()
        return head if head is not None and head.not_before <= now else None

    def delivered(self, seq: int) -> None:
        """The CSMS answered it: it leaves the queue."""
        with transaction(self._db) as db:
            db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def failed(self, seq: int, now: float) -> bool:
        """The CSMS refused it or did not answer in time. Returns True if it was given up."""
        message = self._get(seq)
        if message is None:
            return False
        transmissions = message.transmissions + 1
        policy = self._policies.get(message.kind, RetryPolicy(attempts=1, interval_s=0.0))
        with transaction(self._db) as db:
            if transmissions >= policy.attempts:
                db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                return True
            not_before = now + policy.interval_s * transmissions + self.message_timeout_s
            db.execute(
                "UPDATE outbox SET transmissions = ?, not_before = ? WHERE seq = ?",
                (transmissions, not_before, seq),
            )
        return False

    def pending(self, transaction_id: str | None = None) -> int:
        """Messages waiting, all of them or those of one transaction (GetTransactionStatus)."""
        if transaction_id is None:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        else:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE transaction_id = ?", (transaction_id,)
            ).fetchone()
        return int(count)

    def __len__(self) -> int:
        return self.pending()

    def _get(self, seq: int) -> QueuedMessage | None:
        row = self._db.execute(
            "SELECT seq, action, payload, kind, transaction_id, transmissions, not_before"
            " FROM outbox WHERE seq = ?",
            (seq,),
        ).fetchone()
        return None if row is None else QueuedMessage(*row)
