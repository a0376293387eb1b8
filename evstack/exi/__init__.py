"""EXI for V2G: ISO 15118-2, DIN 70121, ISO 15118-20 and SupportedAppProtocol messages.

    from evstack import exi
    message = exi.decode("din", data)      # JSON form: nested dicts, lists, scalars
    assert exi.encode("din", message) == data

Schema set ids: app, din, iso2, iso20, iso20_ac, iso20_dc, iso20_acdp, iso20_wpt,
iso2_fragment, xmldsig_fragment, iso20_fragment. Both functions are typed per set: the
message classes are in evstack.generated.exi (types_<set>.Message); `decode_any` and
`encode_any` take a set chosen at run time, untyped. The C extension does the work when it
is built; otherwise the same tables run in Python, byte for byte identical. See docs/exi.md.
"""

from evstack.exi.api import decode, decode_any, encode, encode_any
from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.exi.tables import SCHEMA_SETS, SchemaSet

__all__ = [
    "SCHEMA_SETS",
    "ExiError",
    "ExiErrorCode",
    "SchemaSet",
    "decode",
    "decode_any",
    "encode",
    "encode_any",
]
