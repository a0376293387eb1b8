"""ev-exi: hex lines to JSON lines and back; a bad line leaves its place empty and is named on
stderr, and the rest runs."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from evstack.exi import cli

DIN_SERVICE_DISCOVERY_REQ = "809a0211d63f74d2297ac9119400"


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), input=stdin, prog_name="ev-exi")


def test_decode_then_encode_reproduces_the_hex() -> None:
    decoded = run("decode", "--schema", "din", DIN_SERVICE_DISCOVERY_REQ)
    assert decoded.exit_code == 0, decoded.output
    line = decoded.stdout.strip()
    message = json.loads(line)
    assert message["V2G_Message"]["Body"]["ServiceDiscoveryReq"] == {
        "ServiceCategory": "EVCharging"
    }
    encoded = run("encode", "--schema", "din", line)
    assert encoded.exit_code == 0, encoded.output
    assert encoded.stdout.strip() == DIN_SERVICE_DISCOVERY_REQ


def test_v2gtp_framed_lines() -> None:
    framed = "01fe80010000000e" + DIN_SERVICE_DISCOVERY_REQ
    line = run("decode", "--schema", "din", "--v2gtp", framed).stdout.strip()
    assert run("encode", "--schema", "din", "--v2gtp", line).stdout.strip() == framed


def test_bad_lines_keep_their_place_and_are_named_on_stderr() -> None:
    result = run(
        "decode", "--schema", "din", stdin=f"zz\n# a comment\n80ff\n{DIN_SERVICE_DISCOVERY_REQ}\n"
    )
    assert result.exit_code == 1
    assert result.stdout.split("\n")[:2] == ["", ""]
    assert "V2G_Message" in json.loads(result.stdout.split("\n")[2])
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("ev-exi: <stdin>:1: not_hex: ")
    assert errors[1].startswith("ev-exi: <stdin>:3: unsupported_event: ")
    assert len(errors) == 2


def test_encode_errors_in_the_same_style() -> None:
    result = run("encode", "--schema", "app", '{"nope": 1}', "not json")
    assert result.exit_code == 1
    assert result.stdout == "\n\n"
    first, second = result.stderr.strip().splitlines()
    assert first.startswith("ev-exi: argument 1: ")
    assert second.startswith("ev-exi: argument 2: not_json: ")


def test_v2gtp_payload_type_must_match_the_schema() -> None:
    framed = "01fe80020000000e" + DIN_SERVICE_DISCOVERY_REQ  # 0x8002 is ISO-20 common
    result = run("decode", "--schema", "din", "--v2gtp", framed)
    assert result.exit_code == 1
    assert "bad_v2gtp: payload type 0x8002" in result.stderr


def test_usage_errors_name_the_option() -> None:
    result = run("decode", "--schema", "nope", DIN_SERVICE_DISCOVERY_REQ)
    assert result.exit_code == 2
    assert "--schema" in result.stderr
