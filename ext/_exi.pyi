# Stub for the cffi extension built from ext/exi/ (see ext/exi/build_exi.py).
# cffi objects are dynamic; evstack.exi.native gives them types at its boundary.
from typing import Any

ffi: Any
lib: Any
