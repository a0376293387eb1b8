"""The EV (PEV) side of matching, ISO 15118-3 Annex A.9 (sans-IO; see core.py).

One run: CM_SLAC_PARM.REQ (broadcast, retried) -> the first CM_SLAC_PARM.CNF starts
sounding: 3 CM_START_ATTEN_CHAR.IND then 10 CM_MNBC_SOUND.IND, TP_EV_batch_msg_interval
apart -> for TT_EV_atten_results every EVSE that heard the sounds sends CM_ATTEN_CHAR.IND,
each answered with CM_ATTEN_CHAR.RSP -> the EVSE with the lowest attenuation (averaged over
its carrier groups) gets CM_SLAC_MATCH.REQ (retried) -> its CM_SLAC_MATCH.CNF carries NID
and NMK -> CM_SET_KEY.REQ to the local modem -> the modem joins within TT_match_join ->
Matched.

A failed run is retried after TT_matching_rate, C_conn_max_match times, as long as the
retry starts within TT_matching_repetition of the first run; then MatchFailed(final=True).
A lost link after a match leaves the network (a fresh random key) and starts matching again
after T_conn_resetup (option B of V2G3-M07-14: the EV keeps its control pilot state).
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Hashable

from evstack.hlc.slac import messages, timing
from evstack.hlc.slac.core import LOCAL_MODEM, LinkLost, Matched, MatchFailed, Random, SlacCore

_log = logging.getLogger(__name__)


class EvState(enum.Enum):
    IDLE = "idle"  # not plugged in, or stopped
    PARM = "parm"  # CM_SLAC_PARM.REQ sent, no confirmation yet
    SOUNDING = "sounding"  # sounds going out, attenuation results coming in
    MATCHING = "matching"  # CM_SLAC_MATCH.REQ sent
    SETTING_KEY = "setting_key"  # CM_SET_KEY.REQ sent to the modem
    JOINING = "joining"  # key set, waiting for the logical network
    MATCHED = "matched"
    WAITING = "waiting"  # before a retry or a re-setup
    FAILED = "failed"  # gave up; Unmatched until start() again


class EvSlac(SlacCore):
    """An EV's matching process. `start(now)` on plug-in (control pilot state B)."""

    def __init__(
        self,
        mac: bytes,
        *,
        max_attenuation_db: float | None = None,
        modem_mac: bytes = LOCAL_MODEM,
        random: Random = os.urandom,
    ):
        super().__init__(mac, modem_mac=modem_mac, random=random)
        # EVSEs heard above this (average dB) are not candidates: crosstalk, not our cable.
        self.max_attenuation_db = max_attenuation_db
        self.state = EvState.IDLE
        self.matched: Matched | None = None
        self.chosen: bytes | None = None  # the EVSE this run asked to match
        self.attenuations: dict[bytes, float] = {}  # this run: EVSE MAC -> average dB
        self._run_id = bytes(messages.RUN_ID_LEN)
        self._sends = 0  # transmissions of the current request
        self._batch_sent = 0
        self._retries = 0
        self._first_run = 0.0
        self._nmk: bytes | None = None  # the key the modem holds from this run's match

    def start(self, now: float) -> None:
        """A new matching process, its retry count and repetition window reset."""
        self._timers.clear()
        self._retries = 0
        self._first_run = now
        self._begin_run(now)

    def stop(self, now: float) -> None:
        """Unplugged: forget the run and leave any logical network."""
        self._timers.clear()
        if self._nmk is not None:
            self._leave()
        self.matched = None
        self.state = EvState.IDLE

    # --- a run --------------------------------------------------------------------------------

    def _begin_run(self, now: float) -> None:
        self._run_id = self._random(messages.RUN_ID_LEN)
        self.attenuations = {}
        self.chosen = None
        self._sends = 0
        self.state = EvState.PARM
        self._send_request(now)

    def _send_request(self, now: float) -> None:
        """(Re)send the request of the current state and wait TT_match_response for it."""
        self._sends += 1
        if self.state is EvState.PARM:
            self._send(messages.BROADCAST, messages.SlacParmReq(self._run_id))
        else:
            assert self.chosen is not None
            self._send(self.chosen, messages.SlacMatchReq(self.mac, self.chosen, self._run_id))
        self._arm("response", now + timing.TT_MATCH_RESPONSE)

    def _handle(self, frame: messages.Frame, message: messages.SlacMessage, now: float) -> None:
        if isinstance(message, messages.SetKeyCnf):
            self._on_set_key(message, now)
            return
        if getattr(message, "run_id", None) != self._run_id:
            return  # another run, another EV's exchange, or a stale answer
        if isinstance(message, messages.SlacParmCnf) and self.state is EvState.PARM:
            if message.forwarding_sta == self.mac:
                self._begin_sounding(now)
        elif isinstance(message, messages.AttenCharInd) and self.state is EvState.SOUNDING:
            if message.source_address == self.mac:
                average = sum(message.aag) / len(message.aag)
                self.attenuations[frame.source] = average
                self._send(frame.source, messages.AttenCharRsp(self.mac, self._run_id))
        elif isinstance(message, messages.SlacMatchCnf) and self.state is EvState.MATCHING:
            if (message.pev_mac, message.evse_mac, frame.source) != (
                self.mac,
                self.chosen,
                self.chosen,
            ):
                _log.info("%s: CM_SLAC_MATCH.CNF for another pair ignored", self.mac.hex(":"))
                return
            self._cancel("response")
            self._nmk = message.nmk
            self.state = EvState.SETTING_KEY
            self._sends = 1
            self._set_key(message.nmk)
            self._arm("set_key", now + timing.TT_SET_KEY)

    def _begin_sounding(self, now: float) -> None:
        self._cancel("response")
        self.state = EvState.SOUNDING
        self._batch_sent = 0
        self._send_batch_message(now)
        # V2G3-A09-30: TT_EV_atten_results runs from the first CM_START_ATTEN_CHAR.IND.
        self._arm("results", now + timing.TT_EV_ATTEN_RESULTS)

    def _send_batch_message(self, now: float) -> None:
        starts = timing.C_EV_START_ATTEN_CHAR_INDS
        total = starts + timing.C_EV_MATCH_MNBC
        message: messages.Message
        if self._batch_sent < starts:
            message = messages.StartAttenCharInd(
                timing.C_EV_MATCH_MNBC,
                round(timing.TT_EVSE_MATCH_MNBC / timing.TIMEOUT_UNIT),
                self.mac,
                self._run_id,
            )
        else:
            remaining = total - self._batch_sent - 1
            message = messages.MnbcSoundInd(remaining, self._run_id, self._random(16))
        self._send(messages.BROADCAST, message)
        self._batch_sent += 1
        if self._batch_sent < total:
            self._arm("batch", now + timing.TP_EV_BATCH_MSG_INTERVAL)

    def _decide(self, now: float) -> None:
        if not self.attenuations:
            self._fail_run("no CM_ATTEN_CHAR.IND within TT_EV_atten_results", now)
            return
        limit = self.max_attenuation_db
        candidates = {
            mac: db for mac, db in self.attenuations.items() if limit is None or db <= limit
        }
        if not candidates:
            self._fail_run(f"every EVSE heard is above {limit} dB", now)
            return
        # The lowest attenuation is the cable we are plugged into; ties go to the lower MAC.
        self.chosen = min(candidates, key=lambda mac: (candidates[mac], mac))
        self.state = EvState.MATCHING
        self._sends = 0
        self._send_request(now)

    def _on_set_key(self, message: messages.SetKeyCnf, now: float) -> None:
        if self.state is not EvState.SETTING_KEY:
            return  # the answer to a leave
        self._cancel("set_key")
        if message.result != messages.SET_KEY_SUCCESS:
            self._fail_run(f"the modem refused the key (result {message.result})", now)
            return
        self.state = EvState.JOINING
        if self._link_up:
            self._on_matched()
        else:
            self._arm("join", now + timing.TT_MATCH_JOIN)

    def _on_link(self, up: bool, now: float) -> None:
        if up and self.state is EvState.JOINING:
            self._cancel("join")
            self._on_matched()
        elif not up and self.state is EvState.MATCHED:
            assert self.matched is not None
            self._emit(LinkLost(self.matched.peer))
            self.matched = None
            self._leave()
            self.state = EvState.WAITING
            self._arm("resetup", now + timing.T_CONN_RESETUP)

    def _on_matched(self) -> None:
        assert self.chosen is not None
        assert self._nmk is not None
        self.state = EvState.MATCHED
        nid = messages.nid_from_nmk(self._nmk)
        self.matched = Matched(self.chosen, self._run_id, nid, self._nmk)
        self._emit(self.matched)

    def _expired(self, key: Hashable, now: float) -> None:
        if key == "response":
            if self._sends <= timing.C_EV_MATCH_RETRY:
                self._send_request(now)
            elif self.state is EvState.PARM:
                self._fail_run("no CM_SLAC_PARM.CNF", now)
            else:
                self._fail_run("no CM_SLAC_MATCH.CNF", now)
        elif key == "batch":
            self._send_batch_message(now)
        elif key == "results":
            self._cancel("batch")
            self._decide(now)
        elif key == "set_key":
            if self._sends <= timing.C_EV_MATCH_RETRY:
                assert self._nmk is not None
                self._sends += 1
                self._set_key(self._nmk)
                self._arm("set_key", now + timing.TT_SET_KEY)
            else:
                self._fail_run("no CM_SET_KEY.CNF from the modem", now)
        elif key == "join":
            self._fail_run("no logical network within TT_match_join", now)
        elif key == "retry":
            self._begin_run(now)
        elif key == "resetup":
            self.start(now)  # V2G3-M08-02: the successful match reset the counters

    def _fail_run(self, reason: str, now: float) -> None:
        self._timers.clear()
        if self._nmk is not None:
            self._leave()
        retry_at = now + timing.TT_MATCHING_RATE
        final = (
            self._retries >= timing.C_CONN_MAX_MATCH
            or retry_at - self._first_run > timing.TT_MATCHING_REPETITION
        )
        self._emit(MatchFailed(reason, final))
        if final:
            self.state = EvState.FAILED
            return
        self._retries += 1
        self.state = EvState.WAITING
        self._arm("retry", retry_at)

    def _leave(self) -> None:
        """Leave the logical network: the modem gets a random key nobody else holds."""
        self._nmk = None
        self._set_key(self._new_nmk())
