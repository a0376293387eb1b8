"""The EVSE side of matching, ISO 15118-3 Annex A.9 (sans-IO; see core.py).

`start(now)` when an EV is plugged in: the EVSE picks a fresh NMK, hands it to its modem
(CM_SET_KEY) and listens. Every EV it hears gets a matching session of its own, up to
C_EVSE_match_parallel at once, since a charger also hears the EVs of its neighbours:

    CM_SLAC_PARM.REQ -> CNF; within TT_match_sequence the first CM_START_ATTEN_CHAR.IND;
    for TT_EVSE_match_MNBC (the time-out the EV gave) the modem reports one
    CM_ATTEN_PROFILE.IND per sound heard; their average goes back in CM_ATTEN_CHAR.IND
    (retried until CM_ATTEN_CHAR.RSP); within TT_EVSE_match_session the EV that chose
    this EVSE sends CM_SLAC_MATCH.REQ and gets NID and NMK in CM_SLAC_MATCH.CNF.

Sessions of EVs that chose another EVSE run out silently. After the CNF the EV has
TT_match_join to join; then Matched. A lost link leaves the network with a new key
(V2G3-M07-06) and waits for the next matching request.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Hashable

from evstack.hlc.slac import messages, timing
from evstack.hlc.slac.core import (
    LOCAL_MODEM,
    LinkLost,
    Matched,
    MatchFailed,
    Random,
    SlacCore,
    SlacInitTimeout,
)


class EvseState(enum.Enum):
    IDLE = "idle"  # no EV plugged in
    KEYING = "keying"  # CM_SET_KEY.REQ sent to the modem
    LISTENING = "listening"  # ready for matching requests
    JOINING = "joining"  # CM_SLAC_MATCH.CNF sent, waiting for the EV in the network
    MATCHED = "matched"


class Phase(enum.Enum):
    PARM = "parm"  # CNF sent, waiting for CM_START_ATTEN_CHAR.IND
    SOUNDING = "sounding"  # collecting attenuation profiles
    CHARACTERISED = "characterised"  # CM_ATTEN_CHAR.IND sent, waiting for the RSP
    WAIT_MATCH = "wait_match"  # waiting for CM_SLAC_MATCH.REQ


@dataclasses.dataclass
class _Session:
    ev: bytes
    run_id: bytes
    phase: Phase = Phase.PARM
    expected: int = 0
    heard: int = 0
    sums: list[int] = dataclasses.field(default_factory=list)
    sends: int = 0
    result: messages.AttenCharInd | None = None


class EvseSlac(SlacCore):
    """One charging outlet's matching process."""

    def __init__(
        self,
        mac: bytes,
        *,
        slac_init_timeout: float = timing.TT_EVSE_SLAC_INIT,
        modem_mac: bytes = LOCAL_MODEM,
        random: Random = os.urandom,
    ):
        super().__init__(mac, modem_mac=modem_mac, random=random)
        self.slac_init_timeout = slac_init_timeout
        self.state = EvseState.IDLE
        self.matched: Matched | None = None
        self.sessions: dict[bytes, _Session] = {}
        self.nmk = bytes(messages.NMK_LEN)
        self._match: tuple[bytes, bytes] | None = None  # (EV, run id) given the key
        self._key_sends = 0

    def start(self, now: float) -> None:
        """An EV is plugged in: a new logical network, and TT_EVSE_SLAC_init runs."""
        self._reset(now)
        self._arm("slac_init", now + self.slac_init_timeout)

    def stop(self, now: float) -> None:
        """Unplugged: drop every session and leave the network."""
        self._timers.clear()
        self.sessions.clear()
        self._match = None
        self.matched = None
        self._set_key(self._new_nmk())
        self.state = EvseState.IDLE

    @property
    def nid(self) -> bytes:
        return messages.nid_from_nmk(self.nmk)

    def _reset(self, now: float) -> None:
        """A fresh NMK for the modem; any session and match are gone."""
        self._timers.clear()
        self.sessions.clear()
        self._match = None
        self.matched = None
        self.nmk = self._new_nmk()
        self.state = EvseState.KEYING
        self._key_sends = 1
        self._set_key(self.nmk)
        self._arm("set_key", now + timing.TT_SET_KEY)

    # --- frames ---------------------------------------------------------------------------------

    def _handle(self, frame: messages.Frame, message: messages.SlacMessage, now: float) -> None:
        if isinstance(message, messages.SetKeyCnf):
            if self.state is EvseState.KEYING:
                self._cancel("set_key")
                self.state = EvseState.LISTENING
            return
        if self.state is EvseState.IDLE or self.state is EvseState.KEYING:
            return
        if isinstance(message, messages.SlacParmReq):
            self._on_parm(frame.source, message, now)
        elif isinstance(message, messages.AttenProfileInd):
            self._on_profile(message, now)
        elif isinstance(message, messages.SlacMatchReq):
            self._on_match(frame.source, message, now)
        elif isinstance(message, messages.StartAttenCharInd | messages.AttenCharRsp):
            session = self.sessions.get(frame.source)
            if session is None or session.run_id != message.run_id:
                return
            if isinstance(message, messages.StartAttenCharInd):
                self._on_start(session, message, now)
            elif session.phase is Phase.CHARACTERISED and message.source_address == session.ev:
                session.phase = Phase.WAIT_MATCH
                self._arm(("session", session.ev), now + timing.TT_EVSE_MATCH_SESSION)

    def _on_parm(self, ev: bytes, message: messages.SlacParmReq, now: float) -> None:
        if self._match is not None:
            if self._match[0] != ev or self._match[1] == message.run_id:
                return  # taken; or a stray repeat of the run that matched
            self._abandon_match()  # the matched EV gave up on joining and starts over
        self._cancel("slac_init")
        session = self.sessions.get(ev)
        if session is None or session.run_id != message.run_id:
            if session is None and len(self.sessions) >= timing.C_EVSE_MATCH_PARALLEL:
                return
            session = _Session(ev, message.run_id)
            self.sessions[ev] = session
        elif session.phase is not Phase.PARM:
            return
        # A repeated request means our CNF was lost: confirm again.
        self._send(
            ev,
            messages.SlacParmCnf(
                ev,
                message.run_id,
                timing.C_EV_MATCH_MNBC,
                round(timing.TT_EVSE_MATCH_MNBC / timing.TIMEOUT_UNIT),
            ),
        )
        self._arm(("session", ev), now + timing.TT_MATCH_SEQUENCE)

    def _on_start(self, session: _Session, message: messages.StartAttenCharInd, now: float) -> None:
        if session.phase is not Phase.PARM or message.forwarding_sta != session.ev:
            return  # the 2nd and 3rd indications repeat the 1st
        session.phase = Phase.SOUNDING
        session.expected = message.num_sounds
        window = message.time_out * timing.TIMEOUT_UNIT or timing.TT_EVSE_MATCH_MNBC
        self._arm(("session", session.ev), now + window)

    def _on_profile(self, message: messages.AttenProfileInd, now: float) -> None:
        session = self.sessions.get(message.pev_mac)
        if session is None or session.phase is not Phase.SOUNDING:
            return
        if not session.sums:
            session.sums = [0] * len(message.aag)
        if len(message.aag) != len(session.sums):
            return  # a profile of another shape cannot be averaged with the others
        session.sums = [a + b for a, b in zip(session.sums, message.aag, strict=True)]
        session.heard += 1
        if session.heard >= session.expected:
            self._characterise(session, now)

    def _characterise(self, session: _Session, now: float) -> None:
        n = session.heard
        average = tuple((total + n // 2) // n for total in session.sums)
        session.result = messages.AttenCharInd(session.ev, session.run_id, n, average)
        session.phase = Phase.CHARACTERISED
        session.sends = 0
        self._send_result(session, now)

    def _send_result(self, session: _Session, now: float) -> None:
        assert session.result is not None
        session.sends += 1
        self._send(session.ev, session.result)
        self._arm(("session", session.ev), now + timing.TT_MATCH_RESPONSE)

    def _on_match(self, ev: bytes, message: messages.SlacMatchReq, now: float) -> None:
        if message.evse_mac != self.mac or message.pev_mac != ev:
            return  # addressed to us but naming another pair: not a request we can grant
        if self._match is not None:
            if self._match == (ev, message.run_id):
                self._confirm(ev, message.run_id)  # our CNF was lost
            return
        session = self.sessions.get(ev)
        if session is None or session.run_id != message.run_id:
            return
        if session.phase not in (Phase.CHARACTERISED, Phase.WAIT_MATCH):
            return
        # One EV per outlet: the other EVs' sessions end here.
        self._timers = {k: t for k, t in self._timers.items() if not _is_session(k)}
        self.sessions.clear()
        self._match = (ev, message.run_id)
        self._confirm(ev, message.run_id)
        self.state = EvseState.JOINING
        if self._link_up:
            self._on_matched()
        else:
            self._arm("join", now + timing.TT_MATCH_JOIN)

    def _confirm(self, ev: bytes, run_id: bytes) -> None:
        self._send(ev, messages.SlacMatchCnf(ev, self.mac, run_id, self.nid, self.nmk))

    def _abandon_match(self) -> None:
        self._cancel("join")
        self._match = None
        self.state = EvseState.LISTENING

    # --- link and time --------------------------------------------------------------------------

    def _on_link(self, up: bool, now: float) -> None:
        if up and self.state is EvseState.JOINING:
            self._cancel("join")
            self._on_matched()
        elif not up and self.state is EvseState.MATCHED:
            assert self.matched is not None
            self._emit(LinkLost(self.matched.peer))
            self.start(now)  # V2G3-M07-06: leave the network; ready for a new match

    def _on_matched(self) -> None:
        assert self._match is not None
        self.state = EvseState.MATCHED
        self.matched = Matched(self._match[0], self._match[1], self.nid, self.nmk)
        self._emit(self.matched)

    def _expired(self, key: Hashable, now: float) -> None:
        if key == "slac_init":
            self._emit(SlacInitTimeout())
        elif key == "set_key":
            if self._key_sends > timing.C_EV_MATCH_RETRY:
                self._emit(MatchFailed("no CM_SET_KEY.CNF from the modem", final=True))
                self.state = EvseState.IDLE
                return
            self._key_sends += 1
            self._set_key(self.nmk)
            self._arm("set_key", now + timing.TT_SET_KEY)
        elif key == "join":
            self._emit(MatchFailed("the EV did not join within TT_match_join", final=False))
            self.start(now)
        elif _is_session(key):
            assert isinstance(key, tuple)
            self._session_timer(self.sessions[key[1]], now)

    def _session_timer(self, session: _Session, now: float) -> None:
        if session.phase is Phase.SOUNDING and session.heard:
            self._characterise(session, now)  # TT_EVSE_match_MNBC is over: use what came
        elif session.phase is Phase.CHARACTERISED and session.sends <= timing.C_EV_MATCH_RETRY:
            self._send_result(session, now)
        else:
            # No sounds, no RSP after the retries, or no CM_SLAC_MATCH.REQ: this EV matched
            # elsewhere or gave up.
            del self.sessions[session.ev]


def _is_session(key: Hashable) -> bool:
    return isinstance(key, tuple) and key[0] == "session"
