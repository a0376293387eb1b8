"""TLS contexts for the V2G TCP connection (Python's ssl, OpenSSL underneath).

ISO 15118-2 (TLS 1.2): the SECC authenticates with its certificate chain, the EVCC does
not; the cipher suites are the ECDSA ones with AES-128-CBC and SHA-256. Of the two the
standard names, only the ephemeral one (TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256) is
offered: OpenSSL 3 has no static ECDH, and cars abort on some ECDH choices. Curve
secp256r1.

ISO 15118-20 (TLS 1.3, mandatory): the same server authentication. The standard's suites
are TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256; Python's ssl cannot narrow the
TLS 1.3 suites, so OpenSSL's default list (which holds both, preferring the AES-256 one) is
used. Key exchange on secp521r1, like the certificates.

The EVCC verifies the SECC's chain against the V2G root it trusts; there is no host name
to check (the SECC is found by SDP, by address).
"""

from __future__ import annotations

import pathlib
import ssl

from evstack.hlc.transport.pki import Profile

ISO2_CIPHERS = "ECDHE-ECDSA-AES128-SHA256"
_CURVES = {Profile.ISO2: "prime256v1", Profile.ISO20: "secp521r1"}


def _base(profile: Profile, *, server: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    if profile is Profile.ISO2:
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ISO2_CIPHERS)
    else:
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ecdh_curve(_CURVES[profile])
    return context


def secc_context(profile: Profile, chain: pathlib.Path, key: pathlib.Path) -> ssl.SSLContext:
    """The SECC's server context: `chain` holds the leaf first, then its sub-CAs."""
    context = _base(profile, server=True)
    context.load_cert_chain(chain, key)
    return context


def evcc_context(profile: Profile, trusted_roots: pathlib.Path) -> ssl.SSLContext:
    """The EVCC's client context: only a chain up to one of `trusted_roots` is accepted."""
    context = _base(profile, server=False)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=trusted_roots)
    return context
