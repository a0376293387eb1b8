"""The interop harness proven on the peer alone: its EVCC against its SECC, on a veth pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from .netns import veth_pair
from .peer import EVCC_SESSION_STOPPED, SECC_LISTENING, SECC_SESSION_ENDED, Cell, run_peer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_peer_evcc_against_peer_secc_din_dc(tmp_path: Path, peer_pki: Path) -> None:
    with (
        veth_pair() as (ev_space, cs_space),
        run_peer("secc", Cell.DIN_DC, cs_space, tmp_path / "secc", peer_pki) as secc,
    ):
        secc.wait_for(SECC_LISTENING, 60)
        with run_peer("evcc", Cell.DIN_DC, ev_space, tmp_path / "evcc", peer_pki) as evcc:
            evcc.wait_for(EVCC_SESSION_STOPPED, 150)
        ended = secc.wait_for(SECC_SESSION_ENDED, 30)
    assert ended["state"] == "SessionStop"
    assert float(ended["energy"]) > 0
    assert "CurrentDemandReq received" in secc.text()
