"""A test PKI for V2G TLS: V2G root CA -> CPO sub-CA 1 -> CPO sub-CA 2 -> SECC leaf.

The certificate profiles follow ISO 15118-2 Annex F / ISO 15118-20 Annex B as far as
TLS needs them:

    certificate   basicConstraints (critical)   keyUsage (critical)               validity here
    V2G root      CA, no path length            keyCertSign, cRLSign              10 years
    CPO sub-CA 1  CA, path length 1             keyCertSign, cRLSign              4 years
    CPO sub-CA 2  CA, path length 0             keyCertSign, cRLSign              1 year
    SECC leaf     not a CA                      digitalSignature, keyAgreement    60 days

Subjects carry CN, O, C and DC ("V2G" for the V2G PKI's CAs, "CPO" for the SECC); every
certificate has a subject key identifier and, below the root, an authority key identifier.
Keys are EC: secp256r1 with SHA-256 for ISO 15118-2, secp521r1 with SHA-512 for ISO
15118-20. The OEM and contract chains belong to Plug & Charge and are not made here.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class Profile(enum.Enum):
    ISO2 = "iso2"  # TLS 1.2
    ISO20 = "iso20"  # TLS 1.3

    @property
    def curve(self) -> ec.EllipticCurve:
        return ec.SECP256R1() if self is Profile.ISO2 else ec.SECP521R1()

    @property
    def digest(self) -> hashes.SHA256 | hashes.SHA512:
        return hashes.SHA256() if self is Profile.ISO2 else hashes.SHA512()


@dataclasses.dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclasses.dataclass(frozen=True)
class PkiFiles:
    root: pathlib.Path  # the V2G root certificate: the EVCC's trust anchor
    chain: pathlib.Path  # SECC leaf, sub-CA 2, sub-CA 1: what the SECC sends
    key: pathlib.Path  # the SECC leaf's private key (unencrypted: tests only)


@dataclasses.dataclass(frozen=True)
class TestPki:
    profile: Profile
    root: Issued
    sub_ca_1: Issued
    sub_ca_2: Issued
    secc: Issued

    def write(self, directory: pathlib.Path) -> PkiFiles:
        directory.mkdir(parents=True, exist_ok=True)
        files = PkiFiles(
            directory / "v2g_root.pem", directory / "secc_chain.pem", directory / "secc.key"
        )
        files.root.write_bytes(self.root.pem())
        files.chain.write_bytes(self.secc.pem() + self.sub_ca_2.pem() + self.sub_ca_1.pem())
        key = self.secc.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        files.key.write_bytes(key)
        files.key.chmod(0o600)
        return files


_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
_SECC_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=True,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def generate(
    profile: Profile,
    *,
    secc_common_name: str = "SECC",
    organization: str = "evstack test PKI",
    country: str = "DE",
    now: datetime.datetime | None = None,
) -> TestPki:
    """A fresh chain, valid from a minute before `now` (default: the current time)."""
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(minutes=1)

    def name(common_name: str, domain: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                x509.NameAttribute(NameOID.DOMAIN_COMPONENT, domain),
            ]
        )

    def issue(
        subject: x509.Name,
        days: int,
        ca: bool,
        path_length: int | None,
        issuer: Issued | None,
    ) -> Issued:
        key = ec.generate_private_key(profile.curve)
        public = key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if issuer is None else issuer.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
            .add_extension(_CA_USAGE if ca else _SECC_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        if issuer is not None:
            authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
            builder = builder.add_extension(authority, critical=False)
        signer = key if issuer is None else issuer.key
        return Issued(builder.sign(signer, profile.digest), key)

    root = issue(name("V2GRootCA", "V2G"), 3650, True, None, None)
    sub_ca_1 = issue(name("CPOSubCA1", "V2G"), 4 * 365, True, 1, root)
    sub_ca_2 = issue(name("CPOSubCA2", "V2G"), 365, True, 0, sub_ca_1)
    secc = issue(name(secc_common_name, "CPO"), 60, False, None, sub_ca_2)
    return TestPki(profile, root, sub_ca_1, sub_ca_2, secc)
