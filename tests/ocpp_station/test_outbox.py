"""The outbox: what a station owes its CSMS survives anything and leaves in order, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evstack.ocpp.outbox import Outbox, RetryPolicy
from evstack.runtime.state import open_database

pytestmark = pytest.mark.timeout(30)

TX = "TransactionEvent"
POLICIES = {TX: RetryPolicy(attempts=3, interval_s=10.0)}
TIMEOUT_S = 30.0


def outbox(folder: Path) -> Outbox:
    return Outbox(open_database(folder / "station.db"), POLICIES, message_timeout_s=TIMEOUT_S)


def test_messages_leave_in_order_and_only_when_answered(tmp_path: Path) -> None:
    box = outbox(tmp_path)
    first = box.put(TX, b'{"seqNo":0}', transaction_id="t1")
    box.put(TX, b'{"seqNo":1}', transaction_id="t1")
    head = box.head()
    assert head is not None
    assert box.due(0.0) == head
    assert head.seq == first
    box.delivered(first)
    head = box.head()
    assert head is not None
    assert head.payload == b'{"seqNo":1}'
    assert box.pending("t1") == 1
    assert box.pending("t2") == 0


def test_retries_wait_interval_times_transmissions_plus_the_timeout_then_give_up(
    tmp_path: Path,
) -> None:
    # As Part 6's TC_E_41_CS measures it: after the n-th unanswered transmission the next one
    # waits MessageAttemptIntervalTransactionEvent x n + MessageTimeout.
    box = outbox(tmp_path)
    seq = box.put(TX, b"{}")
    behind = box.put(TX, b'{"next":true}')
    assert not box.failed(seq, now=100.0)
    assert box.due(100.0 + 10.0 + TIMEOUT_S - 0.001) is None
    assert box.due(100.0 + 10.0 + TIMEOUT_S) is not None
    assert not box.failed(seq, now=200.0)
    assert box.due(200.0 + 20.0 + TIMEOUT_S - 0.001) is None
    assert box.failed(seq, now=300.0)  # the third transmission was the last
    head = box.head()
    assert head is not None
    assert head.seq == behind  # the queue moves on


def test_a_kind_without_a_policy_is_sent_once(tmp_path: Path) -> None:
    box = outbox(tmp_path)
    seq = box.put("SecurityEventNotification", b"{}")
    assert box.failed(seq, now=0.0)
    assert len(box) == 0


def test_the_csms_may_change_the_policy(tmp_path: Path) -> None:
    box = outbox(tmp_path)
    box.set_policy(TX, RetryPolicy(attempts=1, interval_s=0.0))
    assert box.failed(box.put(TX, b"{}"), now=0.0)


def test_what_is_queued_survives_reopening_and_is_due_at_once(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    box = Outbox(db, POLICIES, message_timeout_s=TIMEOUT_S)
    seq = box.put(TX, b"{}")
    box.failed(seq, now=1_000_000.0)  # its retry time means nothing after a restart
    db.close()
    reopened = outbox(tmp_path)
    due = reopened.due(0.0)
    assert due is not None
    assert (due.seq, due.transmissions) == (seq, 1)


_WRITER = """
import sys
from pathlib import Path
from evstack.ocpp.outbox import Outbox
from evstack.runtime.state import open_database
box = Outbox(open_database(Path(sys.argv[1])), {}, 30.0)
n = 0
while True:
    box.put("TransactionEvent", b'{"seqNo":%d}' % n)
    print(n, flush=True)  # only once the put has returned
    n += 1
"""


def test_a_killed_station_loses_no_queued_message(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    confirmed = -1
    while confirmed < 100:
        confirmed = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    box = Outbox(open_database(path), {}, 30.0)
    payloads = []
    while (head := box.head()) is not None:
        payloads.append(head.payload)
        box.delivered(head.seq)
    assert payloads[: confirmed + 1] == [b'{"seqNo":%d}' % n for n in range(confirmed + 1)]
