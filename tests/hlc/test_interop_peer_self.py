"""The interop harness proven on the peer alone: its EVCC against its SECC, on a veth pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from .netns import veth_pair
from .peer import EVCC_SESSION_STOPPED, SECC_LISTENING, SECC_SESSION_ENDED, Cell, run_peer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


# DIN without TLS, and ISO-20 DC over TLS 1.3 with the peer's own PKI (mutual TLS: its SECC
# asks for the EV's OEM chain), the two set-ups the other cells vary on.
@pytest.mark.parametrize("cell", [Cell.DIN_DC, Cell.ISO20_DC], ids=lambda cell: cell.name)
def test_peer_evcc_against_peer_secc(cell: Cell, tmp_path: Path, peer_pki: Path) -> None:
    with (
        veth_pair() as (ev_space, cs_space),
        run_peer("secc", cell, cs_space, tmp_path / "secc", peer_pki) as secc,
    ):
        secc.wait_for(SECC_LISTENING, 60)
        with run_peer("evcc", cell, ev_space, tmp_path / "evcc", peer_pki) as evcc:
            evcc.wait_for(EVCC_SESSION_STOPPED, 200)
        ended = secc.wait_for(SECC_SESSION_ENDED, 30)
    assert ended["state"] == "SessionStop"
    assert float(ended["energy"]) > 0
    log = secc.text()
    if cell.value.tls:
        assert "Security: TLS" in log
        assert "TLS server started" in log
    loop = "CurrentDemandReq received" if cell is Cell.DIN_DC else "DC_ChargeLoopReq received"
    assert loop in log
