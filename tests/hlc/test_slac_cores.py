"""The EV and EVSE state machines against each other on the simulated link (simulated time)."""

from __future__ import annotations

import random

import pytest

from evstack.hlc.slac import (
    EvseSlac,
    EvseState,
    EvSlac,
    EvState,
    LinkLost,
    Matched,
    MatchFailed,
    SimulatedLink,
    SlacInitTimeout,
    messages,
    timing,
)
from evstack.hlc.slac.modem import BEACON_MMTYPE

pytestmark = pytest.mark.timeout(30)

EV1, EV2 = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
EVSE1, EVSE2 = bytes.fromhex("0a0000000001"), bytes.fromhex("0a0000000002")


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


def scene(
    *,
    evs: tuple[bytes, ...] = (EV1,),
    evses: tuple[bytes, ...] = (EVSE1,),
    max_attenuation_db: float | None = None,
) -> SimulatedLink:
    link = SimulatedLink()
    for n, mac in enumerate(evses):
        link.add_evse(EvseSlac(mac, random=seeded(100 + n).randbytes))
    for n, mac in enumerate(evs):
        car = EvSlac(mac, random=seeded(n).randbytes, max_attenuation_db=max_attenuation_db)
        link.add_ev(car)
    return link


def ev(link: SimulatedLink, mac: bytes = EV1) -> EvSlac:
    core = link.stations[mac].core
    assert isinstance(core, EvSlac)
    return core


def evse(link: SimulatedLink, mac: bytes = EVSE1) -> EvseSlac:
    core = link.stations[mac].core
    assert isinstance(core, EvseSlac)
    return core


def plug_in(link: SimulatedLink, *evs: bytes) -> None:
    """Chargers ready (their modems keyed) a moment before the EVs start."""
    for mac, station in link.stations.items():
        if isinstance(station.core, EvseSlac) and station.core.state is EvseState.IDLE:
            link.call(mac, station.core.start)
    link.run_for(0.05)
    for mac in evs:
        link.call(mac, ev(link, mac).start)


def slac_trace(link: SimulatedLink) -> list[tuple[float, str]]:
    """(time, message name) of the SLAC frames on the line, beacons left out."""
    names = {kind.MMTYPE: kind.__name__ for kind in messages._PARSERS.values()}
    out = []
    for at, _sender, data in link.trace:
        frame = messages.decode_frame(data)
        if frame.mmtype != BEACON_MMTYPE:
            out.append((round(at, 3), names[frame.mmtype]))
    return out


def test_happy_path() -> None:
    link = scene()
    link.connect(EV1, EVSE1, 12)
    plug_in(link, EV1)
    start = link.now
    link.run_for(3)

    ev_events, evse_events = link.events(EV1), link.events(EVSE1)
    assert len(ev_events) == 1
    assert isinstance(ev_events[0], Matched)
    assert len(evse_events) == 1
    assert isinstance(evse_events[0], Matched)
    mine, theirs = ev_events[0], evse_events[0]
    assert (mine.peer, theirs.peer) == (EVSE1, EV1)
    assert (mine.nid, mine.nmk, mine.run_id) == (theirs.nid, theirs.nmk, theirs.run_id)
    assert mine.nid == messages.nid_from_nmk(mine.nmk)
    assert ev(link).state is EvState.MATCHED
    assert evse(link).state is EvseState.MATCHED
    assert ev(link).attenuations == {EVSE1: 12.0}

    names = [name for _, name in slac_trace(link)]
    assert names == [
        "SlacParmReq",
        "SlacParmCnf",
        *["StartAttenCharInd"] * 3,
        *["MnbcSoundInd"] * 10,
        "AttenCharInd",
        "AttenCharRsp",
        "SlacMatchReq",
        "SlacMatchCnf",
    ]  # CM_SET_KEY stays between each host and its own modem
    times = {name: at for at, name in reversed(slac_trace(link))}  # first time of each
    first_start = times["StartAttenCharInd"]
    sounds = [at for at, name in slac_trace(link) if name == "MnbcSoundInd"]
    assert sounds[0] == pytest.approx(first_start + 3 * timing.TP_EV_BATCH_MSG_INTERVAL)
    # The EVSE answers once all 10 sounds are in; the EV decides at TT_EV_atten_results.
    assert times["AttenCharInd"] == pytest.approx(sounds[-1] + link.latency)
    assert times["SlacMatchReq"] == pytest.approx(first_start + timing.TT_EV_ATTEN_RESULTS)
    assert link.stations[EV1].events[0][0] - start < 1.5


def test_two_chargers_side_by_side_each_ev_matches_its_own() -> None:
    link = scene(evs=(EV1, EV2), evses=(EVSE1, EVSE2))
    link.connect(EV1, EVSE1, 12)  # EV1's cable
    link.connect(EV2, EVSE2, 14)  # EV2's cable
    link.connect(EV1, EVSE2, 31)  # crosstalk between the outlets
    link.connect(EV2, EVSE1, 27)
    link.connect(EVSE1, EVSE2, 20)
    link.connect(EV1, EV2, 25)
    plug_in(link, EV1, EV2)  # at the same moment: both EVSEs run two sessions at once
    link.run_for(3)

    assert ev(link, EV1).attenuations == {EVSE1: 12.0, EVSE2: 31.0}
    assert ev(link, EV2).attenuations == {EVSE1: 27.0, EVSE2: 14.0}
    pairs = {}
    for mac in (EV1, EV2, EVSE1, EVSE2):
        (event,) = link.events(mac)
        assert isinstance(event, Matched)
        pairs[mac] = event.peer
    assert pairs == {EV1: EVSE1, EVSE1: EV1, EV2: EVSE2, EVSE2: EV2}
    assert evse(link, EVSE1).nid != evse(link, EVSE2).nid


def test_a_charger_already_matched_ignores_the_next_ev() -> None:
    link = scene(evs=(EV1, EV2), evses=(EVSE1, EVSE2))
    link.connect(EV1, EVSE1, 12)
    link.connect(EV2, EVSE2, 35)  # a poor cable, worse than the crosstalk below
    link.connect(EV2, EVSE1, 25)
    plug_in(link, EV1)
    link.run_for(3)
    link.call(EV2, ev(link, EV2).start)
    link.run_for(3)
    # EVSE1 is taken and stays silent, so EV2 only hears, and matches, its own charger.
    assert ev(link, EV2).attenuations == {EVSE2: 35.0}
    (car,), (charger,) = link.events(EV2), link.events(EVSE2)
    assert isinstance(car, Matched)
    assert isinstance(charger, Matched)
    assert (car.peer, charger.peer, car.nmk) == (EVSE2, EV2, charger.nmk)
    assert len(link.events(EVSE1)) == 1


def test_mismatch_a_charger_heard_only_through_crosstalk_is_not_matched() -> None:
    link = scene(max_attenuation_db=40)
    link.connect(EV1, EVSE1, 55)  # the neighbour's outlet; our own charger is dead
    plug_in(link, EV1)
    link.run_for(20)
    events = link.events(EV1)
    assert all(isinstance(e, MatchFailed) for e in events)
    assert [e.final for e in events if isinstance(e, MatchFailed)] == [False, False, False, True]
    assert events[0] == MatchFailed("every EVSE heard is above 40 dB", final=False)
    assert ev(link).state is EvState.FAILED
    assert evse(link).state is EvseState.LISTENING
    assert link.events(EVSE1) == []


def test_mismatch_frames_naming_another_pair_are_ignored() -> None:
    core = EvseSlac(EVSE1, random=seeded(1).randbytes)
    core.start(0.0)
    core.receive(messages.encode(EVSE1, core.modem_mac, messages.SetKeyCnf(0)), 0.0)
    run = bytes(8)
    core.receive(messages.encode(messages.BROADCAST, EV1, messages.SlacParmReq(run)), 0.1)
    assert [messages.decode(f)[1] for f in core.take_frames()][-1] == messages.SlacParmCnf(
        EV1, run, 10, 6
    )
    # A match request sent to us but naming another EVSE, and one for another run.
    core.receive(messages.encode(EVSE1, EV1, messages.SlacMatchReq(EV1, EVSE2, run)), 0.2)
    core.receive(messages.encode(EVSE1, EV1, messages.SlacMatchReq(EV1, EVSE1, b"x" * 8)), 0.2)
    assert core.take_frames() == []
    assert core.state is EvseState.LISTENING

    car = EvSlac(EV1, random=seeded(2).randbytes)
    car.start(0.0)
    car.state = EvState.MATCHING  # as if it had chosen EVSE1
    car.chosen = EVSE1
    run = car._run_id
    cnf = messages.SlacMatchCnf(EV2, EVSE1, run, bytes(7), bytes(16))  # for another EV
    car.receive(messages.encode(EV1, EVSE1, cnf), 0.1)
    cnf = messages.SlacMatchCnf(EV1, EVSE1, run, bytes(7), bytes(16))  # from another source
    car.receive(messages.encode(EV1, EVSE2, cnf), 0.1)
    assert car.state is EvState.MATCHING


def test_lost_requests_are_retried_every_tt_match_response() -> None:
    link = scene()
    link.connect(EV1, EVSE1, 10)
    parm_req = messages.SlacParmReq.MMTYPE
    lost: list[float] = []

    def drop(sender: bytes, data: bytes) -> bool:
        if messages.decode_frame(data).mmtype == parm_req and len(lost) < 2:
            lost.append(link.now)
            return True
        return False

    link.drop = drop
    plug_in(link, EV1)
    link.run_for(3)
    sent = [at for at, name in slac_trace(link) if name == "SlacParmReq"]
    assert sent == pytest.approx([sent[0], sent[0] + 0.2, sent[0] + 0.4])
    assert isinstance(link.events(EV1)[0], Matched)


def test_lost_answers_are_sent_again() -> None:
    link = scene()
    link.connect(EV1, EVSE1, 10)
    once = {messages.AttenCharRsp.MMTYPE, messages.SlacMatchCnf.MMTYPE}

    def drop(sender: bytes, data: bytes) -> bool:
        mmtype = messages.decode_frame(data).mmtype
        if mmtype in once:
            once.discard(mmtype)
            return True
        return False

    link.drop = drop
    plug_in(link, EV1)
    link.run_for(3)
    names = [name for _, name in slac_trace(link)]
    assert names.count("AttenCharInd") == 2  # the EVSE repeats it until the RSP comes
    assert names.count("SlacMatchReq") == 2  # the EV repeats the request
    assert names.count("SlacMatchCnf") == 2
    assert isinstance(link.events(EV1)[0], Matched)
    assert isinstance(link.events(EVSE1)[0], Matched)


def test_no_charger_answers_retries_then_gives_up() -> None:
    link = scene()  # nothing connected
    plug_in(link, EV1)
    start = link.now
    link.run_for(20)
    failures = [(round(at - start, 3), e) for at, e in link.stations[EV1].events]
    # Each run: 3 requests 0.2 s apart, then TT_matching_rate before the next run.
    assert failures == [
        (0.6, MatchFailed("no CM_SLAC_PARM.CNF", final=False)),
        (1.6, MatchFailed("no CM_SLAC_PARM.CNF", final=False)),
        (2.6, MatchFailed("no CM_SLAC_PARM.CNF", final=False)),
        (3.6, MatchFailed("no CM_SLAC_PARM.CNF", final=True)),
    ]
    assert ev(link).state is EvState.FAILED


def test_no_logical_network_within_tt_match_join() -> None:
    link = scene()
    link.connect(EV1, EVSE1, 10)
    link.drop = lambda sender, data: messages.decode_frame(data).mmtype == BEACON_MMTYPE
    plug_in(link, EV1)
    link.run_for(timing.TT_MATCH_JOIN + 2)
    (ev_event,) = [e for e in link.events(EV1) if isinstance(e, MatchFailed)][:1]
    assert ev_event == MatchFailed("no logical network within TT_match_join", final=True)
    evse_events = link.events(EVSE1)
    assert evse_events[0] == MatchFailed("the EV did not join within TT_match_join", final=False)
    # The EVSE took a new key for the next EV; the EV left the network it was given.
    assert evse(link).state is EvseState.LISTENING
    assert link.stations[EV1].modem.nid != link.stations[EVSE1].modem.nid


def test_evse_slac_init_timeout() -> None:
    link = scene(evs=())
    link.call(EVSE1, evse(link).start)
    link.run_for(timing.TT_EVSE_SLAC_INIT - 0.01)
    assert link.events(EVSE1) == []
    link.run_for(0.02)
    assert link.events(EVSE1) == [SlacInitTimeout()]


def test_lost_match_both_sides_notice_and_match_again() -> None:
    link = scene()
    link.connect(EV1, EVSE1, 10)
    plug_in(link, EV1)
    link.run_for(3)
    first = link.events(EV1)[0]
    assert isinstance(first, Matched)

    link.disconnect(EV1, EVSE1)  # the signal is gone (a modem reset, a broken line)
    lost_at = link.now
    link.run_until(lost_at + 5, stop=lambda: len(link.events(EV1)) > 1)
    assert link.events(EV1)[1] == LinkLost(EVSE1)
    assert link.now - lost_at <= timing.TP_MATCH_LEAVE + 0.2
    link.run_for(0.5)
    assert link.events(EVSE1)[1] == LinkLost(EV1)
    assert evse(link).state is EvseState.LISTENING
    assert evse(link).nmk != first.nmk

    link.connect(EV1, EVSE1, 10)
    link.run_until(lost_at + timing.T_CONN_RESETUP - 0.5)
    assert ev(link).state is EvState.WAITING  # T_conn_resetup before a new matching process
    link.run_until(lost_at + timing.T_CONN_RESETUP + 3)
    again = link.events(EV1)[-1]
    assert isinstance(again, Matched)
    assert again.nmk == evse(link).nmk != first.nmk


def test_unplugging_leaves_the_network() -> None:
    link = scene()
    link.connect(EV1, EVSE1, 10)
    plug_in(link, EV1)
    link.run_for(3)
    nid = link.stations[EV1].modem.nid
    link.call(EV1, ev(link).stop)
    link.call(EVSE1, evse(link).stop)
    assert ev(link).state is EvState.IDLE
    assert evse(link).state is EvseState.IDLE
    assert nid not in (link.stations[EV1].modem.nid, link.stations[EVSE1].modem.nid)
