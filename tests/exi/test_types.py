"""The generated message classes describe what decode returns and encode takes."""

from __future__ import annotations

import importlib
import typing

import pytest

from evstack import exi
from evstack.generated.exi import (
    types_app,
    types_iso2,
    types_iso2_fragment,
    types_iso20_dc,
    xsd_app,
    xsd_din,
    xsd_iso2,
    xsd_iso20_common_types,
    xsd_iso20_dc,
)


def test_a_typed_message_encodes() -> None:
    protocol: xsd_app.AppProtocolType = {
        "ProtocolNamespace": "urn:din:70121:2012:MsgDef",
        "VersionNumberMajor": 2,
        "VersionNumberMinor": 0,
        "SchemaID": 1,
        "Priority": 1,
    }
    message: types_app.Message = {"supportedAppProtocolReq": {"AppProtocol": [protocol]}}
    assert exi.decode("app", exi.encode("app", message)) == message


def test_required_and_optional_keys_follow_the_schema() -> None:
    header = typing.get_type_hints(xsd_din.MessageHeaderType)
    assert set(header) >= {"SessionID", "Notification"}
    assert xsd_din.MessageHeaderType.__required_keys__ == frozenset({"SessionID"})


@pytest.mark.parametrize("set_id", exi.SCHEMA_SETS)
def test_every_set_has_its_module(set_id: str) -> None:
    module = importlib.import_module(f"evstack.generated.exi.types_{set_id}")
    assert module.Message


def _accepts_none(hint: object) -> bool:
    return type(None) in typing.get_args(hint)


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (xsd_iso2.Document_EVCCID, "EVCCID"),  # hexBinary, may be empty
        (xsd_iso2.Document_GenChallenge, "GenChallenge"),  # exactly 16 bytes
        (types_iso2_fragment.Document_eMAID, "eMAID"),  # relaxed grammar: no text is no "$"
    ],
)
def test_null_is_typed_exactly_where_the_codec_takes_it(document: type, key: str) -> None:
    """The empty-value form (JSON null) is legal only for a value that may be empty."""
    hint = typing.get_type_hints(document)[key]
    if typing.get_origin(hint) is None and hasattr(hint, "__annotations__"):
        hint = typing.get_type_hints(hint).get("$")
        message: dict[str, object] = {key: {"$": None}}
    else:
        message = {key: None}
    try:
        exi.encode_any("iso2_fragment", message)
    except exi.ExiError:
        taken = False
    else:
        taken = True
    assert _accepts_none(hint) == taken


def test_enumerations_carry_their_xsd_names() -> None:
    assert "OK" in typing.get_args(xsd_iso2.ResponseCodeType)
    assert typing.get_type_hints(xsd_iso2.CurrentDemandResType)["ResponseCode"] == (
        xsd_iso2.ResponseCodeType
    )


def test_shared_types_are_defined_once() -> None:
    """ISO-2 and its fragment set, and the ISO-20 sets, use one class per XSD type."""
    assert xsd_iso2.Document_AuthorizationReq in typing.get_args(types_iso2.Message)
    assert xsd_iso2.Document_AuthorizationReq in typing.get_args(types_iso2_fragment.Message)
    dc = typing.get_type_hints(xsd_iso20_dc.DC_ChargeLoopReqType)
    assert dc["Header"] is xsd_iso20_common_types.MessageHeaderType
    assert xsd_iso20_dc.Document_DC_ChargeLoopReq in typing.get_args(types_iso20_dc.Message)


@pytest.mark.parametrize("set_id", exi.SCHEMA_SETS)
def test_documents_are_final(set_id: str) -> None:
    """mypy narrows `decode`'s union by the root key (`"V2G_Message" in doc`) only when
    each document class is final; a root keyed `{namespace}local` cannot be."""
    module = importlib.import_module(f"evstack.generated.exi.types_{set_id}")
    for document in typing.get_args(module.Message):
        assert getattr(document, "__final__", False) or not all(
            key.isidentifier() for key in document.__annotations__
        ), document
