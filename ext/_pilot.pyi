# Stub for the cffi extension built from ext/pilot/ (see ext/pilot/build_pilot.py).
# cffi objects are dynamic; evstack.pilot.native gives them types at its boundary.
from typing import Any

ffi: Any
lib: Any
