"""ev-exi: hex lines to JSON lines and back, bad lines reported in place."""

from __future__ import annotations

import json

import pytest

from evstack.exi import cli

DIN_SERVICE_DISCOVERY_REQ = "809a0211d63f74d2297ac9119400"


def test_decode_then_encode_reproduces_the_hex(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--schema", "din", DIN_SERVICE_DISCOVERY_REQ]) == 0
    line = capsys.readouterr().out.strip()
    message = json.loads(line)
    assert message["V2G_Message"]["Body"]["ServiceDiscoveryReq"] == {
        "ServiceCategory": "EVCharging"
    }
    assert cli.main(["encode", "--schema", "din", line]) == 0
    assert capsys.readouterr().out.strip() == DIN_SERVICE_DISCOVERY_REQ


def test_v2gtp_framed_lines(capsys: pytest.CaptureFixture[str]) -> None:
    framed = "01fe80010000000e" + DIN_SERVICE_DISCOVERY_REQ
    assert cli.main(["decode", "--schema", "din", "--v2gtp", framed]) == 0
    line = capsys.readouterr().out.strip()
    assert cli.main(["encode", "--schema", "din", "--v2gtp", line]) == 0
    assert capsys.readouterr().out.strip() == framed


def test_bad_lines_are_reported_and_the_rest_runs(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["decode", "--schema", "din", "zz", "80ff", DIN_SERVICE_DISCOVERY_REQ])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 1
    assert json.loads(lines[0])["code"] == "bad_input"
    assert json.loads(lines[1])["code"] == "unsupported_event"
    assert "V2G_Message" in json.loads(lines[2])


def test_encode_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["encode", "--schema", "app", '{"nope": 1}', "not json"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert all(line.startswith("# error") for line in lines)


def test_v2gtp_payload_type_must_match_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    framed = "01fe80020000000e" + DIN_SERVICE_DISCOVERY_REQ  # 0x8002 is ISO-20 common
    assert cli.main(["decode", "--schema", "din", "--v2gtp", framed]) == 1
    assert json.loads(capsys.readouterr().out)["code"] == "bad_v2gtp"
