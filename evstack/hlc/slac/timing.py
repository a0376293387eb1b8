"""Timers and counters of the matching process, in seconds and counts.

Sources: ISO 15118-3:2015 Table A.1 (HomePlug Green PHY: the TT_/TP_/C_EV_ values) and
Table 3 (the main body's C_conn_/T_conn_/TP_match_leave values). Where the table gives a
range, the value chosen here says so. Anything not from the standard is marked as such.
"""

from __future__ import annotations

# --- Table A.1: counters -------------------------------------------------------------
C_EV_START_ATTEN_CHAR_INDS = 3  # CM_START_ATTEN_CHAR.IND messages per run
C_EV_MATCH_MNBC = 10  # CM_MNBC_SOUND.IND messages per run
C_EV_MATCH_RETRY = 2  # retransmissions of an unanswered request (so 3 sends in all)

# --- Table A.1: timers -----------------------------------------------------------------
TT_MATCH_RESPONSE = 0.2  # a request's answer must come within this
TT_MATCH_SEQUENCE = 0.4  # EVSE: CM_SLAC_PARM.CNF sent -> first CM_START_ATTEN_CHAR.IND
TT_EV_ATTEN_RESULTS = 1.2  # EV: first CM_START_ATTEN_CHAR.IND -> decision
TT_EVSE_MATCH_MNBC = 0.6  # EVSE: first CM_START_ATTEN_CHAR.IND -> sounds complete
TT_EVSE_MATCH_SESSION = 10.0  # EVSE: CM_ATTEN_CHAR.RSP -> CM_SLAC_MATCH.REQ
TT_MATCH_JOIN = 12.0  # CM_SLAC_MATCH.CNF -> the logical network is up
TT_MATCHING_RATE = 0.4  # pause before a failed matching process starts again
TT_MATCHING_REPETITION = 10.0  # retries may start only this long after the first run
# 20-50 s in the table: the longest, so that a slow EV is not pushed through state E/F.
TT_EVSE_SLAC_INIT = 50.0
# 20-50 ms in the table: the middle. 3 + 10 messages take 0.39 s, inside TT_EVSE_match_MNBC.
TP_EV_BATCH_MSG_INTERVAL = 0.03

# --- Table 3 (main body) -----------------------------------------------------------------
C_CONN_MAX_MATCH = 3  # retries of the whole matching process (at least 3)
C_EVSE_MATCH_PARALLEL = 5  # matching processes an EVSE handles at once (at least 5)
T_CONN_RESETUP = 15.0  # EV: a lost link -> a new matching process (option B, V2G3-M07-17)
TP_MATCH_LEAVE = 1.0  # the longest a station takes to leave a logical network

# --- Not in ISO 15118-3 ------------------------------------------------------------------
# CM_SET_KEY goes to the local modem over its host interface, which answers in
# milliseconds; a second is generous. Retried C_EV_MATCH_RETRY times like a request.
TT_SET_KEY = 1.0

# The time-out field of CM_SLAC_PARM.CNF and CM_START_ATTEN_CHAR.IND counts 100 ms steps.
TIMEOUT_UNIT = 0.1
