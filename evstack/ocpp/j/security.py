"""OCPP 2.0.1's security profiles (Part 2, A00) as a websocket client applies them.

1. HTTP basic auth (user: the station's id, password: SecurityCtrlr.BasicAuthPassword) over
   plain `ws://`; the network is trusted.
2. TLS, the CSMS's server certificate verified against the CSMS root certificates the station
   holds (not the system's trust store), TLS 1.2 at least, plus basic auth.
3. TLS as in 2, and the station authenticates with its own certificate (mutual TLS) instead
   of a password.

Profile 0 (no security at all) does not exist in 2.0.1. A profile never connects any weaker
than it says: `check` refuses `ws://` for 2 and 3 and `wss://` for 1 (whose password would
then rest on a certificate nobody checks).
"""

from __future__ import annotations

import base64
import enum
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

__all__ = [
    "MAX_STATION_ID",
    "SecurityProfile",
    "StationCredentials",
    "UnusableProfileError",
    "authorization",
    "check",
    "check_station_id",
    "connection_url",
    "ssl_context",
]

MAX_STATION_ID = 48  # Part 4, 3.1.1


class SecurityProfile(enum.IntEnum):
    """SecurityCtrlr.SecurityProfile and NetworkConnectionProfile.securityProfile."""

    BASIC_AUTH = 1
    TLS_BASIC_AUTH = 2
    TLS_CLIENT_CERTIFICATE = 3


@dataclass(frozen=True)
class StationCredentials:
    """What the station proves itself and checks the CSMS with; read at every connection
    attempt, so a new password (A01) or certificate (A02) applies from the next one."""

    basic_auth_password: str | None = field(default=None, repr=False)
    csms_root_certificates: Path | None = None  # PEM: the roots a CSMS certificate must chain to
    station_certificate: Path | None = None  # PEM: the station's certificate and its chain
    station_key: Path | None = field(default=None, repr=False)


class UnusableProfileError(ValueError):
    """A connection profile the station cannot connect with as its security profile requires."""


def check(url: str, profile: SecurityProfile, credentials: StationCredentials) -> None:
    """Raise `UnusableProfileError` unless `credentials` can reach `url` under `profile`."""
    scheme = urlsplit(url).scheme
    wanted = "ws" if profile is SecurityProfile.BASIC_AUTH else "wss"
    if scheme != wanted:
        raise UnusableProfileError(
            f"security profile {profile.value} needs a {wanted}:// URL: {url}"
        )
    if profile is not SecurityProfile.TLS_CLIENT_CERTIFICATE and not (
        credentials.basic_auth_password
    ):
        raise UnusableProfileError(f"security profile {profile.value} needs a basic auth password")
    if profile is not SecurityProfile.BASIC_AUTH and credentials.csms_root_certificates is None:
        raise UnusableProfileError(
            f"security profile {profile.value} needs a CSMS root certificate"
        )
    if profile is SecurityProfile.TLS_CLIENT_CERTIFICATE and (
        credentials.station_certificate is None or credentials.station_key is None
    ):
        raise UnusableProfileError("security profile 3 needs the station's certificate and key")


def check_station_id(station_id: str) -> None:
    """Raise ValueError unless `station_id` can name the station in its URL and basic auth."""
    if not 0 < len(station_id) <= MAX_STATION_ID or ":" in station_id:
        # The id is the basic auth user name, which ends at the first colon.
        raise ValueError(f"a station id has 1 to {MAX_STATION_ID} characters, no colon")


def connection_url(endpoint: str, station_id: str) -> str:
    """The CSMS's OCPP-J endpoint URL with the station's id appended to its path (3.1.1)."""
    check_station_id(station_id)
    return f"{endpoint.rstrip('/')}/{quote(station_id, safe='')}"


def authorization(
    station_id: str, profile: SecurityProfile, credentials: StationCredentials
) -> dict[str, str]:
    """The HTTP headers that authenticate the station: basic auth for profiles 1 and 2."""
    if profile is SecurityProfile.TLS_CLIENT_CERTIFICATE or not credentials.basic_auth_password:
        return {}
    pair = f"{station_id}:{credentials.basic_auth_password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def ssl_context(profile: SecurityProfile, credentials: StationCredentials) -> ssl.SSLContext | None:
    """The TLS settings of profiles 2 and 3; None for profile 1."""
    if profile is SecurityProfile.BASIC_AUTH:
        return None
    if credentials.csms_root_certificates is None:
        raise UnusableProfileError(
            f"security profile {profile.value} needs a CSMS root certificate"
        )
    # Only the CSMS roots: a certificate from any public CA must not pass for the CSMS's.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.load_verify_locations(cafile=credentials.csms_root_certificates)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if profile is SecurityProfile.TLS_CLIENT_CERTIFICATE:
        if credentials.station_certificate is None or credentials.station_key is None:
            raise UnusableProfileError("security profile 3 needs the station's certificate and key")
        context.load_cert_chain(credentials.station_certificate, credentials.station_key)
    return context
