"""No shipped broker config lets anonymous clients in; the tests' shared one says why it does."""

from __future__ import annotations

from pathlib import Path

import pytest

from evstack.runtime.mosquitto import BASE_SETTINGS, LOCKED_SETTINGS

from .conftest import REPO

pytestmark = pytest.mark.timeout(30)

SHARED_TEST_BROKER = REPO / "tests" / "mosquitto-shared.conf"


def settings(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def test_the_shipped_mosquitto_config_is_locked_down() -> None:
    local = settings(REPO / "config" / "mosquitto" / "local.conf")
    for line in (BASE_SETTINGS + LOCKED_SETTINGS).splitlines():
        assert line in local, f"{line!r} is missing from config/mosquitto/local.conf"
    assert any(line.startswith("password_file ") for line in local)
    assert any(line.startswith("acl_file ") for line in local)


def test_no_config_outside_tests_allows_anonymous_clients() -> None:
    anonymous = [
        path for path in REPO.glob("config/**/*.conf") if "allow_anonymous true" in settings(path)
    ]
    assert anonymous == []


def test_only_the_shared_test_broker_is_anonymous_and_says_why() -> None:
    shared = settings(SHARED_TEST_BROKER)
    assert "allow_anonymous true" in shared
    assert any(line.startswith("#") and "Anonymous on purpose" in line for line in shared)
    for line in BASE_SETTINGS.splitlines():
        assert line in shared
    assert "mosquitto -d -c tests/mosquitto-shared.conf" in (REPO / "Makefile").read_text()
