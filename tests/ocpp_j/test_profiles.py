"""The connection policy on its own: the back-off of Part 4 section 5.3, slot priorities,
attempts per slot, the fallback of B10, and no downgrade."""

from __future__ import annotations

import itertools

import pytest

from evstack.ocpp.j import (
    ConnectionPolicy,
    NetworkProfile,
    NoUsableProfileError,
    RetryBackOff,
    SecurityProfile,
    Upgrade,
)

pytestmark = pytest.mark.timeout(10)

ONE, TWO, THREE = (
    SecurityProfile.BASIC_AUTH,
    SecurityProfile.TLS_BASIC_AUTH,
    SecurityProfile.TLS_CLIENT_CERTIFICATE,
)


def slot(number: int, security: SecurityProfile = ONE) -> NetworkProfile:
    scheme = "ws" if security is ONE else "wss"
    return NetworkProfile(number, f"{scheme}://csms-{number}.test/ocpp", security)


def no_random() -> float:
    return 0.0


def test_back_off_doubles_as_often_as_configured_then_stays() -> None:
    """TC_B_57 with RetryBackOffRepeatTimes 2 and no random part: minimum, 2x, 4x, 4x."""
    policy = ConnectionPolicy(
        [slot(1)], [1], security_profile=ONE, backoff=RetryBackOff(5, 0, 2), random=no_random
    )
    assert policy.next_attempt().delay == 0  # at start: at once
    waits = []
    for _ in range(5):
        policy.failed()
        waits.append(policy.next_attempt().delay)
    assert waits == [5, 10, 20, 20, 20]


def test_after_a_connection_loss_the_first_wait_is_the_minimum_again() -> None:
    policy = ConnectionPolicy(
        [slot(1)], [1], security_profile=ONE, backoff=RetryBackOff(5, 0, 3), random=no_random
    )
    policy.failed()
    policy.failed()
    policy.connected(policy.next_attempt().profile)
    policy.disconnected()
    assert policy.next_attempt().delay == 5
    policy.failed()
    assert policy.next_attempt().delay == 10


def test_a_fresh_random_part_up_to_the_range_is_added_to_every_wait() -> None:
    draws = itertools.cycle([0.25, 1.0, 0.0])
    policy = ConnectionPolicy(
        [slot(1)],
        [1],
        security_profile=ONE,
        backoff=RetryBackOff(10, 4, 1),
        random=lambda: next(draws),
    )
    waits = []
    for _ in range(3):
        policy.failed()
        waits.append(policy.next_attempt().delay)
    assert waits == [10 + 1, 20 + 4, 20 + 0]


def attempts(policy: ConnectionPolicy, count: int) -> list[int]:
    """The slots of `count` attempts that all fail."""
    slots = []
    for _ in range(count):
        slots.append(policy.next_attempt().profile.slot)
        policy.failed()
    return slots


def test_slots_are_tried_by_priority_each_for_its_attempts() -> None:
    """TC_B_46: NetworkProfileConnectionAttempts per slot, then the next in priority."""
    policy = ConnectionPolicy(
        [slot(1), slot(2), slot(3)], [3, 1, 2], security_profile=ONE, attempts_per_profile=2
    )
    assert attempts(policy, 8) == [3, 3, 1, 1, 2, 2, 3, 3]


def test_the_last_connected_profile_is_the_fallback_after_the_priority_list() -> None:
    """TC_B_49: the priority list names only the new slot; when it fails, the station goes
    back to the profile it was connected with."""
    policy = ConnectionPolicy([slot(1), slot(2)], [2], security_profile=ONE, last_connected=1)
    assert attempts(policy, 4) == [2, 1, 2, 1]


def test_after_a_loss_the_slot_that_was_connected_is_tried_first() -> None:
    policy = ConnectionPolicy([slot(1), slot(2)], [1, 2], security_profile=ONE)
    assert attempts(policy, 1) == [1]
    policy.connected(policy.next_attempt().profile)
    policy.disconnected()
    assert attempts(policy, 3) == [2, 1, 2]


def test_slots_below_the_station_security_profile_are_never_tried() -> None:
    policy = ConnectionPolicy(
        [slot(1, ONE), slot(2, TWO), slot(3, THREE)],
        [1, 2, 3],
        security_profile=TWO,
        last_connected=1,
    )
    assert attempts(policy, 4) == [2, 3, 2, 3]


def test_without_a_slot_at_the_security_profile_nothing_is_tried() -> None:
    policy = ConnectionPolicy([slot(1, ONE)], [1], security_profile=TWO)
    with pytest.raises(NoUsableProfileError):
        policy.next_attempt()


def test_connecting_with_a_higher_profile_raises_the_station_and_drops_lower_slots() -> None:
    policy = ConnectionPolicy(
        [slot(1, ONE), slot(2, TWO), slot(3, THREE), slot(4, ONE)], [2, 1, 3], security_profile=ONE
    )
    upgrade = policy.connected(policy.next_attempt().profile)
    assert upgrade == Upgrade(TWO, (2, 3), (1, 4))
    assert policy.security_profile is TWO
    assert sorted(policy.profiles) == [2, 3]
    assert policy.connected(policy.profiles[2]) is None  # no upgrade the second time
    policy.disconnected()
    assert attempts(policy, 3) == [2, 3, 2]


def test_a_new_priority_list_starts_over() -> None:
    policy = ConnectionPolicy([slot(1), slot(2)], [1, 2], security_profile=ONE)
    attempts(policy, 1)
    policy.configure([slot(1), slot(2)], [2, 1])
    assert attempts(policy, 2) == [2, 1]
