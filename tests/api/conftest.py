"""Chargers for the API tests: one with tokens off (as in SIL), one locked with API tokens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evstack.modules.ApiServer.tokens import Scope, TokenStore

from .harness import MOSQUITTO, Charger, api_config


@pytest.fixture(scope="module")
def mosquitto() -> None:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")


@pytest.fixture(scope="module")
def open_charger(tmp_path_factory: pytest.TempPathFactory, mosquitto: None) -> Iterator[Charger]:
    """Tokens off, as config/sil-ac.yaml has it; a rate limit no test reaches."""
    folder = tmp_path_factory.mktemp("open")
    config = api_config(folder, auth="off", port=0, operate_rate_per_s=1000.0, operate_burst=1000)
    charger = Charger(config, folder / "state").start()
    yield charger
    charger.stop()


class LockedCharger(Charger):
    tokens: dict[Scope, str]
    store: TokenStore


def start_locked(folder: Path, **api: Any) -> LockedCharger:
    """API tokens on, one token per scope (named after it)."""
    store = TokenStore(folder / "state" / "api" / "tokens.json")
    tokens = {scope: store.add(scope.name, scope) for scope in Scope}
    charger = LockedCharger(api_config(folder, auth="tokens", port=0, **api), folder / "state")
    charger.tokens, charger.store = tokens, store
    return charger.start()


@pytest.fixture(scope="module")
def locked_charger(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: None
) -> Iterator[LockedCharger]:
    """Three operate requests at once, then one per 2 s."""
    folder = tmp_path_factory.mktemp("locked")
    charger = start_locked(folder, operate_rate_per_s=0.5, operate_burst=3)
    yield charger
    charger.stop()


@pytest.fixture(scope="module")
def fuzzed_charger(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: None
) -> Iterator[LockedCharger]:
    """Tokens on, and a rate limit generated requests do not reach."""
    folder = tmp_path_factory.mktemp("fuzzed")
    charger = start_locked(folder, operate_rate_per_s=1000.0, operate_burst=1000)
    yield charger
    charger.stop()


@pytest.fixture
def client(open_charger: Charger) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_charger.url, timeout=10.0) as session:
        yield session
