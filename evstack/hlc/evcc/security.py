"""The EVCC's TLS client context for ISO 15118-20 (TLS 1.3, mandatory there).

Apart from `transport.tls.evcc_context` in two ways, both for interoperability:
- it offers OpenSSL's default key-exchange groups (secp521r1, which ISO 15118-20 names, among
  them) instead of secp521r1 alone, so the charger picks; the `iso15118` package's SECC
  (0.31.2) accepts prime256v1 only (`set_ecdh_curve("prime256v1")` in its security.py, with
  its PKI script's "TODO Check correct version for ISO 15118-20"), and a client that offers
  secp521r1 alone gets its connection reset;
- it can present the EV's own chain (the OEM leaf and sub-CAs), for a charger that asks for
  it (mutual TLS, as that SECC does with TLS 1.3).
The charger's chain is verified against the V2G root; there is no host name (SDP gives an
address).
"""

from __future__ import annotations

import pathlib
import ssl


def iso20_context(
    trusted_root: pathlib.Path,
    client_chain: pathlib.Path | None = None,
    client_key: pathlib.Path | None = None,
    key_password: str | None = None,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=trusted_root)
    if client_chain is not None:
        context.load_cert_chain(client_chain, client_key, password=key_password)
    return context
