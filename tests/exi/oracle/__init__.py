"""Ground truth for evstack's EXI codec: EXIficient (from the `iso15118` package) and test corpora.

- `shared()` / `Oracle`: encode and decode any schema set with EXIficient, XML in and out.
- `corpus.messages()`: valid documents for every message type of every schema set, derived
  from the XSDs, as `(set_id, message_name, xml)`.
- `InteropMissingError`: raised when the jar, the XSDs or Java is absent (`make interop`).
"""

from .jvm import Oracle, OracleError, shared
from .locate import SCHEMA_SETS, InteropMissingError

__all__ = ["SCHEMA_SETS", "InteropMissingError", "Oracle", "OracleError", "shared"]
