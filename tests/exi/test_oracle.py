"""The EXIficient oracle itself: fast checks that it is trustworthy before anything leans on it."""

from __future__ import annotations

import re

import pytest
from oracle import SCHEMA_SETS, Oracle, OracleError, corpus
from oracle.fixtures import require_oracle

SESSION_SETUP_REQ = bytes.fromhex("809802004080c1014181c211d01804080c10141800")


@pytest.fixture(scope="module")
def exi_oracle() -> Oracle:
    return require_oracle()


def test_public_vector_round_trips_byte_exact(
    exi_oracle: Oracle, vector: tuple[str, str, bytes]
) -> None:
    set_id, message, data = vector
    document = exi_oracle.decode(set_id, data)
    assert re.search(rf"<(\w+:)?{message}[ />]", document), document
    assert exi_oracle.encode(set_id, document) == data


def test_decoded_document_is_valid_xml_of_its_schema(exi_oracle: Oracle) -> None:
    document = exi_oracle.decode("iso2", SESSION_SETUP_REQ)
    exi_oracle.validate("iso2", document)
    assert ">010203040506</" in document  # EVCCID, hexBinary


def test_invalid_document_is_refused_by_validation(exi_oracle: Oracle) -> None:
    document = exi_oracle.decode("iso2", SESSION_SETUP_REQ).replace("EVCCID", "EVCCIX")
    with pytest.raises(OracleError, match="EVCCID"):
        exi_oracle.validate("iso2", document)


@pytest.mark.parametrize(
    "data",
    [b"", SESSION_SETUP_REQ[:5], bytes.fromhex("ff") * 8],
    ids=["empty", "truncated", "garbage"],
)
def test_bad_stream_is_refused_and_the_oracle_keeps_answering(
    exi_oracle: Oracle, data: bytes
) -> None:
    with pytest.raises(OracleError):
        exi_oracle.decode("iso2", data)
    assert exi_oracle.encode("iso2", exi_oracle.decode("iso2", SESSION_SETUP_REQ)) == (
        SESSION_SETUP_REQ
    )


def test_unknown_schema_set_is_refused(exi_oracle: Oracle) -> None:
    with pytest.raises(OracleError, match="unknown schema set"):
        exi_oracle.decode("iso3", SESSION_SETUP_REQ)


@pytest.mark.parametrize("set_id", list(SCHEMA_SETS))
def test_corpus_smoke_first_message_of_each_set(exi_oracle: Oracle, set_id: str) -> None:
    """The minimal and maximal variant of one message per set: valid, and stable."""
    documents = corpus.messages([set_id])
    for _ in range(2):
        _set_id, _message, document = next(documents)
        exi_oracle.validate(set_id, document)
        data = exi_oracle.encode(set_id, document)
        assert exi_oracle.encode(set_id, exi_oracle.decode(set_id, data)) == data


def test_a_dead_jvm_fails_one_request_and_is_replaced() -> None:
    require_oracle()  # skips without the interop parts
    with Oracle() as own:
        own._process.kill()  # a crash, as an out-of-memory JVM would end
        with pytest.raises(RuntimeError, match="exited"):
            own.decode("iso2", SESSION_SETUP_REQ)
        assert own.encode("iso2", own.decode("iso2", SESSION_SETUP_REQ)) == SESSION_SETUP_REQ
