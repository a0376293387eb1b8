"""Fixtures for the HLC tests: the `iso15118` peer's test PKI, made once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from .peer import make_peer_pki


@pytest.fixture(scope="session")
def peer_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The peer's create_certs.sh PKI (iso15118_2 and iso15118_20 folders) in a temp dir."""
    return make_peer_pki(tmp_path_factory.mktemp("peer-pki"))
