"""OCPP-J (OCPP 2.0.1 Part 4): JSON RPC over websockets, for a charging station.

- `frames`: CALL, CALLRESULT and CALLERROR, and the CALLERROR each malformed frame gets;
- `codec`: what a version's message types provide (`evstack.ocpp.v201` is one);
- `rpc`: `RpcEndpoint`, one CALL in flight each way, handlers, timeouts; no I/O;
- `security`: security profiles 1-3, TLS settings and basic auth;
- `profiles`: `ConnectionPolicy`, which NetworkConnectionProfile when, and the back-off;
- `websocket`: one connection: open it, serve the endpoint over it, keep it alive;
- `client`: `OcppJClient`, the policy driving the websocket for the station's whole life.
"""

from evstack.ocpp.j.client import LinkObserver, OcppJClient
from evstack.ocpp.j.codec import Codec
from evstack.ocpp.j.profiles import (
    Attempt,
    ConnectionPolicy,
    NetworkProfile,
    NoUsableProfileError,
    RetryBackOff,
    Upgrade,
)
from evstack.ocpp.j.rpc import CallTimeoutError, NotConnectedError, RpcEndpoint
from evstack.ocpp.j.security import SecurityProfile, StationCredentials, UnusableProfileError
from evstack.ocpp.j.websocket import ConnectError, Ended, Failure, TransportSettings

__all__ = [
    "Attempt",
    "CallTimeoutError",
    "Codec",
    "ConnectError",
    "ConnectionPolicy",
    "Ended",
    "Failure",
    "LinkObserver",
    "NetworkProfile",
    "NoUsableProfileError",
    "NotConnectedError",
    "OcppJClient",
    "RetryBackOff",
    "RpcEndpoint",
    "SecurityProfile",
    "StationCredentials",
    "TransportSettings",
    "UnusableProfileError",
    "Upgrade",
]
