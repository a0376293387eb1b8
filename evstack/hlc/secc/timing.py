"""The timers the SECC keeps, with where their values come from (seconds).

The SECC answers every request at once from the charger's latest values (it never waits
on the power electronics inside a request), so its performance times are met by design;
`bench/bench_secc.py` measures them. The timers below are the ones it must run itself:
"""

from __future__ import annotations

# V2G_SECC_Sequence_Timeout (DIN 70121 Table 77, ISO 15118-2 Table 109): no next request
# within this time after a response ends the session.
SEQUENCE_TIMEOUT = 60.0

# V2G_EVCC_CommunicationSetup_Timeout (DIN 70121 Table 77): the EV must be through
# SupportedAppProtocol and SessionSetup by then. The SECC closes a connection that has not
# reached SessionSetup in this time, so a silent or stuck connection cannot hold the outlet.
COMMUNICATION_SETUP_TIMEOUT = 20.0

# V2G_EVCC_Ongoing_Timeout (ISO 15118-2 Table 109; DIN uses the same 60 s for
# ContractAuthentication): how long the SECC may answer EVSEProcessing=Ongoing while
# waiting for authorization before it answers FAILED.
ONGOING_TIMEOUT = 60.0

# V2G_EVCC_CableCheck_Timeout (DIN 70121 Table 77: 40 s): a cable check still not
# finished after this is answered FAILED, the power path stays off.
CABLE_CHECK_TIMEOUT = 40.0

# V2G_EVCC_PreCharge_Timeout (DIN 70121 Table 77: 7 s). The EV stops PreCharge on its own
# after this; the SECC ends the session too if PreCharge is still looping after it.
PRE_CHARGE_TIMEOUT = 7.0
ISO20_PRE_CHARGE_TIMEOUT = 10.0  # ISO 15118-20's V2G_EVCC_PreCharge_Timeout
# The current a supply holds while precharging (IEC 61851-23 allows 2 A); ISO 15118-20's
# precharge request names no current, so the SECC passes this one on.
PRE_CHARGE_CURRENT = 2.0

# SECC performance times (DIN 70121 Table 75, ISO 15118-2 Table 108), for the record and
# for the benchmark's targets.
PERFORMANCE_TIME = 1.5
PERFORMANCE_TIME_LONG = 4.5
CURRENT_DEMAND_PERFORMANCE_TIME = 0.025
