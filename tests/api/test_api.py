"""The API over a running SIL charger: EVSEs, a whole session, limits, history, live events."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from .harness import Charger, evse, wait_for

pytestmark = pytest.mark.mosquitto


def post(client: httpx.Client, path: str, body: Any = None) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.timeout(60)
def test_the_evses_are_listed_with_their_live_state(client: httpx.Client) -> None:
    def ready() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = client.get("/api/v1/evses").json()
        return found if all(e["ready"] for e in found) else None

    evses = wait_for(ready, "two ready EVSEs")
    assert [(e["evse"], e["evse_id"], e["state"]) for e in evses] == [
        (1, "DE*EVS*E0001*1", "Available"),
        (2, "DE*EVS*E0002*1", "Available"),
    ]
    assert wait_for(lambda: evse(client, 1).get("connector_id"), "the connector") == 1
    assert wait_for(lambda: evse(client, 1).get("pilot_state"), "the pilot") == "A"


@pytest.mark.timeout(90)
def test_a_session_started_paused_stopped_and_found_in_the_history(client: httpx.Client) -> None:
    assert post(client, "/api/v1/sim/evs/1", {"action": "plug"})["done"]
    wait_for(lambda: evse(client, 1)["state"] == "Preparing", "a plugged-in EV")
    assert post(client, "/api/v1/evses/1/start", {"id_token": "AABBCCDD"})["done"]
    charging = wait_for(
        lambda: (e := evse(client, 1))["state"] == "Charging" and e.get("power_W", 0) > 1000 and e,
        "charging",
    )
    assert charging["id_token"] == "AABBCCDD"
    assert charging["pilot_state"] == "C"
    assert charging["contactor_closed"] is True
    assert 10 < charging["pwm_duty_percent"] < 60

    assert post(client, "/api/v1/evses/1/pause")["done"]
    wait_for(lambda: evse(client, 1)["state"] == "SuspendedEVSE", "a pause")
    assert post(client, "/api/v1/evses/1/resume")["done"]
    wait_for(lambda: evse(client, 1)["state"] == "Charging", "charging again")
    assert post(client, "/api/v1/evses/1/resume") == {
        "done": False,
        "detail": "there was no pause to undo",
    }

    session = evse(client, 1)["session_id"]
    seen_wh = wait_for(lambda: (e := evse(client, 1)).get("energy_Wh", 0) > 1 and e, "energy")[
        "energy_Wh"
    ]
    # The running session in the history counts up to the EVSE's newest reading, not to the
    # store's last batch of readings.
    page = client.get("/api/v1/sessions", params={"limit": 100}).json()
    running = next(s for s in page["sessions"] if s["session_id"] == session)
    assert running["finished"] is False
    assert running["energy_Wh"] >= seen_wh
    assert post(client, "/api/v1/evses/1/stop")["done"]

    def stored() -> dict[str, Any] | None:
        page = client.get("/api/v1/sessions", params={"limit": 100}).json()
        return next((s for s in page["sessions"] if s["session_id"] == session), None)

    # Finished once stored: from then on there is nothing left to stop.
    record = wait_for(lambda: (s := stored()) and s["finished"] and s, "the stored session")
    assert evse(client, 1)["state"] == "Finishing"
    assert post(client, "/api/v1/evses/1/stop")["done"] is False
    assert post(client, "/api/v1/sim/evs/1", {"action": "unplug"})["done"]
    wait_for(lambda: evse(client, 1)["state"] == "Available", "the EVSE free again")
    assert record["evse"] == 1
    assert record["id_token"] == "AABBCCDD"
    assert record["stop_reason"] == "Remote"
    assert record["energy_Wh"] > 1


@pytest.mark.timeout(90)
def test_a_current_limit_lowers_the_offer_and_clearing_it_raises_it(
    client: httpx.Client,
) -> None:
    assert post(client, "/api/v1/sim/evs/2", {"action": "plug"})["done"]
    assert post(client, "/api/v1/evses/2/start", {"id_token": "11223344"})["done"]
    wait_for(lambda: evse(client, 2).get("offered_current_A", 0) > 20, "the whole fuse")
    response = client.put("/api/v1/evses/2/current-limit", json={"max_current_A": 10})
    assert response.json() == {"done": True}
    limited = wait_for(
        lambda: (e := evse(client, 2)).get("offered_current_A", 99) <= 10 and e, "10 A"
    )
    assert limited["current_limit_A"] == 10
    assert client.put("/api/v1/evses/2/current-limit", json={}).json() == {"done": True}
    wait_for(lambda: evse(client, 2).get("offered_current_A", 0) > 20, "the limit gone")
    assert "current_limit_A" not in evse(client, 2)
    assert post(client, "/api/v1/sim/evs/2", {"action": "unplug"})["done"]
    wait_for(lambda: evse(client, 2)["state"] == "Available", "the EVSE free again")


@pytest.mark.timeout(60)
def test_the_event_stream_starts_with_the_state_and_carries_every_milestone(
    open_charger: Charger, client: httpx.Client
) -> None:
    url = open_charger.url.replace("http://", "ws://") + "/api/v1/events"
    with connect(url, open_timeout=10) as socket:
        first = [json.loads(socket.recv(timeout=10)) for _ in range(4)]
        assert [(e["kind"], e["evse"]) for e in first] == [
            ("evse", 1),
            ("evse", 2),
            ("ev", 1),
            ("ev", 2),
        ]
        assert post(client, "/api/v1/sim/evs/2", {"action": "plug"})["done"]
        milestones: list[str] = []
        while "SessionStarted" not in milestones:
            event = json.loads(socket.recv(timeout=10))
            if event["kind"] == "session":
                assert event["evse"] == 2
                milestones.append(event["session_event"]["event"])
    assert post(client, "/api/v1/sim/evs/2", {"action": "unplug"})["done"]
    wait_for(lambda: evse(client, 2)["state"] == "Available", "the EVSE free again")


@pytest.mark.timeout(60)
def test_an_admin_disables_and_enables_an_evse(client: httpx.Client) -> None:
    assert client.put("/api/v1/evses/1/enabled", json={"enabled": False}).json()["done"]
    wait_for(lambda: evse(client, 1)["state"] == "Unavailable", "a disabled EVSE")
    assert client.put("/api/v1/evses/1/enabled", json={"enabled": True}).json()["done"]
    wait_for(lambda: evse(client, 1)["state"] == "Available", "an enabled EVSE")


@pytest.mark.timeout(30)
def test_unknown_evses_and_bad_bodies_are_refused_with_4xx(client: httpx.Client) -> None:
    assert client.get("/api/v1/evses/3").status_code == 404
    assert client.post("/api/v1/evses/9/stop").status_code == 404
    assert client.post("/api/v1/sim/evs/3", json={"action": "plug"}).status_code == 404
    assert client.get("/api/v1/evses/0").status_code == 400
    assert client.post("/api/v1/evses/1/start", json={"id_token": ""}).status_code == 400
    assert client.post("/api/v1/evses/1/start", json={"id_token": "AB", "x": 1}).status_code == 400
    assert client.post("/api/v1/sim/evs/1", json={"action": "fly"}).status_code == 400
    assert client.get("/api/v1/sessions", params={"limit": 101}).status_code == 400
