"""The station's link over real websockets on loopback: the `ocpp` package's CSMS calling the
station and being called, one CALL in flight on the wire, reconnecting with back-off (the
clock driven by the test), slot fallback, and a pong timeout that ends a dead connection."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC

import pytest
from ocpp.exceptions import NotSupportedError, OccurrenceConstraintViolationError
from ocpp.v201 import call, call_result

from evstack.ocpp.j import (
    CallTimeoutError,
    ConnectionPolicy,
    NetworkProfile,
    RetryBackOff,
    SecurityProfile,
    TransportSettings,
)
from evstack.ocpp.v201 import DateTime, messages

from .csms import NOW, csms_on
from .peers import (
    PASSWORD,
    STATION,
    RawCsms,
    StepSleep,
    closed_port,
    one_slot_policy,
    running,
    station,
)

pytestmark = pytest.mark.timeout(30)


async def test_the_ocpp_package_csms_and_the_station_call_each_other() -> None:
    async with RawCsms() as server:
        client, recorder = station(one_slot_policy(server.url))
        async with running(client):
            connection = await server.accept()
            await recorder.expect("connected", 1)
            async with csms_on(connection, STATION) as csms:
                response = await client.endpoint.call("Heartbeat", messages.HeartbeatRequest())
                assert response == messages.HeartbeatResponse(
                    currentTime=DateTime(2026, 1, 1, tzinfo=UTC)
                )
                answer = await csms.call(
                    call.ChangeAvailability(operational_status="Operative", evse={"id": 1}),
                    suppress=False,
                )
                assert answer == call_result.ChangeAvailability(status="Accepted")
                with pytest.raises(NotSupportedError):  # known to OCPP, not served here
                    await csms.call(call.Reset(type="Immediate"), suppress=False)
                assert await csms.call(call.ClearCache(), suppress=False) == (
                    call_result.ClearCache(status="Accepted")
                )
                await (await connection.ping())  # the station answers websocket pings


async def test_the_station_answers_a_strict_csms_with_its_validation_codes() -> None:
    """A request that breaks the schema, sent with the `ocpp` package's checks skipped."""
    async with RawCsms() as server:
        client, _ = station(one_slot_policy(server.url))
        async with running(client):
            connection = await server.accept()
            async with csms_on(connection, STATION) as csms:
                with pytest.raises(OccurrenceConstraintViolationError):
                    await csms.call(
                        call.ChangeAvailability(operational_status=None),
                        suppress=False,
                        skip_schema_validation=True,
                    )


async def test_on_the_wire_one_call_in_flight_late_and_duplicate_answers_dropped() -> None:
    async with RawCsms() as server:
        client, recorder = station(one_slot_policy(server.url, message_timeout=0.2))
        endpoint = client.endpoint
        async with running(client):
            connection = await server.accept()
            await recorder.expect("connected", 1)
            first = asyncio.create_task(endpoint.call("Heartbeat", messages.HeartbeatRequest()))
            second = asyncio.create_task(endpoint.call("Heartbeat", messages.HeartbeatRequest()))
            first_id = json.loads(await connection.recv())[1]
            endpoint.message_timeout = 5  # the first waits 0.2 s, the later ones longer
            second_id = json.loads(await connection.recv())[1]
            assert first.done(), "the second CALL went out while the first was in flight"
            with pytest.raises(CallTimeoutError):  # the CSMS kept the first too long
                await first
            late = json.dumps([3, first_id, {"currentTime": "2026-01-01T00:00:01Z"}])
            await connection.send(late)
            answer = json.dumps([3, second_id, {"currentTime": "2026-01-01T00:00:02Z"}])
            await connection.send(answer)
            await connection.send(answer)  # twice
            assert (await second).currentTime.second == 2
            third = asyncio.create_task(endpoint.call("Heartbeat", messages.HeartbeatRequest()))
            third_id = json.loads(await connection.recv())[1]
            assert len({first_id, second_id, third_id}) == 3
            await connection.send(json.dumps([3, third_id, {"currentTime": NOW}]))
            assert (await third).currentTime == DateTime(2026, 1, 1, tzinfo=UTC)
            assert recorder.events.empty()


async def test_reconnect_after_a_loss_with_the_back_off_of_part_4() -> None:
    """TC_B_57 (RetryBackOffRepeatTimes 2, no random part): after each loss the station
    waits the minimum; after a failed reconnection, twice that."""
    sleep = StepSleep()
    async with RawCsms(password=PASSWORD) as server:
        policy = one_slot_policy(server.url, backoff=RetryBackOff(5, 0, 2))
        client, recorder = station(policy, sleep=sleep)
        async with running(client):
            await (await server.accept()).close()
            await recorder.expect("connected", 1)
            await recorder.expect("disconnected", 1)
            assert await sleep.waited() == 5
            sleep.go()
            connection = await server.accept()
            await recorder.expect("connected", 1)
            server.password = "not-the-password-0000"  # the next attempt is refused
            await connection.close()
            await recorder.expect("disconnected", 1)
            assert await sleep.waited() == 5
            sleep.go()
            await recorder.expect("failed", 1)
            assert await sleep.waited() == 10
            server.password = PASSWORD
            sleep.go()
            await server.accept()
            await recorder.expect("connected", 1)
        assert sleep.waits == [5, 5, 10]


async def test_fallback_to_the_next_slot_after_its_attempts_with_randomised_back_off() -> None:
    """TC_B_46: the first slot does not answer twice (NetworkProfileConnectionAttempts 2),
    the second does; each wait is the doubled minimum plus the random part."""
    sleep = StepSleep(auto=True)
    async with RawCsms(password=PASSWORD) as server:
        policy = ConnectionPolicy(
            [
                NetworkProfile(1, f"ws://127.0.0.1:{closed_port()}/ocpp", SecurityProfile(1)),
                NetworkProfile(2, server.url, SecurityProfile.BASIC_AUTH, message_timeout=7),
            ],
            [1, 2],
            security_profile=SecurityProfile.BASIC_AUTH,
            attempts_per_profile=2,
            backoff=RetryBackOff(3, 2, 5),
            random=lambda: 0.5,
        )
        client, recorder = station(policy, sleep=sleep)
        async with running(client):
            await recorder.expect("failed", 1)
            await recorder.expect("failed", 1)
            await server.accept()
            await recorder.expect("connected", 2)
            assert client.endpoint.message_timeout == 7  # the active profile's
        assert sleep.waits == [3 + 1, 6 + 1]


async def test_a_pong_timeout_drops_the_connection_and_the_station_reconnects() -> None:
    settings = TransportSettings(ping_interval=0.05, pong_timeout=0.2)
    async with RawCsms() as server:
        client, recorder = station(one_slot_policy(server.url), settings=settings)
        async with running(client):
            connection = await server.accept()
            await recorder.expect("connected", 1)
            connection.transport.pause_reading()  # the CSMS hears no more pings: no pongs
            event = await recorder.expect("disconnected", 1)
            assert event.ended is not None
            assert event.ended.pong_timeout
            connection.transport.resume_reading()  # to see the connection gone, and let go
            await server.accept()
            await recorder.expect("connected", 1)
