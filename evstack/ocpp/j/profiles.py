"""Which CSMS to connect to, with which security profile, and when: the connection policy.

No I/O here: the client asks `next_attempt()` for a profile and a delay and reports back
`failed()`, `connected()` or `disconnected()`. The station builds the policy from its device
model (OCPPCommCtrlr.NetworkConfigurationPriority, NetworkProfileConnectionAttempts, the
RetryBackOff variables, SecurityCtrlr.SecurityProfile) and persists what `connected` reports.

- Slots are tried in NetworkConfigurationPriority's order, each NetworkProfileConnectionAttempts
  times before the next (B10); after the last, the profile the station last connected with
  follows even if the priority list no longer names it (B10.FR.07, TC_B_49), then it starts
  over. After a connection loss the slot that was connected is tried first.
- No downgrade: a slot whose security profile is below the station's is never tried, and a
  connection with a higher one raises the station's and drops the lower slots (A05).
- Back-off (Part 4, 5.3): the first attempt at start goes at once; after a loss or a failure
  the wait is RetryBackOffWaitMinimum doubled once per failed attempt, at most
  RetryBackOffRepeatTimes times, plus a fresh random part of up to RetryBackOffRandomRange
  (drawn at every attempt, so that stations a CSMS restart dropped do not come back in step).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from evstack.ocpp.j.security import SecurityProfile

__all__ = [
    "Attempt",
    "ConnectionPolicy",
    "NetworkProfile",
    "NoUsableProfileError",
    "RetryBackOff",
    "Upgrade",
]


@dataclass(frozen=True)
class NetworkProfile:
    """A NetworkConnectionProfile in a configuration slot (what the client needs of it)."""

    slot: int  # configurationSlot
    url: str  # ocppCsmsUrl: the CSMS's OCPP-J endpoint, without the station's id
    security_profile: SecurityProfile
    message_timeout: float = 30.0  # messageTimeout, seconds


@dataclass(frozen=True)
class RetryBackOff:
    """OCPPCommCtrlr.RetryBackOffWaitMinimum, RetryBackOffRandomRange (seconds) and
    RetryBackOffRepeatTimes."""

    wait_minimum: float = 10.0
    random_range: float = 10.0
    repeat_times: int = 5

    def delay(self, failures: int, random: Callable[[], float]) -> float:
        """The wait before a reconnection attempt that follows `failures` failed ones."""
        doubled = self.wait_minimum * (1 << min(failures, self.repeat_times))
        return doubled + random() * self.random_range


@dataclass(frozen=True)
class Attempt:
    """Connect with `profile` after waiting `delay` seconds."""

    profile: NetworkProfile
    delay: float


@dataclass(frozen=True)
class Upgrade:
    """A connection raised the station's security profile: what to persist."""

    security_profile: SecurityProfile  # SecurityCtrlr.SecurityProfile
    priority: tuple[int, ...]  # NetworkConfigurationPriority without the lower slots
    removed: tuple[int, ...]  # the slots whose profiles the station should delete


class NoUsableProfileError(RuntimeError):
    """No configured slot may be tried: none is listed, or all are below the security profile."""


class ConnectionPolicy:
    """The station's choice of connection profile and back-off (see the module's doc)."""

    def __init__(
        self,
        profiles: Iterable[NetworkProfile],
        priority: Sequence[int],
        *,
        security_profile: SecurityProfile,
        attempts_per_profile: int = 1,
        backoff: RetryBackOff | None = None,
        last_connected: int | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.security_profile = security_profile
        self.attempts_per_profile = max(1, attempts_per_profile)
        self.backoff = backoff or RetryBackOff()
        self.last_connected = last_connected  # a slot; the fallback of B10.FR.07
        self._random = random
        self._waits: int | None = None  # doublings of the next wait; None: go at once
        self.configure(profiles, priority)

    def configure(self, profiles: Iterable[NetworkProfile], priority: Sequence[int]) -> None:
        """New slots or a new NetworkConfigurationPriority: the next attempt starts over."""
        self.profiles = {profile.slot: profile for profile in profiles}
        self.priority = tuple(priority)
        self._index = 0
        self._tries = 0

    def candidates(self) -> list[NetworkProfile]:
        """The profiles to try, in order."""
        slots = list(self.priority)
        if self.last_connected is not None and self.last_connected not in slots:
            slots.append(self.last_connected)
        return [
            self.profiles[slot]
            for slot in slots
            if slot in self.profiles
            and self.profiles[slot].security_profile >= self.security_profile
        ]

    def next_attempt(self) -> Attempt:
        candidates = self.candidates()
        if not candidates:
            raise NoUsableProfileError(
                f"no connection profile among slots {list(self.priority)} "
                f"has security profile {self.security_profile.value} or higher"
            )
        profile = candidates[self._index % len(candidates)]
        delay = 0.0 if self._waits is None else self.backoff.delay(self._waits, self._random)
        return Attempt(profile, delay)

    def failed(self) -> None:
        """The attempt failed: back off further, and move on once the slot had its tries."""
        self._waits = 0 if self._waits is None else self._waits + 1
        self._tries += 1
        if self._tries >= self.attempts_per_profile:
            self._index += 1
            self._tries = 0

    def connected(self, profile: NetworkProfile) -> Upgrade | None:
        """The attempt with `profile` succeeded; an `Upgrade` if it raised the security profile."""
        self._waits = None
        self._tries = 0
        self.last_connected = profile.slot
        upgrade = None
        if profile.security_profile > self.security_profile:
            self.security_profile = profile.security_profile
            removed = tuple(
                slot
                for slot, kept in self.profiles.items()
                if kept.security_profile < profile.security_profile
            )
            self.configure(
                [kept for kept in self.profiles.values() if kept.slot not in removed],
                [slot for slot in self.priority if slot not in removed],
            )
            upgrade = Upgrade(self.security_profile, self.priority, removed)
        slots = [candidate.slot for candidate in self.candidates()]
        self._index = slots.index(profile.slot) if profile.slot in slots else 0
        return upgrade

    def disconnected(self) -> None:
        """The connection was lost: the same slot first, after the first back-off wait."""
        self._waits = 0
        self._tries = 0
