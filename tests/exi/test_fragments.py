"""Fragments that Plug & Charge signs, pinned to bytes that libcbv2g decodes and re-encodes
identically (checked once against libcbv2g's iso2 exiFragment / xmldsigFragment codecs)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from evstack import exi
from evstack.generated.exi import types_iso2_fragment, types_xmldsig_fragment

C14N = "http://www.w3.org/TR/canonical-exi/"
SIGNED_INFO: types_xmldsig_fragment.Message = {
    "SignedInfo": {
        "CanonicalizationMethod": {"@Algorithm": C14N},
        "SignatureMethod": {"@Algorithm": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"},
        "Reference": [
            {
                "@URI": "#ID1",
                "Transforms": {"Transform": [{"@Algorithm": C14N}]},
                "DigestMethod": {"@Algorithm": "http://www.w3.org/2001/04/xmlenc#sha256"},
                "DigestValue": "00" * 32,
            }
        ],
    }
}
AUTHORIZATION_REQ: types_iso2_fragment.Message = {
    "AuthorizationReq": {"@Id": "ID1", "GenChallenge": "00112233445566778899aabbccddeeff"}
}

CASES: list[tuple[str, Mapping[str, object], str]] = [
    ("iso2_fragment", AUTHORIZATION_REQ, "80040152510c40800089119a22ab33bc44cd55de66ef77f9e8"),
    (
        "xmldsig_fragment",
        SIGNED_INFO,
        "808112b43a3a381d1797bbbbbb973b999737b93397aa2917b1b0b737b734b1b0b616b2bc3497a1ab43a3a3"
        "81d1797bbbbbb973b999737b933979918181897981a17bc36b63239b4b396b6b7b93291b2b1b239b096b9"
        "b430991a9b220623494431025687474703a2f2f7777772e77332e6f72672f54522f63616e6f6e6963616c"
        "2d6578692f4852d0e8e8e0745e5eeeeeee5cee665cdee4ce5e646060625e60685ef0dad8cadcc646e6d0c2"
        "646a6c840000000000000000000000000000000000000000000000000000000000000000" + "0370",
    ),
]


@pytest.mark.parametrize(("schema", "message", "expected"), CASES, ids=["authreq", "signedinfo"])
def test_fragment_bytes(schema: str, message: Mapping[str, object], expected: str) -> None:
    data = exi.encode_any(schema, message)
    assert data.hex() == expected
    assert exi.decode_any(schema, data) == message


# eMAID is a string in PaymentDetailsReq and a string with an Id attribute in the
# certificate responses, which sign it: EXI's relaxed element-fragment grammar applies.
# The bytes are EXIficient's (checked against it by test_oracle_crosscheck.py).
EMAID_CASES: list[tuple[types_iso2_fragment.Document_eMAID, str]] = [
    ({"eMAID": {"@Id": "id1", "$": "DE8AA1A2B3C4D5"}},
     "80ec0202b4b218c00411114e10504c504c908cd0cd110d7d3d00"),
    ({"eMAID": {"$": "DE8AA1A2B3C4D5"}}, "80ec800822229c20a098a0992119a19a221afa7a00"),
    ({"eMAID": {"@Id": "id1"}}, "80ec0202b4b218bffd00"),
    ({"eMAID": {}}, "80ec7ffa00"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "expected"), EMAID_CASES)
def test_relaxed_fragment_grammar(
    message: types_iso2_fragment.Document_eMAID, expected: str
) -> None:
    data = exi.encode("iso2_fragment", message)
    assert data.hex() == expected
    assert exi.decode("iso2_fragment", data) == message


@pytest.mark.parametrize(
    "hex_data",
    [
        "80ec0001b0bffd00",  # AT(Algorithm): an attribute of the schema, not of eMAID
        "80ec05082a730b6b281b0bffd0",  # AT(*)
        "80ec34802f4f40",  # a child element (EVSETimeStamp)
        "80ec7bc000de3d3d3d00",  # a child eMAID
    ],
)
def test_relaxed_grammar_refuses_what_no_signed_element_holds(hex_data: str) -> None:
    with pytest.raises(exi.ExiError) as caught:
        exi.decode("iso2_fragment", bytes.fromhex(hex_data))
    assert caught.value.code == exi.ExiErrorCode.UNSUPPORTED_EVENT
