"""The generated message classes describe what decode returns and encode takes."""

from __future__ import annotations

import importlib
import typing

import pytest

from evstack import exi
from evstack.generated.exi import types_app, types_din


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
