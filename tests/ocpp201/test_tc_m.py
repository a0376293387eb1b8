"""Part 6, M (certificate management): install, list and delete roots, and the station
certificate's renewal, against the running station with a throwaway PKI."""

# ruff: noqa: N802 - the tests are named by the OCA's case ids (test_TC_M_01_CS)

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from ocpp.v201 import call

from .csms import Csms
from .pki_kit import Authority, expired_root, hash_data, root, wire

pytestmark = pytest.mark.timeout(60)

CSMS_ROOT = root("CSMS root")
MAKER_ROOT = root("manufacturer root")


def own_hash(authority: Authority) -> dict[str, str]:
    return hash_data(authority.certificate, authority.certificate)


async def install(csms: Csms, kind: str, authority: Authority) -> str:
    """Memory state CertificateInstalled: InstallCertificate, the status answered."""
    answer = await csms.call(
        call.InstallCertificate(certificate_type=kind, certificate=authority.pem)
    )
    status: str = answer.status
    return status


async def installed(csms: Csms, *kinds: str) -> tuple[str, list[dict[str, Any]]]:
    """Reusable state GetInstalledCertificates: the status and certificateHashDataChain."""
    request = call.GetInstalledCertificateIds(certificate_type=list(kinds) if kinds else None)
    answer = await csms.call(request)
    return answer.status, answer.certificate_hash_data_chain or []


def entries(chain: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    return [(entry["certificate_type"], entry["certificate_hash_data"]) for entry in chain]


async def test_TC_M_01_CS(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        assert await install(csms, "CSMSRootCertificate", CSMS_ROOT) == "Accepted"
        status, chain = await installed(csms, "CSMSRootCertificate")
        assert status == "Accepted"
        assert ("CSMSRootCertificate", own_hash(CSMS_ROOT)) in entries(chain)


async def test_TC_M_02_CS(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        assert await install(csms, "ManufacturerRootCertificate", MAKER_ROOT) == "Accepted"
        status, chain = await installed(csms, "ManufacturerRootCertificate")
        assert status == "Accepted"
        assert entries(chain) == [("ManufacturerRootCertificate", own_hash(MAKER_ROOT))]


async def test_TC_M_07_CS(csms: Csms, charger: Any) -> None:
    """An expired root is Rejected and not listed."""
    old = expired_root("expired CSMS root")
    async with charger(csms):
        await csms.expect("StatusNotification")
        assert await install(csms, "CSMSRootCertificate", CSMS_ROOT) == "Accepted"
        assert await install(csms, "CSMSRootCertificate", old) == "Rejected"
        status, chain = await installed(csms, "CSMSRootCertificate")
        assert status == "Accepted"
        assert ("CSMSRootCertificate", own_hash(old)) not in entries(chain)


async def test_TC_M_12_CS(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        await install(csms, "ManufacturerRootCertificate", MAKER_ROOT)
        status, chain = await installed(csms, "CSMSRootCertificate")
        assert status == "Accepted"
        assert entries(chain) == [("CSMSRootCertificate", own_hash(CSMS_ROOT))]


async def test_TC_M_13_CS(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "ManufacturerRootCertificate", MAKER_ROOT)
        status, chain = await installed(csms, "ManufacturerRootCertificate")
        assert status == "Accepted"
        assert entries(chain) == [("ManufacturerRootCertificate", own_hash(MAKER_ROOT))]


async def test_TC_M_17_CS(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        await install(csms, "ManufacturerRootCertificate", MAKER_ROOT)
        status, chain = await installed(csms, "CSMSRootCertificate", "ManufacturerRootCertificate")
        assert status == "Accepted"
        assert sorted(entries(chain), key=str) == sorted(
            [
                ("CSMSRootCertificate", own_hash(CSMS_ROOT)),
                ("ManufacturerRootCertificate", own_hash(MAKER_ROOT)),
            ],
            key=str,
        )


async def test_TC_M_18_CS(csms: Csms, charger: Any) -> None:
    """certificateType omitted: every installed certificate."""
    v2g = root("V2G root")
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        await install(csms, "ManufacturerRootCertificate", MAKER_ROOT)
        await install(csms, "V2GRootCertificate", v2g)
        status, chain = await installed(csms)
        assert status == "Accepted"
        assert sorted(entries(chain), key=str) == sorted(
            [
                ("CSMSRootCertificate", own_hash(CSMS_ROOT)),
                ("ManufacturerRootCertificate", own_hash(MAKER_ROOT)),
                ("V2GRootCertificate", own_hash(v2g)),
            ],
            key=str,
        )


async def test_TC_M_19_CS(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        answer = await csms.call(
            call.GetInstalledCertificateIds(certificate_type=["MORootCertificate"])
        )
        assert answer.status == "NotFound"
        assert answer.certificate_hash_data_chain is None


async def test_TC_M_20_CS(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        _, chain = await installed(csms, "CSMSRootCertificate")
        (entry,) = chain
        deleted = await csms.call(
            call.DeleteCertificate(certificate_hash_data=wire(entry["certificate_hash_data"]))
        )
        assert deleted.status == "Accepted"
        status, chain = await installed(csms, "CSMSRootCertificate")
        assert (status, chain) == ("NotFound", [])


async def test_TC_M_22_CS(csms: Csms, charger: Any) -> None:
    unknown = root("never installed")
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        answer = await csms.call(
            call.DeleteCertificate(certificate_hash_data=wire(own_hash(unknown)))
        )
        assert answer.status == "NotFound"
        assert entries((await installed(csms))[1]) == [("CSMSRootCertificate", own_hash(CSMS_ROOT))]


async def renew(
    csms: Csms, signer: Authority, kind: str = "ChargingStationCertificate"
) -> x509.Certificate:
    """Memory state RenewChargingStationCertificate: TriggerMessage, SignCertificate (its CSR
    checked), CertificateSigned with the CSR signed by `signer`; the new certificate."""
    message = (
        "SignChargingStationCertificate"
        if kind == "ChargingStationCertificate"
        else "SignV2GCertificate"
    )
    assert (await csms.call(call.TriggerMessage(requested_message=message))).status == "Accepted"
    request = await csms.expect("SignCertificate")
    assert request["certificateType"] == kind
    csr = x509.load_pem_x509_csr(request["csr"].encode())
    assert csr.is_signature_valid
    assert csr.public_key().key_size >= 224  # type: ignore[union-attr]
    chain = signer.sign_csr(request["csr"])
    signed = await csms.call(call.CertificateSigned(certificate_chain=chain, certificate_type=kind))
    assert signed.status == "Accepted"
    return x509.load_pem_x509_certificates(chain.encode())[0]


async def test_TC_M_23_CS(csms: Csms, charger: Any) -> None:
    """The station certificate just renewed cannot be deleted: NotFound or Failed."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        leaf = await renew(csms, CSMS_ROOT)
        await installed(csms)
        named = wire(hash_data(leaf, CSMS_ROOT.certificate))
        answer = await csms.call(call.DeleteCertificate(certificate_hash_data=named))
        assert answer.status in ("NotFound", "Failed")


async def test_a_v2g_certificate_chain_is_listed_with_its_sub_ca(csms: Csms, charger: Any) -> None:
    v2g = root("V2G root")
    cpo = v2g.sub_ca("CPO sub-CA")
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "V2GRootCertificate", v2g)
        leaf = await renew(csms, cpo, "V2GCertificate")
        status, chain = await installed(csms, "V2GCertificateChain")
        assert status == "Accepted"
        (entry,) = chain
        assert entry["certificate_hash_data"] == hash_data(leaf, cpo.certificate)
        assert entry["child_certificate_hash_data"] == [hash_data(cpo.certificate, v2g.certificate)]


async def test_install_needs_no_tls(csms: Csms, charger: Any) -> None:
    """Installing a CSMS root over a profile-1 connection is how an upgrade to profile 2 starts
    (A05.FR.02): it is not refused below profile 2."""
    async with charger(csms, security_profile=1):
        await csms.expect("StatusNotification")
        assert await install(csms, "CSMSRootCertificate", CSMS_ROOT) == "Accepted"


async def test_certificate_entries_counts_the_roots(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        await install(csms, "CSMSRootCertificate", CSMS_ROOT)
        await install(csms, "ManufacturerRootCertificate", MAKER_ROOT)
        read = await csms.call(
            call.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "CertificateEntries"},
                    }
                ]
            )
        )
        assert read.get_variable_result[0]["attribute_value"] == "2"
