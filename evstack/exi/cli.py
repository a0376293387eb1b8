"""`ev-exi`: decode EXI captures to JSON lines and encode JSON lines back to hex.

    ev-exi decode --schema din 809a0211d63f74d2297ac9119400
    tshark ... | ev-exi decode --schema iso2 --v2gtp      # hex lines on stdin
    ev-exi encode --schema din < messages.jsonl

One output line per input line. A line that fails prints {"error": ..., "code": ...}
(decode) or a `# error` line (encode) in its place and the rest still runs; the exit
status is 1 if any line failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator

from evstack.exi import api, v2gtp
from evstack.exi.errors import ExiError
from evstack.exi.tables import SCHEMA_SETS


def _lines(arguments: list[str]) -> Iterator[str]:
    source: Iterable[str] = arguments or sys.stdin
    for line in source:
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def _decode_line(schema: str, line: str, framed: bool) -> str:
    try:
        data = bytes.fromhex(line.replace(" ", "").replace(":", ""))
    except ValueError:
        return json.dumps({"error": "not hex", "code": "bad_input"})
    try:
        if framed:
            payload_type, data = v2gtp.unframe(data)
            expected = v2gtp.PAYLOAD_TYPES.get(schema)
            if expected is not None and payload_type != expected:
                raise v2gtp.V2gtpError(
                    f"payload type {payload_type:#06x} is not {schema}'s {expected:#06x}"
                )
        return json.dumps(api.decode_any(schema, data), ensure_ascii=False)
    except ExiError as exc:
        return json.dumps({"error": str(exc), "code": exc.code.name.lower()})
    except v2gtp.V2gtpError as exc:
        return json.dumps({"error": str(exc), "code": "bad_v2gtp"})


def _encode_line(schema: str, line: str, framed: bool) -> str:
    try:
        message = json.loads(line)
        data = api.encode_any(schema, message)
    except json.JSONDecodeError as exc:
        return f"# error: not JSON: {exc}"
    except ExiError as exc:
        return f"# error: {exc}"
    if framed:
        data = v2gtp.frame(v2gtp.PAYLOAD_TYPES.get(schema, v2gtp.PayloadType.EXI), data)
    return data.hex()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ev-exi", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["decode", "encode"])
    parser.add_argument("--schema", required=True, choices=SCHEMA_SETS)
    parser.add_argument("--v2gtp", action="store_true", help="input/output carry V2GTP headers")
    parser.add_argument("items", nargs="*", help="hex streams or JSON messages (else stdin)")
    args = parser.parse_intermixed_args(argv)
    convert = _decode_line if args.command == "decode" else _encode_line
    failed = False
    for line in _lines(args.items):
        result = convert(args.schema, line, args.v2gtp)
        failed = failed or result.startswith(('{"error"', "# error"))
        print(result, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
