"""The generated message classes describe what decode returns and encode takes."""

from __future__ import annotations

import importlib
import typing

import pytest

from evstack import exi
from evstack.generated.exi import types_app, types_din, types_iso2_fragment


def test_a_typed_message_encodes() -> None:
    protocol: types_app.AppProtocolType = {
        "ProtocolNamespace": "urn:din:70121:2012:MsgDef",
        "VersionNumberMajor": 2,
        "VersionNumberMinor": 0,
        "SchemaID": 1,
        "Priority": 1,
    }
    message: types_app.Message = {"supportedAppProtocolReq": {"AppProtocol": [protocol]}}
    assert exi.decode("app", exi.encode("app", message)) == message


def test_required_and_optional_keys_follow_the_schema() -> None:
    header = typing.get_type_hints(types_din.MessageHeaderType)
    assert set(header) >= {"SessionID", "Notification"}
    assert types_din.MessageHeaderType.__required_keys__ == frozenset({"SessionID"})


@pytest.mark.parametrize("set_id", exi.SCHEMA_SETS)
def test_every_set_has_its_module(set_id: str) -> None:
    module = importlib.import_module(f"evstack.generated.exi.types_{set_id}")
    assert module.Message


def _accepts_none(hint: object) -> bool:
    return type(None) in typing.get_args(hint)


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (types_iso2_fragment.Document_EVCCID, "EVCCID"),  # hexBinary, may be empty
        (types_iso2_fragment.Document_GenChallenge, "GenChallenge"),  # exactly 16 bytes
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
        exi.encode("iso2_fragment", message)
    except exi.ExiError:
        taken = False
    else:
        taken = True
    assert _accepts_none(hint) == taken
