"""Part 6, A (Security): basic auth and its password, TLS with the CSMS's certificate (and the
station's, profile 3), the station certificate's renewal and the security profile's upgrade,
against the running station over real TLS on loopback with a PKI this file makes."""

# ruff: noqa: N802 - the tests are named by the OCA's case ids (test_TC_A_01_CS)

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from ocpp.v201 import call, call_result

from .conftest import PASSWORD
from .csms import STATION, Csms
from .pki_kit import (
    DAY,
    NOW,
    Files,
    root,
    server_certificate,
    server_context,
    station_certificate,
)

pytestmark = pytest.mark.timeout(60)

CSMS_ROOT = root("CSMS root")  # signs the CSMS's server certificate and the station's
NEW_PASSWORD = "fedcba9876543210fedcba"
SPEEDUP = 50.0  # the back-off between failed attempts passes in wall fractions of a second


@dataclass
class Pki:
    folder: Path
    root_file: Path  # the CSMS root, as the station's config names it
    server: Files

    def context(self, **options: Any) -> ssl.SSLContext:
        return server_context(self.server, **options)

    def profile_3(self) -> ssl.SSLContext:
        """A CSMS that wants the station's certificate, issued under the CSMS root."""
        return server_context(self.server, client_roots=self.root_file)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "pki"
    folder.mkdir()
    root_file = folder / "csms-root.pem"
    root_file.write_text(CSMS_ROOT.pem)
    return Pki(folder, root_file, server_certificate(folder, CSMS_ROOT))


@contextlib.asynccontextmanager
async def tls_csms(context: ssl.SSLContext, password: str | None = PASSWORD) -> AsyncIterator[Csms]:
    """A CSMS over TLS; like the `csms` fixture, it must see nothing the schemas refuse."""
    async with Csms(tls=context, password=password) as peer:
        yield peer
    assert not peer.invalid, peer.invalid


async def variable(csms: Csms, component: str, name: str) -> dict[str, Any]:
    read = await csms.call(
        call.GetVariables(
            get_variable_data=[{"component": {"name": component}, "variable": {"name": name}}]
        )
    )
    result: dict[str, Any] = read.get_variable_result[0]
    return result


async def set_variable(csms: Csms, component: str, name: str, value: str) -> str:
    answer = await csms.call(
        call.SetVariables(
            set_variable_data=[
                {
                    "component": {"name": component},
                    "variable": {"name": name},
                    "attributeValue": value,
                }
            ]
        )
    )
    status: str = answer.set_variable_result[0]["attribute_status"]
    return status


def network_profile(url: str, security_profile: int) -> dict[str, Any]:
    return {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": url,
        "messageTimeout": 30,
        "securityProfile": security_profile,
        "ocppInterface": "Wired0",
    }


async def seen(csms: Csms, action: str, where: Any = lambda payload: True) -> dict[str, Any]:
    """The payload of a message the station sent, or sends next, whatever came around it
    (`expect` passes over what it is not waiting for)."""
    for received in csms.history:
        if received.action == action and where(received.payload):
            return received.payload
    return await csms.expect(action, where)


async def connection(csms: Csms, number: int) -> None:
    """Until the station's `number`th connection is up."""
    while await csms.connected() < number:
        pass


def peer_certificate(csms: Csms) -> x509.Certificate:
    """The certificate the station showed on its current connection (profile 3)."""
    assert csms.peer is not None
    der = csms.peer._connection.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


# -- A00: the security profiles ----------------------------------------------------------------


async def test_TC_A_01_CS(csms: Csms, charger: Any) -> None:
    """Profile 1: the CSMS (which refuses anything else) sees basic auth with the station's id
    and password, and the station boots."""
    async with charger(csms):
        assert (await csms.expect("BootNotification"))["reason"] == "PowerUp"
        await csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Available")
    assert csms.attempts == 1


async def test_TC_A_04_CS(charger: Any, pki: Pki) -> None:
    """Profile 2: TLS against the installed CSMS root, then basic auth; the station boots."""
    async with tls_csms(pki.context()) as csms:
        config = {"security_profile": 2, "csms_root_certificates": str(pki.root_file)}
        async with charger(csms, **config):
            await csms.expect("BootNotification")
            await csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Available")
            await seen(
                csms, "SecurityEventNotification", lambda p: p["type"] == "StartupOfTheDevice"
            )


async def bad_then_good(charger: Any, pki: Pki, bad: ssl.SSLContext, event: str | None) -> None:
    """A CSMS with a bad TLS setup in slot 1, a good one in slot 2: the station gives up on the
    first (NetworkProfileConnectionAttempts), connects to the second and reports `event` (if
    one is due)."""
    async with tls_csms(bad) as wrong, tls_csms(pki.context()) as csms:
        config = {
            "security_profile": 2,
            "csms_root_certificates": str(pki.root_file),
            "csms_url": f"{wrong.url} {csms.url}",
        }
        async with charger(csms, speedup=SPEEDUP, **config):
            await csms.expect("BootNotification")
            await seen(
                csms, "SecurityEventNotification", lambda p: p["type"] == "StartupOfTheDevice"
            )
            if event is not None:
                reported = await seen(
                    csms, "SecurityEventNotification", lambda p: p["type"] == event
                )
                assert reported["techInfo"].startswith("slot 1: ")
        assert wrong.attempts == 0  # the handshake failed before any HTTP upgrade


async def test_TC_A_05_CS(charger: Any, pki: Pki) -> None:
    """A server certificate from a root the station does not know: InvalidCsmsCertificate."""
    stranger = server_certificate(pki.folder, root("unknown root"), "stranger")
    await bad_then_good(charger, pki, server_context(stranger), "InvalidCsmsCertificate")


async def test_TC_A_05_CS_expired(charger: Any, pki: Pki) -> None:
    """A server certificate from the CSMS root, but expired: InvalidCsmsCertificate."""
    expired = server_certificate(pki.folder, CSMS_ROOT, "expired", start=NOW - 10 * DAY, days=5)
    await bad_then_good(charger, pki, server_context(expired), "InvalidCsmsCertificate")


async def test_TC_A_06_CS(charger: Any, pki: Pki) -> None:
    """A CSMS that offers TLS 1.1 at most is not connected to. OpenSSL's server resets the
    connection rather than alert, so the station cannot tell a TLS version from a network
    failure here and InvalidTLSVersion (steps 16-17, optional) is not sent; it is when the
    server alerts (see the security event tests by hand)."""
    old = pki.context(maximum_version=ssl.TLSVersion.TLSv1_1)
    await bad_then_good(charger, pki, old, None)


async def test_TC_A_07_CS(charger: Any, pki: Pki) -> None:
    """Profile 3: the station shows its certificate (CN: its id), no password."""
    station = station_certificate(pki.folder, CSMS_ROOT, STATION)
    async with tls_csms(pki.profile_3(), password=None) as csms:
        config = {
            "security_profile": 3,
            "csms_root_certificates": str(pki.root_file),
            "station_certificate": str(station.certificate),
            "station_key": str(station.key),
        }
        async with charger(csms, **config):
            await csms.expect("BootNotification")
            shown = peer_certificate(csms)
            assert (
                shown.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == STATION
            )
            assert shown == x509.load_pem_x509_certificates(station.certificate.read_bytes())[0]


# -- A01: the basic auth password ----------------------------------------------------------------


async def test_TC_A_09_CS(csms: Csms, charger: Any) -> None:
    """A new password is Accepted, and the station's next connection, which it opens at once,
    carries it (the CSMS takes nothing else from then on); the change is a security event."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        first = csms.attempts
        csms.password = NEW_PASSWORD  # the old one would be refused from now on
        status = await set_variable(csms, "SecurityCtrlr", "BasicAuthPassword", NEW_PASSWORD)
        assert status in ("Accepted", "RebootRequired")
        await connection(csms, 2)
        assert csms.attempts == first + 1  # the first try with the new password got in
        event = await csms.expect(
            "SecurityEventNotification",
            lambda p: p["type"] == "ReconfigurationOfSecurityParameters",
        )
        assert NEW_PASSWORD not in event.get("techInfo", "")


async def test_TC_A_10_CS(csms: Csms, charger: Any) -> None:
    """A password of 15 characters is Rejected; the station's next connection carries the old
    one (PASSWORD), which the CSMS still takes."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        status = await set_variable(csms, "SecurityCtrlr", "BasicAuthPassword", "0123456789abcde")
        assert status == "Rejected"
        await csms.drop()
        await connection(csms, 2)
        # BasicAuthPassword is write-only: it is not read back, but it still opens the door.
        read = await variable(csms, "SecurityCtrlr", "BasicAuthPassword")
        assert read["attribute_status"] != "Accepted"


# -- A02/A03: the station certificate's renewal ---------------------------------------------------


def profile_3_station(charger: Any, pki: Pki, csms: Csms) -> Any:
    station = station_certificate(pki.folder, CSMS_ROOT, STATION)
    config = {
        "security_profile": 3,
        "csms_root_certificates": str(pki.root_file),
        "station_certificate": str(station.certificate),
        "station_key": str(station.key),
    }
    return charger(csms, **config)


async def sign_csr(csms: Csms) -> dict[str, Any]:
    """TriggerMessage(SignChargingStationCertificate): Accepted, then the station's CSR."""
    trigger = call.TriggerMessage(requested_message="SignChargingStationCertificate")
    assert (await csms.call(trigger)).status == "Accepted"
    request = await csms.expect("SignCertificate")
    assert request["certificateType"] == "ChargingStationCertificate"
    csr = x509.load_pem_x509_csr(request["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == STATION
    return request


async def test_TC_A_11_CS(charger: Any, pki: Pki) -> None:
    """Renewal at profile 3: the CSMS signs the CSR, CertificateSigned is Accepted, and the
    station's next connection shows the new certificate."""
    async with (
        tls_csms(pki.profile_3(), password=None) as csms,
        profile_3_station(charger, pki, csms),
    ):
        await csms.expect("StatusNotification")
        old = peer_certificate(csms)
        request = await sign_csr(csms)
        chain = CSMS_ROOT.sign_csr(request["csr"])
        signed = await csms.call(
            call.CertificateSigned(
                certificate_chain=chain, certificate_type="ChargingStationCertificate"
            )
        )
        assert signed.status == "Accepted"
        await csms.drop()
        await connection(csms, 2)
        new = peer_certificate(csms)
        assert new != old
        assert new == x509.load_pem_x509_certificates(chain.encode())[0]


async def test_TC_A_14_CS(charger: Any, pki: Pki) -> None:
    """A certificate not issued under the CSMS root: Rejected, and the security event
    InvalidChargingStationCertificate; the station keeps its certificate."""
    async with (
        tls_csms(pki.profile_3(), password=None) as csms,
        profile_3_station(charger, pki, csms),
    ):
        await csms.expect("StatusNotification")
        old = peer_certificate(csms)
        request = await sign_csr(csms)
        forged = root("not the CSMS root").sign_csr(request["csr"])
        signed = await csms.call(
            call.CertificateSigned(
                certificate_chain=forged, certificate_type="ChargingStationCertificate"
            )
        )
        assert signed.status == "Rejected"
        await csms.expect(
            "SecurityEventNotification",
            lambda p: p["type"] == "InvalidChargingStationCertificate",
        )
        await csms.drop()
        await connection(csms, 2)
        assert peer_certificate(csms) == old


async def test_TC_A_15_CS(charger: Any, pki: Pki) -> None:
    """The CSMS rejects the SignCertificateRequest: the renewal ends there (no new CSR even
    well after CertSigningWaitMinimum)."""
    async with tls_csms(pki.profile_3(), password=None) as csms:
        csms.respond(
            "SignCertificate", lambda payload: call_result.SignCertificate(status="Rejected")
        )
        async with profile_3_station(charger, pki, csms) as station:
            await csms.expect("StatusNotification")
            status = await set_variable(csms, "SecurityCtrlr", "CertSigningWaitMinimum", "5")
            assert status == "Accepted"
            await sign_csr(csms)
            await asyncio.sleep(station.wall(3 * 5))  # the station's 15 s: well past the wait
            assert sum(1 for r in csms.history if r.action == "SignCertificate") == 1


async def test_a_csr_the_csms_does_not_answer_is_sent_again(charger: Any, pki: Pki) -> None:
    """A02.FR.17: no CertificateSigned within CertSigningWaitMinimum: a new CSR."""
    async with (
        tls_csms(pki.profile_3(), password=None) as csms,
        profile_3_station(charger, pki, csms),
    ):
        await csms.expect("StatusNotification")
        assert (
            await set_variable(csms, "SecurityCtrlr", "CertSigningWaitMinimum", "5") == "Accepted"
        )
        first = await sign_csr(csms)
        again = await csms.expect("SignCertificate")
        assert again["csr"] != first["csr"]  # a new key each time
        signed = await csms.call(
            call.CertificateSigned(
                certificate_chain=CSMS_ROOT.sign_csr(again["csr"]),
                certificate_type="ChargingStationCertificate",
            )
        )
        assert signed.status == "Accepted"


# -- A05: the security profile goes up, never down -------------------------------------------------


async def test_TC_A_19_CS(csms: Csms, charger: Any, pki: Pki) -> None:
    """From profile 1 to 2: the CSMS root installed, a profile-2 slot, the priority to it, a
    reset; the station comes back over TLS, SecurityProfile reads 2 and slot 1 is gone."""
    async with tls_csms(pki.context()) as secure, charger(csms, speedup=SPEEDUP):
        await csms.expect("StatusNotification")
        installed = await csms.call(
            call.InstallCertificate(
                certificate_type="CSMSRootCertificate", certificate=CSMS_ROOT.pem
            )
        )
        assert installed.status == "Accepted"
        profile = await csms.call(
            call.SetNetworkProfile(
                configuration_slot=2, connection_data=network_profile(secure.url, 2)
            )
        )
        assert profile.status == "Accepted"
        status = await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
        assert status in ("Accepted", "RebootRequired")
        assert (await csms.call(call.Reset(type="OnIdle"))).status == "Accepted"
        await secure.expect("BootNotification")
        await secure.expect("StatusNotification")
        assert (await variable(secure, "SecurityCtrlr", "SecurityProfile"))[
            "attribute_value"
        ] == "2"
        priority = await variable(secure, "OCPPCommCtrlr", "NetworkConfigurationPriority")
        assert "1" not in priority["attribute_value"].split(",")


async def test_TC_A_20_CS(csms: Csms, charger: Any, pki: Pki) -> None:
    """No valid CSMS root installed: the profile-2 slot is taken, the priority naming it first
    is Rejected."""
    async with tls_csms(pki.context()) as secure, charger(csms):
        await csms.expect("StatusNotification")
        profile = await csms.call(
            call.SetNetworkProfile(
                configuration_slot=2, connection_data=network_profile(secure.url, 2)
            )
        )
        assert profile.status == "Accepted"
        status = await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
        assert status == "Rejected"
        assert (await variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority"))[
            "attribute_value"
        ] == "1"


async def test_TC_A_21_CS(csms: Csms, charger: Any, pki: Pki) -> None:
    """A CSMS root but no station certificate: a profile-3 slot first in the priority is
    Rejected."""
    async with tls_csms(pki.profile_3(), password=None) as secure, charger(csms):
        await csms.expect("StatusNotification")
        await csms.call(
            call.InstallCertificate(
                certificate_type="CSMSRootCertificate", certificate=CSMS_ROOT.pem
            )
        )
        profile = await csms.call(
            call.SetNetworkProfile(
                configuration_slot=2, connection_data=network_profile(secure.url, 3)
            )
        )
        assert profile.status == "Accepted"
        status = await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
        assert status == "Rejected"


async def test_TC_A_22_CS(charger: Any, pki: Pki) -> None:
    """At profile 2, a network profile with security profile 1 is Rejected (no downgrade)."""
    async with tls_csms(pki.context()) as csms:
        config = {"security_profile": 2, "csms_root_certificates": str(pki.root_file)}
        async with charger(csms, **config):
            await csms.expect("StatusNotification")
            downgrade = network_profile("ws://127.0.0.1:9/ocpp", 1)
            answer = await csms.call(
                call.SetNetworkProfile(configuration_slot=2, connection_data=downgrade)
            )
            assert answer.status == "Rejected"
