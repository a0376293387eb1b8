"""EXI for V2G: ISO 15118-2, DIN 70121, ISO 15118-20 and SupportedAppProtocol messages.

    from evstack import exi
    message = exi.decode("din", data)      # JSON form: nested dicts, lists, scalars
    assert exi.encode("din", message) == data

Schema set ids: app, din, iso2, iso20, iso20_ac, iso20_dc, iso20_acdp, iso20_wpt,
iso2_fragment, xmldsig_fragment. The C extension does the work when it is built;
otherwise the same tables run in Python, byte for byte identical. See docs/exi.md.
"""

from evstack.exi.api import decode, encode
from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.exi.tables import SCHEMA_SETS

__all__ = ["SCHEMA_SETS", "ExiError", "ExiErrorCode", "decode", "encode"]
