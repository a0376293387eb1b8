"""The test PKI's certificates have the profiles ISO 15118-2 and -20 ask for."""

from __future__ import annotations

import datetime
import pathlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evstack.hlc.transport import pki

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("profile", "curve", "digest"),
    [(pki.Profile.ISO2, "secp256r1", "sha256"), (pki.Profile.ISO20, "secp521r1", "sha512")],
)
def test_chain_profiles(profile: pki.Profile, curve: str, digest: str) -> None:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    made = pki.generate(profile, secc_common_name="DE*EVS*E0001", now=now)
    chain = [made.root, made.sub_ca_1, made.sub_ca_2, made.secc]
    expected = [  # (CN, DC, CA, path length, keyCertSign, digitalSignature, days)
        ("V2GRootCA", "V2G", True, None, True, False, 3650),
        ("CPOSubCA1", "V2G", True, 1, True, False, 1460),
        ("CPOSubCA2", "V2G", True, 0, True, False, 365),
        ("DE*EVS*E0001", "CPO", False, None, False, True, 60),
    ]
    for issued, issuer, want in zip(chain, [made.root, *chain[:-1]], expected, strict=True):
        cert = issued.certificate
        name, domain, ca, path_length, cert_sign, signature, days = want
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert cert.subject.get_attributes_for_oid(NameOID.DOMAIN_COMPONENT)[0].value == domain
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical
        assert (constraints.value.ca, constraints.value.path_length) == (ca, path_length)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical
        assert (usage.value.key_cert_sign, usage.value.crl_sign) == (cert_sign, cert_sign)
        assert usage.value.digital_signature == signature
        assert usage.value.key_agreement == signature
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days)
        assert cert.not_valid_before_utc < now
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == curve
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == digest
        cert.verify_directly_issued_by(issuer.certificate)
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_written_files(tmp_path: pathlib.Path) -> None:
    made = pki.generate(pki.Profile.ISO2)
    files = made.write(tmp_path / "pki")
    assert x509.load_pem_x509_certificate(files.root.read_bytes()) == made.root.certificate
    chain = x509.load_pem_x509_certificates(files.chain.read_bytes())
    assert chain == [made.secc.certificate, made.sub_ca_2.certificate, made.sub_ca_1.certificate]
    assert files.key.stat().st_mode & 0o777 == 0o600
