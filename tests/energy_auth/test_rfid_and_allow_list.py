"""The RFID simulator's script language and the local allow list."""

from __future__ import annotations

import pytest

from evstack.modules.LocalAllowList.allow_list import AllowList
from evstack.modules.RfidSimulator.script import ScriptError, Sleep, Swipe, parse_script


def test_script_with_both_separators_and_connector_lists() -> None:
    script = "sleep 2.5; swipe AABBCCDD\nsleep 1\nswipe 1122 2;swipe 33,1,2;"
    assert parse_script(script) == [
        Sleep(2.5),
        Swipe("AABBCCDD"),
        Sleep(1.0),
        Swipe("1122", (2,)),
        Swipe("33", (1, 2)),
    ]


def test_empty_script_does_nothing() -> None:
    assert parse_script(" ;\n ; ") == []


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("sleep", "one argument"),
        ("sleep soon", "not a number"),
        ("sleep -1", "not negative"),
        ("sleep inf", "finite"),
        ("swipe", "needs the card"),
        ("swipe " + "A" * 37, "printable ASCII"),
        ("swipe AA 0", "from 1"),
        ("swipe AA two", "whole numbers"),
        ("sleep 1; wave AA", r"command 2 \('wave AA'\): unknown command 'wave'"),
    ],
)
def test_bad_scripts_name_the_command(script: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        parse_script(script)


def test_allow_list_is_case_insensitive() -> None:
    allowed = AllowList("AABBCCDD, 11223344;deadbeef\n")
    assert len(allowed) == 3
    assert "aabbccdd" in allowed
    assert "DEADBEEF" in allowed
    assert "cafe" not in allowed


def test_allow_list_refuses_bad_entries() -> None:
    with pytest.raises(ValueError, match="not a valid id token"):
        AllowList("ok, " + "x" * 40)
    assert len(AllowList("")) == 0
