"""The EV's side of the negative cases for ISO 15118-2 and ISO 15118-20 (DIN's are in
test_evcc_session.py), on a hand clock against the scripted chargers: a response out of
sequence, a malformed EXI stream and a charger gone silent each end the session unclean,
saying why, and close (ISO-20's silent charger: test_evcc_iso20.py)."""

from __future__ import annotations

import pytest

from evstack.exi.v2gtp import PAYLOAD_TYPES
from evstack.hlc.evcc import Battery, EvccConfig, EvccSession, codec
from evstack.hlc.evcc import events as ev

from .evcc_charger import ScriptedCharger
from .evcc_charger20 import ScriptedCharger20
from .test_evcc_session import run

Charger = ScriptedCharger | ScriptedCharger20


def after_sap(protocol: str) -> tuple[EvccSession, Charger, ev.Send]:
    """A session whose SupportedAppProtocol went through: (session, charger, SessionSetupReq)."""
    session = EvccSession(EvccConfig(protocols=(protocol,)), Battery())
    charger: Charger = ScriptedCharger("iso2") if protocol == "iso2" else ScriptedCharger20()
    (sap,) = session.start(0.0)
    assert isinstance(sap, ev.Send)
    answer = charger.answer(sap.payload, "app")
    assert answer is not None
    (setup,) = session.receive(int(PAYLOAD_TYPES["app"]), answer, 0.1)
    assert isinstance(setup, ev.Send)
    assert setup.name == "SessionSetupReq"
    return session, charger, setup


def assert_ended(outputs: list[ev.Output], reason: str) -> None:
    (ended,) = [o for o in outputs if isinstance(o, ev.SessionEnded)]
    assert not ended.clean
    assert reason in ended.reason
    assert isinstance(outputs[-1], ev.Close)


@pytest.mark.parametrize("protocol", ["iso2", "iso20"])
def test_a_response_out_of_sequence_ends_the_session(protocol: str) -> None:
    session, charger, setup = after_sap(protocol)
    answer = charger.answer(setup.payload, protocol)
    assert answer is not None
    doc = codec.decode(protocol, answer)
    # Answer the SessionSetupReq with a SessionStopRes.
    if protocol == "iso2":
        doc["V2G_Message"]["Body"] = {"SessionStopRes": {"ResponseCode": "OK"}}
    else:
        ((_, content),) = doc.items()
        doc = {"SessionStopRes": {"Header": content["Header"], "ResponseCode": "OK"}}
    outputs = session.receive(setup.payload_type, codec.encode(protocol, doc), 0.2)
    assert_ended(outputs, "SessionStopRes where SessionSetupRes was due")


@pytest.mark.parametrize("protocol", ["iso2", "iso20"])
@pytest.mark.parametrize("payload", [b"", b"\x80\xff\xff", bytes(range(40))])
def test_malformed_exi_ends_the_session(protocol: str, payload: bytes) -> None:
    session, _, setup = after_sap(protocol)
    outputs = session.receive(setup.payload_type, payload, 0.2)
    assert_ended(outputs, "undecodable")


@pytest.mark.parametrize("silent", ["SessionSetupReq", "CurrentDemandReq"])
def test_iso2_a_silent_charger_times_out(silent: str) -> None:
    r = run(EvccConfig(protocols=("iso2",)), ScriptedCharger("iso2", silent=silent), loops=3)
    ended = r.until_end()
    assert not ended.clean
    assert f"no response to {silent}" in ended.reason
    assert isinstance(r.outputs[-1], ev.Close)
