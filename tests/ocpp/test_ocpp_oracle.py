"""Every OCPP 2.0.1 schema, judged two ways: evstack's generated types and the `ocpp`
package's validator (jsonschema, Draft 4) must agree on hypothesis' payloads.

The judge here checks `date-time` too, which the `ocpp` package does not (it has no format
checker): with the package as it is, every bad date-time below would pass. Where evstack is
deliberately stricter than the judge, the generators stay out of the way and a test in
test_codec.py says so: a date-time with a trailing newline, a number beyond a double.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp_oracle import Broken, Payloads, action_of, judge, load, ocpp_dir, schema_files

from evstack.ocpp.errors import OcppError
from evstack.ocpp.v201 import Record, decode_request, decode_response, encode

pytestmark = pytest.mark.timeout(120)

SCHEMAS = schema_files()
_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _decode(path: Path, payload: bytes) -> Record:
    action, request = action_of(path)
    return (decode_request if request else decode_response)(action, payload)


def test_every_schema_is_covered() -> None:
    ocpp_dir()
    assert len(SCHEMAS) == 128


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_valid_payloads_are_accepted_and_round_trip(path: Path) -> None:
    strategy = Payloads(load(path)).valid(load(path))

    @_SETTINGS
    @given(strategy)
    def check(payload: dict[str, Any]) -> None:
        judge(path).validate(payload)  # the generator's own check
        decoded = _decode(path, json.dumps(payload).encode())
        written = encode(decoded)
        judge(path).validate(json.loads(written))  # what evstack sends, the judge accepts
        assert _decode(path, written) == decoded
        assert encode(_decode(path, written)) == written

    check()


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_payloads_with_one_defect_are_refused_with_its_code(path: Path) -> None:
    payloads = Payloads(load(path))

    @_SETTINGS
    @given(payloads.broken(load(path)))
    def check(case: Broken) -> None:
        payload, code = case
        assert not judge(path).is_valid(payload), "the defect is not one to the judge"
        with pytest.raises(OcppError) as caught:
            _decode(path, json.dumps(payload).encode())
        assert caught.value.code == code, caught.value
        assert caught.value.details["path"].startswith("$")

    check()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SCHEMAS) if SCHEMAS else st.nothing(), st.binary(max_size=40))
def test_bytes_that_are_not_json_are_a_format_violation(path: Path, junk: bytes) -> None:
    try:
        json.loads(junk)
    except ValueError:
        with pytest.raises(OcppError) as caught:
            _decode(path, junk)
        assert caught.value.code == "FormatViolation"
