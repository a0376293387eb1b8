"""`ev-exi`: decode EXI captures to JSON lines and encode JSON lines back to hex.

    ev-exi decode --schema din 809a0211d63f74d2297ac9119400
    tshark ... | ev-exi decode --schema iso2 --v2gtp      # hex lines on stdin
    ev-exi encode --schema din < messages.jsonl

One output line per input line, so that outputs line up with inputs in a pipeline: a line
that fails leaves an empty line on stdout and one error on stderr naming its input and line
(`ev-exi: <stdin>:3: not_hex: ...`), and the rest still runs. The exit status is 1 if any
line failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

import click

from evstack.exi import api, v2gtp
from evstack.exi.errors import ExiError
from evstack.exi.tables import SCHEMA_SETS


class LineError(Exception):
    """One input line could not be converted; `code` is stable for scripts to match."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _numbered(items: tuple[str, ...], stdin: TextIO) -> Iterator[tuple[str, str]]:
    """(where, line) for each non-blank, non-comment input, named for error messages."""
    if items:
        numbered = ((f"argument {n}", item) for n, item in enumerate(items, 1))
    else:
        numbered = ((f"<stdin>:{n}", line) for n, line in enumerate(stdin, 1))
    for where, line in numbered:
        line = line.strip()
        if line and not line.startswith("#"):
            yield where, line


def decode_line(schema: str, line: str, framed: bool) -> str:
    """A hex stream (with or without its V2GTP header) as one JSON line."""
    try:
        data = bytes.fromhex(line.replace(" ", "").replace(":", ""))
    except ValueError:
        raise LineError("not_hex", "not a hex string") from None
    if framed:
        try:
            payload_type, data = v2gtp.unframe(data)
        except v2gtp.V2gtpError as exc:
            raise LineError("bad_v2gtp", str(exc)) from None
        expected = v2gtp.PAYLOAD_TYPES.get(schema)
        if expected is not None and payload_type != expected:
            raise LineError(
                "bad_v2gtp", f"payload type {payload_type:#06x} is not {schema}'s {expected:#06x}"
            )
    try:
        return json.dumps(api.decode_any(schema, data), ensure_ascii=False)
    except ExiError as exc:
        raise LineError(exc.code.name.lower(), str(exc)) from None


def encode_line(schema: str, line: str, framed: bool) -> str:
    """A JSON message as one hex line (with a V2GTP header when framed)."""
    try:
        message = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError("not_json", str(exc)) from None
    try:
        data = api.encode_any(schema, message)
    except ExiError as exc:
        raise LineError(exc.code.name.lower(), str(exc)) from None
    if framed:
        data = v2gtp.frame(v2gtp.PAYLOAD_TYPES.get(schema, v2gtp.PayloadType.EXI), data)
    return data.hex()


def _convert(
    convert: Callable[[str, str, bool], str], schema: str, framed: bool, items: tuple[str, ...]
) -> None:
    failed = False
    for where, line in _numbered(items, sys.stdin):
        try:
            result = convert(schema, line, framed)
        except LineError as exc:
            failed = True
            result = ""
            click.echo(f"ev-exi: {where}: {exc.code}: {exc}", err=True)
        click.echo(result)
        sys.stdout.flush()
    if failed:
        sys.exit(1)


SCHEMA = click.option(
    "--schema",
    required=True,
    type=click.Choice(SCHEMA_SETS),
    help="The schema set of the messages (app is SupportedAppProtocol).",
)
V2GTP = click.option(
    "--v2gtp", is_flag=True, help="The hex streams carry (decode) or get (encode) V2GTP headers."
)


@click.group(help=__doc__.split("\n\n")[0])
@click.version_option(package_name="evstack", prog_name="ev-exi")
def main() -> None:
    pass


@main.command()
@SCHEMA
@V2GTP
@click.argument("hex_streams", nargs=-1, metavar="[HEX]...")
def decode(schema: str, v2gtp: bool, hex_streams: tuple[str, ...]) -> None:
    """Decode each HEX... stream (or each line of stdin) to one line of JSON."""
    _convert(decode_line, schema, v2gtp, hex_streams)


@main.command()
@SCHEMA
@V2GTP
@click.argument("messages", nargs=-1, metavar="[JSON]...")
def encode(schema: str, v2gtp: bool, messages: tuple[str, ...]) -> None:
    """Encode each JSON... message (or each line of stdin) to one line of hex."""
    _convert(encode_line, schema, v2gtp, messages)


if __name__ == "__main__":
    main()
