"""API tokens: no token, a wrong one or too small a scope is refused; tokens are stored hashed;
operate requests are rate-limited."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from evstack.modules.ApiServer.tokens import Scope

from .conftest import LockedCharger
from .harness import wait_for

pytestmark = pytest.mark.mosquitto

# A valid body for each operation that takes one, so that only the token decides.
BODIES: dict[str, Any] = {
    "/api/v1/evses/{evse}/start": {"id_token": "DEADBEEF"},
    "/api/v1/evses/{evse}/current-limit": {},
    "/api/v1/evses/{evse}/enabled": {"enabled": True},
    "/api/v1/sim/evs/{ev}": {"action": "pause"},
}
# Each operation and the scope it needs, from the API's own spec.
NEEDS = {
    ("get", "/api/v1/evses"): Scope.read,
    ("get", "/api/v1/evses/{evse}"): Scope.read,
    ("get", "/api/v1/sessions"): Scope.read,
    ("get", "/api/v1/sim/evs"): Scope.read,
    ("post", "/api/v1/evses/{evse}/start"): Scope.operate,
    ("post", "/api/v1/evses/{evse}/stop"): Scope.operate,
    ("post", "/api/v1/evses/{evse}/pause"): Scope.operate,
    ("post", "/api/v1/evses/{evse}/resume"): Scope.operate,
    ("put", "/api/v1/evses/{evse}/current-limit"): Scope.operate,
    ("post", "/api/v1/sim/evs/{ev}"): Scope.operate,
    ("put", "/api/v1/evses/{evse}/enabled"): Scope.admin,
}


def request(charger: LockedCharger, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    url = charger.url + path.replace("{evse}", "2").replace("{ev}", "2")
    return httpx.request(method, url, headers=headers, json=BODIES.get(path), timeout=10)


@pytest.mark.timeout(60)
def test_every_operation_of_the_spec_is_covered_here(locked_charger: LockedCharger) -> None:
    spec = httpx.get(f"{locked_charger.url}/api/v1/schema/openapi.json").json()
    operations = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert operations == set(NEEDS)
    assert spec["components"]["securitySchemes"] == {"token": {"type": "http", "scheme": "bearer"}}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_no_token_or_a_wrong_one_is_refused(
    locked_charger: LockedCharger, method: str, path: str
) -> None:
    for token in (None, "not-a-token", locked_charger.tokens[Scope.admin] + "x"):
        response = request(locked_charger, method, path, token)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_a_token_needs_the_scope_of_the_operation(
    locked_charger: LockedCharger, method: str, path: str
) -> None:
    needed = NEEDS[(method, path)]
    for scope, token in locked_charger.tokens.items():
        if scope < needed:
            response = request(locked_charger, method, path, token)
            assert response.status_code == 403, response.text
    if needed == Scope.read:  # operations are rate-limited: the rate test tries those
        for scope, token in locked_charger.tokens.items():
            assert request(locked_charger, method, path, token).status_code == 200, scope


@pytest.mark.timeout(60)
def test_the_event_stream_needs_a_token_too(locked_charger: LockedCharger) -> None:
    url = locked_charger.url.replace("http://", "ws://") + "/api/v1/events"
    for query in ("", "?token=wrong"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url + query, open_timeout=10)
        assert refused.value.response.status_code == 403  # the handshake is refused
    with connect(f"{url}?token={locked_charger.tokens[Scope.read]}", open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["kind"] == "evse"


@pytest.mark.timeout(60)
def test_tokens_are_stored_hashed_and_a_revoked_one_is_refused_at_once(
    locked_charger: LockedCharger,
) -> None:
    stored = locked_charger.store.path.read_text()
    assert all(token not in stored for token in locked_charger.tokens.values())
    assert locked_charger.store.path.stat().st_mode & 0o077 == 0  # the owner's alone
    spare = locked_charger.store.add("spare", Scope.read)
    assert request(locked_charger, "get", "/api/v1/evses", spare).status_code == 200
    locked_charger.store.revoke("spare")
    assert request(locked_charger, "get", "/api/v1/evses", spare).status_code == 401


@pytest.mark.timeout(60)
def test_operate_requests_are_rate_limited_per_token(locked_charger: LockedCharger) -> None:
    operator = locked_charger.tokens[Scope.operate]
    pause = ("post", "/api/v1/sim/evs/{ev}")
    codes = [request(locked_charger, *pause, operator).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]  # a burst of 3, then one per 2 s
    refused = request(locked_charger, *pause, operator)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    # Another token has a budget of its own, and reads are never limited.
    assert request(locked_charger, *pause, locked_charger.tokens[Scope.admin]).status_code == 200
    assert request(locked_charger, "get", "/api/v1/evses", operator).status_code == 200
    # The budget comes back with time.
    wait_for(lambda: request(locked_charger, *pause, operator).status_code == 200, "a new turn")
