"""Fragments that Plug & Charge signs, pinned to bytes that libcbv2g decodes and re-encodes
identically (checked once against libcbv2g's iso2 exiFragment / xmldsigFragment codecs)."""

from __future__ import annotations

import pytest

from evstack import exi

C14N = "http://www.w3.org/TR/canonical-exi/"
SIGNED_INFO = {
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
AUTHORIZATION_REQ = {
    "AuthorizationReq": {"@Id": "ID1", "GenChallenge": "00112233445566778899aabbccddeeff"}
}

CASES = [
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
def test_fragment_bytes(schema: str, message: dict[str, object], expected: str) -> None:
    data = exi.encode(schema, message)
    assert data.hex() == expected
    assert exi.decode(schema, data) == message


def test_names_with_conflicting_types_are_refused_not_guessed() -> None:
    # eMAID is both a string and an element with an Id attribute in ISO-2: EXI's relaxed
    # fragment grammar would apply, which this codec does not implement
    with pytest.raises(exi.ExiError) as caught:
        exi.encode("iso2_fragment", {"eMAID": {"@Id": "x", "$": "DE8AA1A2B3C4D5"}})
    assert caught.value.code == exi.ExiErrorCode.INVALID_MESSAGE
