"""A throwaway PKI for the security-profile tests: a CSMS root with a server leaf for
127.0.0.1 / localhost, a station leaf (CN: the station's id), and what a bad CSMS would show
(a certificate from an unknown root, an expired one, one for another host name)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, written as PEM files."""

    certificate: Path
    key: Path


@dataclass
class _Authority:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "evstack tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _root(common_name: str) -> _Authority:
    key, name = _key(), _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Authority(name, key, certificate)


def _leaf(
    authority: _Authority,
    common_name: str,
    *,
    server: bool,
    hosts: tuple[str, ...] = (),
    expired: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    start, end = (NOW - 10 * DAY, NOW - DAY) if expired else (NOW - DAY, NOW + 30 * DAY)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(authority.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(authority.key, hashes.SHA256()), key


def _write(
    folder: Path, stem: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path)


@dataclass(frozen=True)
class Pki:
    csms_root: Path  # what the station trusts
    station_root: Path  # what the CSMS trusts for station certificates
    server: Issued  # the CSMS's certificate, for 127.0.0.1 and localhost
    station: Issued  # the station's certificate, CN = its id
    unknown_server: Issued  # for 127.0.0.1, from a root the station does not know
    expired_server: Issued  # from the CSMS root, expired yesterday
    wrong_host_server: Issued  # from the CSMS root, for another host
    unknown_station: Issued  # a station certificate from a root the CSMS does not know

    def server_context(
        self,
        issued: Issued | None = None,
        *,
        client_certificates: bool = False,
        maximum_version: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        """A CSMS's TLS settings: its certificate, and for profile 3 the station root."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        issued = issued or self.server
        context.load_cert_chain(issued.certificate, issued.key)
        if client_certificates:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=self.station_root)
        if maximum_version is not None:
            # TLS 1.0 and 1.1 are refused by OpenSSL's default security level itself.
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
                context.minimum_version = ssl.TLSVersion.TLSv1_1
                context.maximum_version = maximum_version
        return context


def make_pki(folder: Path, station_id: str) -> Pki:
    csms, station, stranger = _root("CSMS root"), _root("station root"), _root("unknown root")
    for name, authority in (("csms-root", csms), ("station-root", station)):
        (folder / f"{name}.pem").write_bytes(
            authority.certificate.public_bytes(serialization.Encoding.PEM)
        )
    hosts = ("127.0.0.1", "localhost")
    return Pki(
        csms_root=folder / "csms-root.pem",
        station_root=folder / "station-root.pem",
        server=_write(folder, "server", *_leaf(csms, "csms", server=True, hosts=hosts)),
        station=_write(folder, "station", *_leaf(station, station_id, server=False)),
        unknown_server=_write(
            folder, "unknown-server", *_leaf(stranger, "csms", server=True, hosts=hosts)
        ),
        expired_server=_write(
            folder, "expired", *_leaf(csms, "csms", server=True, hosts=hosts, expired=True)
        ),
        wrong_host_server=_write(
            folder,
            "wrong-host",
            *_leaf(csms, "csms.example.org", server=True, hosts=("csms.example.org",)),
        ),
        unknown_station=_write(
            folder, "unknown-station", *_leaf(stranger, station_id, server=False)
        ),
    )
