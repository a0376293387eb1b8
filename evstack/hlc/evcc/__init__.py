"""The EVCC: the vehicle's side of DIN 70121 and ISO 15118-2 (AC and DC, EIM).

Sans-IO: `EvccSession` turns responses and the time into requests; `driver.run` carries them
over a V2GTP stream, `driver.connect_and_run` finds the charger by SDP first. The battery model
(`Battery`) shapes what the EV asks for. ISO 15118-20 is not here yet (see the issue).
"""

from evstack.hlc.evcc.battery import Battery
from evstack.hlc.evcc.config import EvccConfig
from evstack.hlc.evcc.session import EvccSession
from evstack.hlc.evcc.timing import Timing

__all__ = ["Battery", "EvccConfig", "EvccSession", "Timing"]
