"""A throwaway PKI for the station's security tests, made with `cryptography`: CSMS, manufacturer
and V2G roots, a CSMS server certificate for loopback, the CSMS's signing of the station's CSRs,
firmware signing certificates and signatures, and simulated firmware images."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "evstack tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class Authority:
    """A CA: its key and certificate; issues leaves and sub-CAs."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return pem(self.certificate)

    def issue(
        self,
        subject: x509.Name,
        public_key: CertificatePublicKeyTypes,
        *,
        ca: bool = False,
        usage: x509.ObjectIdentifier | None = None,
        hosts: tuple[str, ...] = (),
        start: datetime.datetime | None = None,
        days: int = 30,
    ) -> x509.Certificate:
        start = start or NOW - DAY
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + days * DAY)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(_usage(ca=ca), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sub_ca(self, common_name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        return Authority(key, self.issue(name(common_name), key.public_key(), ca=True))

    def sign_csr(
        self, csr_pem: str, *, days: int = 30, start: datetime.datetime | None = None
    ) -> str:
        """What the CSMS answers a SignCertificateRequest with: the CSR's subject and key,
        signed by this CA, as a PEM chain (the leaf, then this CA if it is not a root)."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        leaf = self.issue(
            csr.subject,
            csr.public_key(),
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            days=days,
            start=start,
        )
        chain = pem(leaf)
        if self.certificate.issuer != self.certificate.subject:
            chain += self.pem
        return chain


def root(
    common_name: str,
    *,
    start: datetime.datetime | None = None,
    days: int = 365,
    ca: bool = True,
) -> Authority:
    """A self-signed root (with `ca=False`: a self-signed certificate that is no CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name)
    start = start or NOW - DAY
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + days * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, certificate)


def expired_root(common_name: str) -> Authority:
    return root(common_name, start=NOW - 40 * DAY, days=30)


@dataclass
class Signer:
    """A firmware signing certificate and its key."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return pem(self.certificate)

    def sign(self, data: bytes) -> str:
        """The base64 signature UpdateFirmware carries (ECDSA over SHA-256 of the file)."""
        digest = hashlib.sha256(data).digest()
        raw = self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return base64.b64encode(raw).decode()


def firmware_signer(manufacturer: Authority) -> Signer:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = manufacturer.issue(
        name("firmware signer"), key.public_key(), usage=ExtendedKeyUsageOID.CODE_SIGNING
    )
    return Signer(key, certificate)


def firmware_image(version: str, payload: bytes = b"\x7fELF simulated firmware\n") -> bytes:
    """A simulated firmware image the station installs (see modules/Ocpp201/firmware.py)."""
    digest = hashlib.sha256(payload).hexdigest()
    return f"EVSTACK-FIRMWARE 1\nversion: {version}\nsha256: {digest}\n\n".encode() + payload


def corrupt_image(version: str) -> bytes:
    """An image whose payload does not match its digest: it fails the install's check."""
    return firmware_image(version)[:-4] + b"XXXX"


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """CertificateHashDataType as the CSMS computes it (SHA-256), with the keys as they come
    back through the ocpp package (snake_case)."""
    key = issuer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(point).hexdigest(),
        "serial_number": format(certificate.serial_number, "x"),
    }


def wire(data: dict[str, str]) -> dict[str, str]:
    """The same hash data as a request carries it (camelCase)."""
    return {
        "hashAlgorithm": data["hash_algorithm"],
        "issuerNameHash": data["issuer_name_hash"],
        "issuerKeyHash": data["issuer_key_hash"],
        "serialNumber": data["serial_number"],
    }


@dataclass(frozen=True)
class Files:
    """A certificate (and its chain) and key written as PEM files."""

    certificate: Path
    key: Path


def write(
    folder: Path, stem: str, chain: list[x509.Certificate], key: ec.EllipticCurvePrivateKey
) -> Files:
    files = Files(folder / f"{stem}.pem", folder / f"{stem}.key")
    files.certificate.write_text("".join(pem(c) for c in chain))
    files.key.write_bytes(key_pem(key))
    return files


def server_certificate(
    folder: Path,
    authority: Authority,
    stem: str = "server",
    *,
    start: datetime.datetime | None = None,
    days: int = 30,
) -> Files:
    """A CSMS's TLS certificate for 127.0.0.1 and localhost, issued by `authority`."""
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = authority.issue(
        name("csms"),
        key.public_key(),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        hosts=("127.0.0.1", "localhost"),
        start=start,
        days=days,
    )
    return write(folder, stem, [leaf], key)


def station_certificate(folder: Path, authority: Authority, station_id: str) -> Files:
    """A station certificate (CN: the station's id) issued by `authority`."""
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = authority.issue(
        name(station_id), key.public_key(), usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    return write(folder, "station", [leaf], key)


def server_context(
    files: Files,
    *,
    client_roots: Path | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A CSMS's TLS settings; with `client_roots`, security profile 3's client certificates."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.certificate, files.key)
    if client_roots is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_roots)
    if maximum_version is not None:
        # TLS 1.0 and 1.1 are refused by OpenSSL's default security level itself.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = maximum_version
    return context
