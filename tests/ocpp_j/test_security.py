"""Security profiles 1, 2 and 3 against real TLS on loopback, with a throwaway PKI, and no
downgrade. They mirror Part 6's TC_A_01 (basic auth), TC_A_04 (server certificate),
TC_A_05 (invalid server certificate), TC_A_06 (TLS version too low), TC_A_07 (client
certificate) and TC_A_22 / A05 (no downgrade)."""

from __future__ import annotations

import base64
import ssl
import warnings
from datetime import UTC
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from evstack.ocpp.j import (
    ConnectionPolicy,
    Failure,
    NetworkProfile,
    RetryBackOff,
    SecurityProfile,
    StationCredentials,
    Upgrade,
)
from evstack.ocpp.j.websocket import SUBPROTOCOL
from evstack.ocpp.v201 import DateTime, datatypes, enums, messages

from .csms import csms_on
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
from .pki import Pki, make_pki

pytestmark = pytest.mark.timeout(30)

BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.PowerUp,
    chargingStation=datatypes.ChargingStationType(model="SIL", vendorName="evstack"),
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), STATION)


def tls_credentials(pki: Pki, *, client_certificate: bool = False) -> StationCredentials:
    if client_certificate:
        return StationCredentials(
            csms_root_certificates=pki.csms_root,
            station_certificate=pki.station.certificate,
            station_key=pki.station.key,
        )
    return StationCredentials(basic_auth_password=PASSWORD, csms_root_certificates=pki.csms_root)


def expected_basic_auth(password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{STATION}:{password}".encode()).decode()


async def test_profile_1_basic_auth_and_the_station_id_in_the_path() -> None:
    """TC_A_01: `Authorization: Basic base64(<station id>:<password>)`, ws://, ocpp2.0.1."""
    async with RawCsms(password=PASSWORD) as csms:
        client, recorder = station(one_slot_policy(csms.url))
        async with running(client):
            connection = await csms.accept()
            await recorder.expect("connected", 1)
            request = csms.requests[-1]
            assert request.path == f"/ocpp/{STATION}"
            assert request.headers["Authorization"] == expected_basic_auth()
            assert request.headers["Sec-WebSocket-Protocol"] == SUBPROTOCOL
            assert connection.subprotocol == SUBPROTOCOL
            async with csms_on(connection, STATION) as csms_peer:
                response = await client.endpoint.call("BootNotification", BOOT)
            assert response == messages.BootNotificationResponse(
                currentTime=DateTime(2026, 1, 1, tzinfo=UTC),
                interval=300,
                status=enums.RegistrationStatusEnumType.Accepted,
            )
            assert csms_peer.boots[0]["charging_station"] == {
                "model": "SIL",
                "vendor_name": "evstack",
            }


async def test_profile_1_wrong_password_is_refused() -> None:
    async with RawCsms(password="another-password-0123") as csms:
        client, recorder = station(one_slot_policy(csms.url))
        async with running(client):
            event = await recorder.expect("failed", 1)
            assert event.failure is not None
            assert event.failure.failure is Failure.UNAUTHORIZED
        assert csms.connections.empty()


async def test_a_csms_that_does_not_agree_to_ocpp201_is_refused() -> None:
    async with RawCsms(subprotocols=None) as csms:
        client, recorder = station(one_slot_policy(csms.url))
        async with running(client):
            event = await recorder.expect("failed", 1)
            assert event.failure is not None
            assert event.failure.failure is Failure.SUBPROTOCOL


async def test_profile_2_server_certificate_and_basic_auth(pki: Pki) -> None:
    """TC_A_04: TLS 1.2 or newer, the CSMS certificate checked, the password sent."""
    async with RawCsms(tls=pki.server_context(), password=PASSWORD) as csms:
        policy = one_slot_policy(csms.url, SecurityProfile.TLS_BASIC_AUTH)
        client, recorder = station(policy, tls_credentials(pki))
        async with running(client):
            connection = await csms.accept()
            await recorder.expect("connected", 1)
            tls = connection.transport.get_extra_info("ssl_object")
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert csms.requests[-1].headers["Authorization"] == expected_basic_auth()
            async with csms_on(connection, STATION):
                assert (await client.endpoint.call("BootNotification", BOOT)).status == "Accepted"


@pytest.mark.parametrize("bad", ["unknown_server", "expired_server", "wrong_host_server"])
async def test_profile_2_an_invalid_server_certificate_is_refused_then_a_valid_one_taken(
    pki: Pki, bad: str
) -> None:
    """TC_A_05: an unknown, expired or wrongly named certificate ends the attempt; the next
    attempt, against the valid certificate, connects."""
    issued = getattr(pki, bad)
    server_tls = pki.server_context(issued)
    sleep = StepSleep()
    async with RawCsms(tls=server_tls, password=PASSWORD) as csms:
        policy = one_slot_policy(csms.url, SecurityProfile.TLS_BASIC_AUTH)
        client, recorder = station(policy, tls_credentials(pki), sleep=sleep)
        async with running(client):
            event = await recorder.expect("failed", 1)
            assert event.failure is not None
            assert event.failure.failure is Failure.TLS_CERTIFICATE
            assert csms.requests == [], "the password went to an unverified server"
            await sleep.waited()
            server_tls.load_cert_chain(pki.server.certificate, pki.server.key)
            sleep.go()
            await csms.accept()
            await recorder.expect("connected", 1)


async def test_profile_2_tls_below_1_2_is_refused(pki: Pki) -> None:
    """TC_A_06: a CSMS that offers TLS 1.1 at most is not connected to."""
    server_tls = pki.server_context(maximum_version=ssl.TLSVersion.TLSv1_1)
    async with RawCsms(tls=server_tls, password=PASSWORD) as csms:
        # The control: this CSMS does speak TLS 1.1 to a client that accepts it.
        permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        permissive.load_verify_locations(cafile=pki.csms_root)
        permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            permissive.minimum_version = ssl.TLSVersion.TLSv1_1
        async with connect(
            f"{csms.url}/{STATION}",
            ssl=permissive,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            additional_headers={"Authorization": expected_basic_auth()},
            proxy=None,
        ) as control:
            assert control.transport.get_extra_info("ssl_object").version() == "TLSv1.1"
        await csms.accept()
        csms.requests.clear()

        policy = one_slot_policy(csms.url, SecurityProfile.TLS_BASIC_AUTH)
        client, recorder = station(policy, tls_credentials(pki))
        async with running(client):
            event = await recorder.expect("failed", 1)
            assert event.failure is not None
            assert event.failure.failure in (Failure.TLS_VERSION, Failure.TLS, Failure.UNREACHABLE)
        assert csms.requests == []
        assert csms.connections.empty()


async def test_profile_3_mutual_tls_without_a_password(pki: Pki) -> None:
    """TC_A_07: the station's certificate (CN: its id) is its credential; no basic auth."""
    server_tls = pki.server_context(client_certificates=True)
    async with RawCsms(tls=server_tls) as csms:
        policy = one_slot_policy(csms.url, SecurityProfile.TLS_CLIENT_CERTIFICATE)
        client, recorder = station(policy, tls_credentials(pki, client_certificate=True))
        async with running(client):
            connection = await csms.accept()
            await recorder.expect("connected", 1)
            peer = connection.transport.get_extra_info("peercert")
            assert (("commonName", STATION),) in peer["subject"]
            assert "Authorization" not in csms.requests[-1].headers
            async with csms_on(connection, STATION):
                assert (await client.endpoint.call("BootNotification", BOOT)).status == "Accepted"


async def test_profile_3_a_station_certificate_the_csms_does_not_trust_gets_no_connection(
    pki: Pki,
) -> None:
    server_tls = pki.server_context(client_certificates=True)
    async with RawCsms(tls=server_tls) as csms:
        policy = one_slot_policy(csms.url, SecurityProfile.TLS_CLIENT_CERTIFICATE)
        credentials = StationCredentials(
            csms_root_certificates=pki.csms_root,
            station_certificate=pki.unknown_station.certificate,
            station_key=pki.unknown_station.key,
        )
        client, recorder = station(policy, credentials)
        async with running(client):
            event = await recorder.expect("failed", 1)
            assert event.failure is not None
            assert event.failure.failure in (Failure.TLS, Failure.HANDSHAKE, Failure.UNREACHABLE)
        assert csms.connections.empty()


@pytest.mark.parametrize(
    ("security", "url", "credentials"),
    [
        (SecurityProfile.TLS_BASIC_AUTH, "ws://127.0.0.1:1/ocpp", "tls"),  # TLS, but plain ws
        (SecurityProfile.BASIC_AUTH, "ws://127.0.0.1:1/ocpp", "none"),  # no password
        (SecurityProfile.TLS_CLIENT_CERTIFICATE, "wss://127.0.0.1:1/ocpp", "tls"),  # no cert
    ],
)
async def test_a_profile_the_credentials_cannot_meet_is_never_tried(
    pki: Pki, security: SecurityProfile, url: str, credentials: str
) -> None:
    given = tls_credentials(pki) if credentials == "tls" else StationCredentials()
    client, recorder = station(one_slot_policy(url, security), given)
    async with running(client):
        event = await recorder.expect("failed", 1)
        assert event.failure is not None
        assert event.failure.failure is Failure.UNUSABLE_PROFILE


async def test_no_downgrade_a_slot_below_the_station_security_profile_is_never_tried(
    pki: Pki,
) -> None:
    """A station on profile 2 whose TLS slot is down does not fall back to the profile-1 slot
    that would answer."""
    sleep = StepSleep(auto=True)
    async with RawCsms(password=PASSWORD) as plain:
        policy = ConnectionPolicy(
            [
                NetworkProfile(1, plain.url, SecurityProfile.BASIC_AUTH),
                NetworkProfile(
                    2, f"wss://127.0.0.1:{closed_port()}/ocpp", SecurityProfile.TLS_BASIC_AUTH
                ),
            ],
            [2, 1],
            security_profile=SecurityProfile.TLS_BASIC_AUTH,
            last_connected=1,
        )
        client, recorder = station(policy, tls_credentials(pki), sleep=sleep)
        async with running(client):
            for _ in range(5):
                await recorder.expect("failed", 2)
        assert plain.requests == []


async def test_a_connection_on_a_higher_profile_raises_the_station_and_drops_lower_slots(
    pki: Pki,
) -> None:
    """A05: once connected with profile 2, the station is on 2 and the profile-1 slot goes."""
    sleep = StepSleep(auto=True)
    async with (
        RawCsms(password=PASSWORD) as plain,
        RawCsms(tls=pki.server_context(), password=PASSWORD) as secure,
    ):
        policy = ConnectionPolicy(
            [
                NetworkProfile(1, plain.url, SecurityProfile.BASIC_AUTH),
                NetworkProfile(2, secure.url, SecurityProfile.TLS_BASIC_AUTH),
            ],
            [2, 1],
            security_profile=SecurityProfile.BASIC_AUTH,
            backoff=RetryBackOff(1, 0, 0),
        )
        client, recorder = station(policy, tls_credentials(pki), sleep=sleep)
        async with running(client):
            connection = await secure.accept()
            event = await recorder.expect("connected", 2)
            assert event.upgrade == Upgrade(SecurityProfile.TLS_BASIC_AUTH, (2,), (1,))
            secure.password = "no-longer-the-password"  # slot 2 now refuses the station
            await connection.close()
            await recorder.expect("disconnected", 2)
            for _ in range(3):
                await recorder.expect("failed", 2)
        assert plain.requests == []
        assert policy.security_profile is SecurityProfile.TLS_BASIC_AUTH
        assert sorted(policy.profiles) == [2]


def test_credentials_never_show_secrets(tmp_path: Path) -> None:
    credentials = StationCredentials(basic_auth_password=PASSWORD, station_key=tmp_path / "k")
    assert PASSWORD not in repr(credentials)
    assert "k'" not in repr(credentials)
