"""The certificate store by hand: what may be installed (M05), how certificates are named
(M03's hash data), what may be deleted (M04), the station's CSRs and signed chains (A02)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evstack.generated.ocpp.v201.datatypes import CertificateHashDataType
from evstack.generated.ocpp.v201.enums import (
    CertificateSigningUseEnumType,
    DeleteCertificateStatusEnumType,
    GetCertificateIdUseEnumType,
    HashAlgorithmEnumType,
    InstallCertificateUseEnumType,
)
from evstack.modules.Ocpp201.certificate_store import CertificateError, CertificateStore, hash_data

from .pki_kit import DAY, NOW, expired_root, key_pem, name, pem, root

pytestmark = pytest.mark.timeout(30)

Root = InstallCertificateUseEnumType
Own = CertificateSigningUseEnumType
Kind = GetCertificateIdUseEnumType


def test_hash_data_is_the_issuer_name_and_key_hashes_and_the_hex_serial(tmp_path: Path) -> None:
    authority = root("CSMS root")
    certificate = authority.certificate
    spki = certificate.public_key()
    assert isinstance(spki, ec.EllipticCurvePublicKey)
    point = spki.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    data = hash_data(certificate, certificate)
    assert data.hashAlgorithm is HashAlgorithmEnumType.SHA256
    assert data.issuerNameHash == hashlib.sha256(certificate.issuer.public_bytes()).hexdigest()
    assert data.issuerKeyHash == hashlib.sha256(point).hexdigest()  # the BIT STRING's content
    assert data.serialNumber == format(certificate.serial_number, "x")
    assert not data.serialNumber.startswith("0")
    sha512 = hash_data(certificate, certificate, HashAlgorithmEnumType.SHA512)
    assert len(sha512.issuerKeyHash) == 128


def test_a_root_is_installed_listed_and_survives_a_restart(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path)
    csms, maker = root("CSMS root"), root("manufacturer root")
    store.install(Root.CSMSRootCertificate, csms.pem, NOW)
    store.install(Root.ManufacturerRootCertificate, maker.pem, NOW)
    store.install(Root.CSMSRootCertificate, csms.pem, NOW)  # again: nothing changes
    listed = store.installed()
    assert [(entry.certificateType, entry.certificateHashData) for entry in listed] == [
        (Kind.CSMSRootCertificate, hash_data(csms.certificate, csms.certificate)),
        (Kind.ManufacturerRootCertificate, hash_data(maker.certificate, maker.certificate)),
    ]
    assert store.csms_roots() == tmp_path / "csms-roots.pem"
    assert x509.load_pem_x509_certificates(store.csms_roots_file.read_bytes()) == [csms.certificate]
    again = CertificateStore(tmp_path)
    assert again.installed([Kind.ManufacturerRootCertificate]) == store.installed(
        [Kind.ManufacturerRootCertificate]
    )
    assert again.installed([Kind.MORootCertificate]) == []


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: expired_root("old").pem, "Expired"),
        (lambda: root("later", start=NOW + 2 * DAY).pem, "NotYetValid"),
        (lambda: root("leaf", ca=False).pem, "NotACA"),
        (lambda: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", None),
        (lambda: root("a").pem + root("b").pem, "InvalidCertificate"),
    ],
)
def test_an_invalid_root_is_refused_and_not_kept(
    tmp_path: Path, make: Callable[[], str], reason: str | None
) -> None:
    store = CertificateStore(tmp_path)
    with pytest.raises(CertificateError) as refused:
        store.install(Root.CSMSRootCertificate, make(), NOW)
    if reason is not None:
        assert refused.value.reason == reason
    assert store.installed() == []
    assert store.csms_roots() is None


def test_a_root_with_a_forged_self_signature_is_refused(tmp_path: Path) -> None:
    genuine, forger = root("CSMS root"), root("CSMS root")
    # The genuine root's name and key, signed by another key.
    forged = genuine.certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(forged.subject)
        .issuer_name(forged.issuer)
        .public_key(forged.public_key())
        .serial_number(forged.serial_number)
        .not_valid_before(forged.not_valid_before_utc)
        .not_valid_after(forged.not_valid_after_utc)
    )
    for extension in forged.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    certificate = builder.sign(forger.key, hashes.SHA256())
    with pytest.raises(CertificateError) as refused:
        CertificateStore(tmp_path).install(Root.CSMSRootCertificate, pem(certificate), NOW)
    assert refused.value.reason == "InvalidSignature"


def test_a_full_store_refuses_more(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_roots=1)
    store.install(Root.V2GRootCertificate, root("one").pem, NOW)
    with pytest.raises(CertificateError) as refused:
        store.install(Root.MORootCertificate, root("two").pem, NOW)
    assert refused.value.reason == "StorageFull"


def test_delete_by_hash_data_in_any_case_and_algorithm(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path)
    kept, gone = root("kept"), root("gone")
    store.install(Root.CSMSRootCertificate, kept.pem, NOW)
    store.install(Root.CSMSRootCertificate, gone.pem, NOW)
    wanted = hash_data(gone.certificate, gone.certificate, HashAlgorithmEnumType.SHA384)
    shouted = CertificateHashDataType(
        hashAlgorithm=wanted.hashAlgorithm,
        issuerNameHash=wanted.issuerNameHash.upper(),
        issuerKeyHash=wanted.issuerKeyHash.upper(),
        serialNumber="00" + wanted.serialNumber.upper(),
    )
    assert store.delete(shouted) is DeleteCertificateStatusEnumType.Accepted
    assert store.roots(Root.CSMSRootCertificate) == [kept.certificate]
    assert x509.load_pem_x509_certificates(store.csms_roots_file.read_bytes()) == [kept.certificate]
    assert store.delete(shouted) is DeleteCertificateStatusEnumType.NotFound
    assert CertificateStore(tmp_path).roots(Root.CSMSRootCertificate) == [kept.certificate]


def test_the_last_csms_root_is_kept_when_tls_needs_it(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path)
    only = root("only")
    store.install(Root.CSMSRootCertificate, only.pem, NOW)
    named = hash_data(only.certificate, only.certificate)
    assert store.delete(named, keep_last_csms_root=True) is DeleteCertificateStatusEnumType.Failed
    assert store.delete(named) is DeleteCertificateStatusEnumType.Accepted
    assert store.csms_roots() is None


def test_a_signed_certificate_for_the_csr_key_becomes_the_station_certificate(
    tmp_path: Path,
) -> None:
    store = CertificateStore(tmp_path)
    csms = root("CSMS root")
    store.install(Root.CSMSRootCertificate, csms.pem, NOW)
    assert not store.has_valid_own(Own.ChargingStationCertificate, NOW)
    csr_pem = store.new_csr(Own.ChargingStationCertificate, "CS001", "evstack CPO")
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=CS001,O=evstack CPO"
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.key_size >= 224
    store.accept_signed(Own.ChargingStationCertificate, csms.sign_csr(csr_pem), NOW)
    assert store.has_valid_own(Own.ChargingStationCertificate, NOW)
    files = store.own(Own.ChargingStationCertificate, NOW)
    assert files is not None
    chain, key_file = files
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    private = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert leaf.public_key() == private.public_key()
    assert not (tmp_path / "own" / "ChargingStationCertificate" / "pending.key").exists()


def test_a_signed_certificate_that_is_wrong_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    store = CertificateStore(tmp_path)
    csms, stranger = root("CSMS root"), root("stranger")
    store.install(Root.CSMSRootCertificate, csms.pem, NOW)
    with pytest.raises(CertificateError) as no_csr:
        store.accept_signed(Own.ChargingStationCertificate, csms.sign_csr(_csr()), NOW)
    assert no_csr.value.reason == "NoPendingRequest"
    csr_pem = store.new_csr(Own.ChargingStationCertificate, "CS001", None)
    cases = [
        (stranger.sign_csr(csr_pem), "UntrustedChain"),
        (csms.sign_csr(_csr()), "WrongKey"),
        (csms.sign_csr(csr_pem, start=NOW - 40 * DAY, days=30), "Expired"),
    ]
    for chain, reason in cases:
        with pytest.raises(CertificateError) as refused:
            store.accept_signed(Own.ChargingStationCertificate, chain, NOW)
        assert refused.value.reason == reason
    assert store.own(Own.ChargingStationCertificate, NOW) is None
    store.accept_signed(Own.ChargingStationCertificate, csms.sign_csr(csr_pem), NOW)


def test_a_certificate_valid_from_tomorrow_waits_as_staged(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path)
    csms = root("CSMS root")
    store.install(Root.CSMSRootCertificate, csms.pem, NOW)
    first = store.new_csr(Own.ChargingStationCertificate, "CS001", None)
    store.accept_signed(Own.ChargingStationCertificate, csms.sign_csr(first), NOW)
    old = store.own_certificate(Own.ChargingStationCertificate)
    second = store.new_csr(Own.ChargingStationCertificate, "CS001", None)
    tomorrow = NOW + DAY
    store.accept_signed(Own.ChargingStationCertificate, csms.sign_csr(second, start=tomorrow), NOW)
    assert store.own(Own.ChargingStationCertificate, NOW) is not None
    assert store.own_certificate(Own.ChargingStationCertificate) == old
    store.own(Own.ChargingStationCertificate, tomorrow + DAY)
    new = store.own_certificate(Own.ChargingStationCertificate)
    assert new is not None
    assert new != old


def test_the_station_certificate_and_its_sub_ca_are_never_deleted(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path)
    v2g = root("V2G root")
    sub = v2g.sub_ca("CPO sub-CA")
    store.install(Root.V2GRootCertificate, v2g.pem, NOW)
    csr_pem = store.new_csr(Own.V2GCertificate, "CS001", None)
    store.accept_signed(Own.V2GCertificate, sub.sign_csr(csr_pem), NOW)
    leaf = store.own_certificate(Own.V2GCertificate)
    assert leaf is not None
    (chain_entry,) = store.installed([Kind.V2GCertificateChain])
    assert chain_entry.certificateHashData == hash_data(leaf, sub.certificate)
    assert chain_entry.childCertificateHashData == [hash_data(sub.certificate, v2g.certificate)]
    for named in (hash_data(leaf, sub.certificate), hash_data(sub.certificate, v2g.certificate)):
        assert store.delete(named) is DeleteCertificateStatusEnumType.Failed
    assert store.delete(hash_data(v2g.certificate, v2g.certificate)) is (
        DeleteCertificateStatusEnumType.Accepted
    )


def test_imported_roots_and_station_certificate(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "store")
    csms = root("CSMS root")
    store.import_roots(Root.CSMSRootCertificate, (csms.pem + root("second").pem).encode())
    assert len(store.roots(Root.CSMSRootCertificate)) == 2
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = csms.issue(name("CS001"), key.public_key())
    store.import_own(Own.ChargingStationCertificate, pem(leaf).encode(), key_pem(key))
    assert store.has_valid_own(Own.ChargingStationCertificate, NOW)
    assert not store.has_valid_own(Own.ChargingStationCertificate, NOW + 60 * DAY)


def _csr() -> str:
    """A CSR of a key the store never made."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name("other"))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()
