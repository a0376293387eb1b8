"""The SECC's V2G session layer (sans-IO): SupportedAppProtocol, DIN 70121 DC, ISO 15118-2
AC and DC, all with external identification.

    session     SeccSession: one TCP connection's messages in, responses and events out
    sap         SupportedAppProtocol negotiation with configurable priorities
    machine     what the protocols share: states, the request table, refusals
    din         DIN 70121 DC: its state table and handlers
    iso2        ISO 15118-2 AC and DC: its state table and handlers
    events      outputs (Send, Close), events for the charger, and EvseState (its inputs)
    timing      the timers the SECC runs, with their sources
    codec       the one door to evstack.exi
    driver      runs a SeccSession on a V2GTP stream with the event loop's clock

ISO 15118-20, TLS and Plug & Charge are not implemented here yet; SupportedAppProtocol
offers only what is.
"""

from evstack.hlc.secc.events import (
    Authorization,
    Close,
    EvseState,
    IsolationStatus,
    Output,
    Send,
    SessionEnded,
)
from evstack.hlc.secc.session import SeccConfig, SeccSession, SessionRecord

__all__ = [
    "Authorization",
    "Close",
    "EvseState",
    "IsolationStatus",
    "Output",
    "SeccConfig",
    "SeccSession",
    "Send",
    "SessionEnded",
    "SessionRecord",
]
