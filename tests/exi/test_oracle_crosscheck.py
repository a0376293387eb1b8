"""evstack's codec against EXIficient on the XSD-derived corpus: same bytes, each reads the other.

For every document: EXIficient encodes it; evstack decodes those bytes and must re-encode them
byte for byte; EXIficient then decodes evstack's bytes and re-encodes them identically.

One known divergence, on purpose not hidden: a string or binary value that is empty. EXIficient
writes no characters event for it, only the element's end through the second-level
(undeclared) EE production that non-strict grammars allow; evstack (like libcbv2g) writes a
characters event of length 0. Both are valid EXI for the same document, so byte equality cannot
hold there, but evstack must still *decode* EXIficient's form (the `iso15118` package's EVCC
sends it). Until it does, those documents are reported as xfail, and every other document
stays strict.
"""

from __future__ import annotations

import base64
import collections
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from oracle import Oracle, corpus, locate
from oracle.fixtures import require_oracle

from evstack import exi
from evstack.exi import sample, tables
from evstack.generated.exi import types_iso2_fragment

# `<x></x>`: the corpus writer's spelling of a simple element with an empty value
# (an element without content at all is written `<x/>`).
EMPTY_VALUE = re.compile(r"<([\w:]+)[^>]*></\1>")


def _message_types() -> list[object]:
    try:
        return [
            pytest.param(set_id, message)
            for set_id in locate.SCHEMA_SETS
            for message, _root, _force in corpus.message_roots(set_id)
            if (set_id, message) not in corpus.NOT_GENERATED
        ]
    except locate.InteropMissingError:
        return []


@pytest.fixture(scope="module")
def exi_oracle() -> Oracle:
    return require_oracle()


@pytest.fixture(scope="module")
def documents() -> dict[tuple[str, str], list[str]]:
    grouped: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for set_id, message, document in corpus.messages():
        grouped[(set_id, message)].append(document)
    return grouped


@pytest.mark.parametrize("set_id", list(locate.SCHEMA_SETS))
def test_smoke_maximal_variant_of_each_set(exi_oracle: Oracle, set_id: str) -> None:
    """The fast, unmarked share of the cross-check: one maximal document per set."""
    documents = corpus.messages([set_id])
    next(documents)  # the minimal variant; its empty values are the known divergence
    _set_id, _message, document = next(documents)
    oracle_bytes = exi_oracle.encode(set_id, document)
    assert exi.encode_any(set_id, exi.decode_any(set_id, oracle_bytes)) == oracle_bytes


@pytest.mark.slow
@pytest.mark.parametrize(("set_id", "message"), _message_types())
def test_both_codecs_agree_on_every_corpus_document(
    exi_oracle: Oracle,
    documents: dict[tuple[str, str], list[str]],
    set_id: str,
    message: str,
) -> None:
    undecodable_empty_values = 0
    for document in documents[(set_id, message)]:
        oracle_bytes = exi_oracle.encode(set_id, document)
        try:
            decoded = exi.decode_any(set_id, oracle_bytes)
        except exi.ExiError as error:
            if EMPTY_VALUE.search(document) and error.code is exi.ExiErrorCode.UNSUPPORTED_EVENT:
                undecodable_empty_values += 1
                continue
            raise AssertionError(f"evstack cannot decode EXIficient's {document}") from error
        evstack_bytes = exi.encode_any(set_id, decoded)
        assert evstack_bytes == oracle_bytes, document
        assert exi_oracle.encode(set_id, exi_oracle.decode(set_id, evstack_bytes)) == evstack_bytes
    if undecodable_empty_values:
        pytest.xfail(
            f"{undecodable_empty_values} document(s) with an empty value: evstack does not "
            "decode EXIficient's undeclared-EE form yet (see the module docstring)"
        )


# Where EXIficient's bytes may rightly differ from evstack's for the same message: an element
# without content (the empty-value divergence, see the module docstring), and whitespace that
# is leading, trailing or doubled, which EXIficient collapses in `anyURI` values (their
# whiteSpace facet is "collapse") while evstack keeps the string as given.
MAY_DIFFER = re.compile(r"<[^>]*/>|>\s|\s<|\s\s")
SAMPLES_PER_SET = 100


@pytest.mark.slow
@pytest.mark.parametrize("set_id", list(locate.SCHEMA_SETS))
def test_exificient_reads_evstack_random_messages(exi_oracle: Oracle, set_id: str) -> None:
    """The other direction, from evstack's side: messages drawn at random from evstack's own
    tables (`evstack.exi.sample`), encoded by evstack, are read by EXIficient and, where
    nothing in `MAY_DIFFER` applies, re-encoded by it to the same bytes."""
    grammar = tables.load(set_id)
    rnd = random.Random(f"oracle-{set_id}")
    compared = 0
    for _ in range(SAMPLES_PER_SET):
        try:
            message = sample.message(grammar, rnd)
        except ValueError:
            continue  # a draw that reached a wildcard-only type (xmldsig SignatureProperty)
        evstack_bytes = exi.encode_any(set_id, message)
        document = exi_oracle.decode(set_id, evstack_bytes)
        if MAY_DIFFER.search(document):
            continue
        assert exi_oracle.encode(set_id, document) == evstack_bytes, message
        compared += 1
    assert (
        compared >= SAMPLES_PER_SET // 10
    )  # enough draws without an empty value to mean something


# -- the meaning of evstack's JSON -----------------------------------------------------------
#
# Equal bytes do not prove that evstack's JSON says what the document says: a decoder and an
# encoder that share one mistake (say, two enumeration names swapped) still round-trip. So the
# JSON evstack decodes from EXIficient's bytes is compared, item by item in document order,
# with the XML those bytes came from.


def _xml_items(element: ET.Element) -> Iterator[tuple[str, str | None]]:
    """(name, value) in document order: `<name` opens an element; attributes come first, in
    EXI's order (by local name), then the text of a simple element, then children."""
    local = element.tag.rpartition("}")[2]
    yield f"<{local}", None
    for name in sorted(element.attrib, key=lambda n: n.rpartition("}")[2]):
        yield f"@{name.rpartition('}')[2]}", element.attrib[name]
    if len(element) == 0 and (element.text or element.attrib == {}):
        yield local, element.text or ""
    elif element.text and element.text.strip():
        yield local, element.text
    for child in element:
        yield from _xml_items(child)


def _json_items(name: str, value: object) -> Iterator[tuple[str, str | None]]:
    """The same walk over evstack's JSON form (docs/exi.md)."""
    if isinstance(value, list):
        for item in value:
            yield from _json_items(name, item)
        return
    name = name.rpartition("}")[2]  # a root evstack had to qualify: "{namespace}local"
    yield f"<{name}", None
    if not isinstance(value, dict):
        yield name, _text(value)
        return
    if not value:
        yield name, ""  # an element with no content at all
    for key, inner in value.items():
        if key.startswith("@"):
            yield key, _text(inner)
        elif key == "$":
            # XML cannot tell empty simple content next to attributes from no content: both
            # sides leave it out (see _xml_items).
            if inner not in (None, "") or not any(k.startswith("@") for k in value):
                yield name, _text(inner)
        elif key == "$items":
            for item in inner:
                ((item_name, item_value),) = item.items()
                yield from _json_items(item_name, item_value)
        else:
            yield from _json_items(key, inner)


def _text(value: object) -> str:
    if value is None:
        return ""  # how evstack's JSON spells an empty value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


HEX = re.compile(r"[0-9A-Fa-f]+")


def _same_value(xml: str, json: str) -> bool:
    """XML and JSON spell some values differently: hexBinary upper case in EXIficient's XML,
    base64Binary as base64 there but hex in JSON."""
    if xml == json or (HEX.fullmatch(xml) is not None and xml.lower() == json):
        return True
    try:
        return base64.b64decode(xml, validate=True).hex() == json
    except ValueError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("set_id", list(locate.SCHEMA_SETS))
def test_evstack_json_says_what_the_document_says(
    exi_oracle: Oracle, documents: dict[tuple[str, str], list[str]], set_id: str
) -> None:
    for (document_set, message), variants in documents.items():
        if document_set != set_id:
            continue
        for document in variants:
            oracle_bytes = exi_oracle.encode(set_id, document)
            try:
                decoded = exi.decode_any(set_id, oracle_bytes)
            except exi.ExiError:
                continue  # the empty-value divergence; the byte test above reports it
            xml = list(_xml_items(ET.fromstring(exi_oracle.decode(set_id, oracle_bytes))))
            ((root, body),) = decoded.items()
            json = list(_json_items(root, body))
            assert [name for name, _ in xml] == [name for name, _ in json], message
            for (name, xml_value), (_, json_value) in zip(xml, json, strict=True):
                if xml_value is not None:
                    assert json_value is not None
                    assert _same_value(xml_value, json_value), (message, name, xml_value)


# Fragment roots declared with different types: the corpus leaves them out (no single type to
# generate from), so their relaxed grammar is checked on hand-made documents.
RELAXED_ROOTS = [
    ('<b:eMAID {ns} t:Id="id1">DE8AA1A2B3C4D5</b:eMAID>',
     {"eMAID": {"@Id": "id1", "$": "DE8AA1A2B3C4D5"}}),
    ('<b:eMAID {ns} t:Id="é€😀"/>', {"eMAID": {"@Id": "é€😀"}}),
    ("<b:eMAID {ns}>" + "x" * 300 + "</b:eMAID>", {"eMAID": {"$": "x" * 300}}),
    ("<b:eMAID {ns}/>", {"eMAID": {}}),
]  # fmt: skip
ISO2_NAMESPACES = (
    'xmlns:b="urn:iso:15118:2:2013:MsgBody" xmlns:t="urn:iso:15118:2:2013:MsgDataTypes"'
)


@pytest.mark.parametrize(("xml", "message"), RELAXED_ROOTS)
def test_relaxed_fragment_roots_agree(
    exi_oracle: Oracle, xml: str, message: types_iso2_fragment.Document_eMAID
) -> None:
    oracle_bytes = exi_oracle.encode("iso2_fragment", xml.format(ns=ISO2_NAMESPACES))
    evstack_bytes = exi.encode("iso2_fragment", message)
    assert evstack_bytes == oracle_bytes
    assert exi.decode("iso2_fragment", oracle_bytes) == message
    assert exi_oracle.encode(
        "iso2_fragment", exi_oracle.decode("iso2_fragment", evstack_bytes)
    ) == (evstack_bytes)
