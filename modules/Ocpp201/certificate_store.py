"""The station's certificates (use cases A02, A03, A05, M03, M04, M05), kept in its state folder.

- Roots the CSMS installs (InstallCertificate): CSMSRootCertificate (what a CSMS's TLS
  certificate must chain to), ManufacturerRootCertificate (what a firmware signing certificate
  must chain to), V2GRootCertificate and MORootCertificate (ISO 15118). Each is checked before
  it is kept: one PEM certificate, a CA, within its validity period, a self-issued one signed by
  its own key. They live as `roots/<type>/<sha256 of the DER>.pem`; the CSMS roots are also
  written together to `csms-roots.pem`, the file TLS loads at the next connection.
- The station's own certificates (ChargingStationCertificate for security profile 3,
  V2GCertificate for ISO 15118): `own/<use>/chain.pem` and `key.pem`. A renewal makes a new key
  and a CSR (`pending.key` until the CSMS's CertificateSigned); a signed chain is taken only if
  its leaf carries that key and it chains to an installed root of the right type. A chain not
  valid yet waits as `staged.*` and replaces the current one once it is.
- Certificates are named as OCPP names them (CertificateHashDataType): hashes of the issuer's
  name and of the issuer's public key (the BIT STRING of its SubjectPublicKeyInfo, as OCSP
  does), and the serial number in hexadecimal without leading zeros.

Every file is written whole (temporary file, fsync, rename), so a power cut leaves the old or
the new state, never half a key.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evstack.generated.ocpp.v201.datatypes import (
    CertificateHashDataChainType,
    CertificateHashDataType,
)
from evstack.generated.ocpp.v201.enums import (
    CertificateSigningUseEnumType,
    DeleteCertificateStatusEnumType,
    GetCertificateIdUseEnumType,
    HashAlgorithmEnumType,
    InstallCertificateUseEnumType,
)

__all__ = [
    "CertificateError",
    "CertificateStore",
    "check_authority",
    "hash_data",
    "load_certificates",
    "same_certificate",
    "verify_chain",
    "write_atomic",
]

RootUse = InstallCertificateUseEnumType
OwnUse = CertificateSigningUseEnumType

# The root type a station certificate of each use must chain to.
_OWN_ROOT = {
    OwnUse.ChargingStationCertificate: RootUse.CSMSRootCertificate,
    OwnUse.V2GCertificate: RootUse.V2GRootCertificate,
}
_HASHES = {
    HashAlgorithmEnumType.SHA256: hashlib.sha256,
    HashAlgorithmEnumType.SHA384: hashlib.sha384,
    HashAlgorithmEnumType.SHA512: hashlib.sha512,
}
_MAX_CHILDREN = 4  # childCertificateHashData holds at most four sub-CAs


class CertificateError(ValueError):
    """A certificate that may not be kept; `reason` is a statusInfo reasonCode (20 chars)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# -- X.509 facts ---------------------------------------------------------------------------


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM text, in order; CertificateError if there is none."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise CertificateError("InvalidCertificate", f"not PEM certificates: {error}") from None
    if not certificates:
        raise CertificateError("InvalidCertificate", "no certificate in the PEM text")
    return certificates


def _public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's content (without its unused-bits byte)."""
    der = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    position = _enter(der, 0, 0x30)  # SubjectPublicKeyInfo ::= SEQUENCE {
    position = _skip(der, position, 0x30)  #   algorithm AlgorithmIdentifier,
    start = _enter(der, position, 0x03)  #   subjectPublicKey BIT STRING }
    return der[start + 1 :]


def _length(der: bytes, position: int) -> tuple[int, int]:
    """The DER length at `position` and where its content starts."""
    first = der[position]
    if first < 0x80:
        return first, position + 1
    count = first & 0x7F
    return int.from_bytes(der[position + 1 : position + 1 + count], "big"), position + 1 + count


def _enter(der: bytes, position: int, tag: int) -> int:
    if der[position] != tag:
        raise ValueError(f"DER tag {der[position]:#x} where {tag:#x} was expected")
    return _length(der, position + 1)[1]


def _skip(der: bytes, position: int, tag: int) -> int:
    if der[position] != tag:
        raise ValueError(f"DER tag {der[position]:#x} where {tag:#x} was expected")
    length, start = _length(der, position + 1)
    return start + length


def serial_text(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def hash_data(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    algorithm: HashAlgorithmEnumType = HashAlgorithmEnumType.SHA256,
) -> CertificateHashDataType:
    """How OCPP names `certificate`, issued by `issuer` (itself for a root)."""
    digest = _HASHES[algorithm]
    return CertificateHashDataType(
        hashAlgorithm=algorithm,
        issuerNameHash=digest(certificate.issuer.public_bytes()).hexdigest(),
        issuerKeyHash=digest(_public_key_bits(issuer)).hexdigest(),
        serialNumber=serial_text(certificate),
    )


def _matches(
    wanted: CertificateHashDataType, certificate: x509.Certificate, issuer: x509.Certificate
) -> bool:
    mine = hash_data(certificate, issuer, wanted.hashAlgorithm)
    return (
        mine.issuerNameHash == wanted.issuerNameHash.lower()
        and mine.issuerKeyHash == wanted.issuerKeyHash.lower()
        and mine.serialNumber == wanted.serialNumber.lower().lstrip("0")
    )


def same_certificate(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a.fingerprint(hashes.SHA256()) == b.fingerprint(hashes.SHA256())


def _check_period(certificate: x509.Certificate, now: datetime.datetime) -> None:
    if now < certificate.not_valid_before_utc:
        raise CertificateError("NotYetValid", f"valid from {certificate.not_valid_before_utc}")
    if now > certificate.not_valid_after_utc:
        raise CertificateError("Expired", f"expired at {certificate.not_valid_after_utc}")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    if not constraints.value.ca:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return True
    return usage.value.key_cert_sign


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_authority(certificate: x509.Certificate, now: datetime.datetime) -> None:
    """CertificateError unless `certificate` may serve as an installed root (M05.FR.07)."""
    if not _is_ca(certificate):
        raise CertificateError("NotACA", "not a CA certificate (BasicConstraints, keyCertSign)")
    _check_period(certificate, now)
    if certificate.issuer == certificate.subject and not _issued_by(certificate, certificate):
        raise CertificateError("InvalidSignature", "the self-signature does not verify")


def verify_chain(
    chain: list[x509.Certificate], roots: Iterable[x509.Certificate], now: datetime.datetime
) -> x509.Certificate:
    """The root that `chain` (leaf first, then its sub-CAs in order) leads to; CertificateError
    if a link does not verify, a certificate is out of its period or no root issued the last."""
    for certificate in chain:
        _check_period(certificate, now)
    for child, parent in itertools.pairwise(chain):
        if not _is_ca(parent) or not _issued_by(child, parent):
            raise CertificateError("InvalidChain", f"{child.subject} is not issued by the next")
    top, roots = chain[-1], list(roots)
    for root in roots:
        if same_certificate(top, root):
            return root  # the chain ends in an installed root itself
    for root in roots:
        if _is_ca(root) and _issued_by(top, root):
            _check_period(root, now)
            return root
    raise CertificateError("UntrustedChain", "no installed root issued the chain")


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Replace `path` with `data` whole: the old or the new content survives a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    descriptor = os.open(temporary, flags, 0o600 if private else 0o644)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _pem(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _same_key(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return certificate.public_key().public_bytes(der, spki) == key.public_key().public_bytes(
        der, spki
    )


# -- the store -----------------------------------------------------------------------------


class CertificateStore:
    """Installed roots and the station's own certificates under `folder` (see the module doc)."""

    def __init__(self, folder: Path, *, max_roots: int = 32) -> None:
        self.folder = folder
        self.max_roots = max_roots  # over all types: a full store answers Failed (M05)
        self._roots: dict[RootUse, list[x509.Certificate]] = {use: [] for use in RootUse}
        for use in RootUse:
            for path in sorted((folder / "roots" / use.value).glob("*.pem")):
                try:
                    self._roots[use].extend(load_certificates(path.read_bytes()))
                except CertificateError:
                    continue  # a file that no longer parses is no root
        self.csms_roots_file = folder / "csms-roots.pem"
        self._write_csms_roots()

    # -- roots ------------------------------------------------------------------------------

    def roots(self, use: RootUse) -> list[x509.Certificate]:
        return list(self._roots[use])

    def has_valid_root(self, use: RootUse, now: datetime.datetime) -> bool:
        """A05.FR.02: an installed root of `use` that is within its validity period."""
        for root in self._roots[use]:
            try:
                _check_period(root, now)
            except CertificateError:
                continue
            return True
        return False

    def install(self, use: RootUse, pem: str, now: datetime.datetime) -> None:
        """Keep `pem` as a root of `use`: CertificateError (its reason) if it may not be one,
        or "StorageFull" when the store holds `max_roots` already. Installing a root that is
        installed already changes nothing."""
        certificates = load_certificates(pem)
        if len(certificates) != 1:
            raise CertificateError("InvalidCertificate", "one certificate per InstallCertificate")
        (certificate,) = certificates
        check_authority(certificate, now)
        if any(same_certificate(certificate, kept) for kept in self._roots[use]):
            return
        if sum(len(kept) for kept in self._roots.values()) >= self.max_roots:
            raise CertificateError("StorageFull", f"{self.max_roots} roots installed already")
        self._store_root(use, certificate)

    def import_roots(self, use: RootUse, pem: bytes) -> None:
        """Roots from the module's config, at first start: kept as if the CSMS installed them,
        so the CSMS sees (and may replace) them; checked like any other."""
        for certificate in load_certificates(pem):
            if not any(same_certificate(certificate, kept) for kept in self._roots[use]):
                self._store_root(use, certificate)

    def _store_root(self, use: RootUse, certificate: x509.Certificate) -> None:
        name = certificate.fingerprint(hashes.SHA256()).hex() + ".pem"
        write_atomic(self.folder / "roots" / use.value / name, _pem([certificate]))
        self._roots[use].append(certificate)
        if use is RootUse.CSMSRootCertificate:
            self._write_csms_roots()

    def _write_csms_roots(self) -> None:
        roots = self._roots[RootUse.CSMSRootCertificate]
        if roots:
            write_atomic(self.csms_roots_file, _pem(roots))
        else:
            self.csms_roots_file.unlink(missing_ok=True)

    def csms_roots(self) -> Path | None:
        """The PEM file TLS verifies the CSMS with; None with no CSMS root installed."""
        return self.csms_roots_file if self._roots[RootUse.CSMSRootCertificate] else None

    def delete(
        self, wanted: CertificateHashDataType, *, keep_last_csms_root: bool = False
    ) -> DeleteCertificateStatusEnumType:
        """M04: delete the installed root `wanted` names. The station's own certificates and
        their sub-CAs are never deleted (Failed, M04.FR.06); neither is the last CSMS root when
        `keep_last_csms_root` (under TLS the station could not connect again)."""
        for own_use in OwnUse:
            chain = self._own_chain(own_use) or []
            for certificate, next_one in zip(chain, [*chain[1:], None], strict=False):
                issuer = next_one or self._issuer_of(certificate, own_use)
                if issuer is not None and _matches(wanted, certificate, issuer):
                    return DeleteCertificateStatusEnumType.Failed
        for use, kept in self._roots.items():
            for certificate in kept:
                if not _matches(wanted, certificate, certificate):
                    continue
                if keep_last_csms_root and use is RootUse.CSMSRootCertificate and len(kept) == 1:
                    return DeleteCertificateStatusEnumType.Failed
                kept.remove(certificate)
                name = certificate.fingerprint(hashes.SHA256()).hex() + ".pem"
                (self.folder / "roots" / use.value / name).unlink(missing_ok=True)
                if use is RootUse.CSMSRootCertificate:
                    self._write_csms_roots()
                return DeleteCertificateStatusEnumType.Accepted
        return DeleteCertificateStatusEnumType.NotFound

    def installed(
        self, types: Iterable[GetCertificateIdUseEnumType] | None = None
    ) -> list[CertificateHashDataChainType]:
        """M03: the hash data of every certificate of `types` (all types when None)."""
        wanted = set(GetCertificateIdUseEnumType if types is None else types)
        result = [
            CertificateHashDataChainType(
                certificateType=GetCertificateIdUseEnumType(use.value),
                certificateHashData=hash_data(root, root),
            )
            for use, kept in self._roots.items()
            if GetCertificateIdUseEnumType(use.value) in wanted
            for root in kept
        ]
        chain = self._own_chain(OwnUse.V2GCertificate)
        if GetCertificateIdUseEnumType.V2GCertificateChain in wanted and chain:
            issuers = [*chain[1:], self._issuer_of(chain[-1], OwnUse.V2GCertificate)]
            named = [
                hash_data(certificate, issuer)
                for certificate, issuer in zip(chain, issuers, strict=True)
                if issuer is not None
            ]
            if named:
                children = named[1 : 1 + _MAX_CHILDREN]
                result.append(
                    CertificateHashDataChainType(
                        certificateType=GetCertificateIdUseEnumType.V2GCertificateChain,
                        certificateHashData=named[0],
                        childCertificateHashData=children or msgspec.UNSET,
                    )
                )
        return result

    # -- the station's own certificates ---------------------------------------------------

    def _own_folder(self, use: OwnUse) -> Path:
        return self.folder / "own" / use.value

    def _own_chain(self, use: OwnUse) -> list[x509.Certificate] | None:
        path = self._own_folder(use) / "chain.pem"
        try:
            return load_certificates(path.read_bytes())
        except (OSError, CertificateError):
            return None

    def _issuer_of(self, certificate: x509.Certificate, use: OwnUse) -> x509.Certificate | None:
        for root in self._roots[_OWN_ROOT[use]]:
            if certificate.issuer == root.subject and _issued_by(certificate, root):
                return root
        return None

    def own(self, use: OwnUse, now: datetime.datetime) -> tuple[Path, Path] | None:
        """The chain and key files of the station's certificate of `use` as of `now` (a staged
        one takes over once valid); None without one."""
        folder = self._own_folder(use)
        staged = self._load_chain(folder / "staged.pem")
        if staged is not None and staged[0].not_valid_before_utc <= now:
            os.replace(folder / "staged.key", folder / "key.pem")
            os.replace(folder / "staged.pem", folder / "chain.pem")
        chain, key = folder / "chain.pem", folder / "key.pem"
        return (chain, key) if chain.exists() and key.exists() else None

    def own_certificate(self, use: OwnUse) -> x509.Certificate | None:
        chain = self._own_chain(use)
        return chain[0] if chain else None

    def has_valid_own(self, use: OwnUse, now: datetime.datetime) -> bool:
        """A05.FR.03: the station has a certificate of `use` within its validity period."""
        if self.own(use, now) is None:
            return False
        certificate = self.own_certificate(use)
        return certificate is not None and (
            certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
        )

    @staticmethod
    def _load_chain(path: Path) -> list[x509.Certificate] | None:
        try:
            return load_certificates(path.read_bytes())
        except (OSError, CertificateError):
            return None

    def import_own(self, use: OwnUse, chain_pem: bytes, key_pem: bytes) -> None:
        """The station's certificate and key from the module's config, at first start."""
        folder = self._own_folder(use)
        write_atomic(folder / "key.pem", key_pem, private=True)
        write_atomic(folder / "chain.pem", chain_pem)

    def new_csr(self, use: OwnUse, common_name: str, organization: str | None) -> str:
        """A02/A03: a fresh key (kept as `pending.key`) and its CSR, PEM (RFC 2986)."""
        key = ec.generate_private_key(ec.SECP256R1())  # 256 bits: more than A00's 224
        write_atomic(self._own_folder(use) / "pending.key", _key_pem(key), private=True)
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        request = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name(attributes))
            .sign(key, hashes.SHA256())
        )
        return request.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def accept_signed(self, use: OwnUse, chain_pem: str, now: datetime.datetime) -> None:
        """A02.FR.06/07: take the CSMS's signed chain for the pending key; CertificateError
        (and nothing changes) if it is not for that key, not valid or not trusted."""
        chain = load_certificates(chain_pem)
        folder = self._own_folder(use)
        try:
            key = serialization.load_pem_private_key((folder / "pending.key").read_bytes(), None)
        except (OSError, ValueError):
            raise CertificateError(
                "NoPendingRequest", "no CSR is waiting for a certificate"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(chain[0], key):
            raise CertificateError("WrongKey", "the certificate is not for the key of the CSR")
        if now > chain[0].not_valid_after_utc:
            raise CertificateError("Expired", f"expired at {chain[0].not_valid_after_utc}")
        # Checked as of its start, so that one that is valid tomorrow may wait as staged.
        verify_chain(chain, self._roots[_OWN_ROOT[use]], max(now, chain[0].not_valid_before_utc))
        target = "staged" if chain[0].not_valid_before_utc > now else None
        key_file = folder / ("staged.key" if target else "key.pem")
        chain_file = folder / ("staged.pem" if target else "chain.pem")
        write_atomic(key_file, _key_pem(key), private=True)
        write_atomic(chain_file, _pem(chain))
        (folder / "pending.key").unlink(missing_ok=True)
