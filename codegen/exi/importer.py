"""Derive the committed grammar tables in `generated/exi/` from the official XSDs.

Only this step needs the schemas (shipped by the PyPI package `iso15118`); builds and tests
read the derived JSON. Each schema set gets its own id and table.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from evstack.codegen.exi.c_tables import write_c_tables
from evstack.codegen.exi.grammar import GrammarBuilder
from evstack.codegen.exi.pytypes import python_modules
from evstack.codegen.exi.xsd import Schema, SchemaError

# schema set id -> (root XSD relative to the iso15118 schema folder, fragment grammar?)
SCHEMA_SETS: dict[str, tuple[str, bool]] = {
    "app": ("V2G_CI_AppProtocol.xsd", False),
    "din": ("din_spec/V2G_CI_MsgDef.xsd", False),
    "iso2": ("iso15118_2/V2G_CI_MsgDef.xsd", False),
    "iso20": ("iso15118_20/V2G_CI_CommonMessages.xsd", False),
    "iso20_ac": ("iso15118_20/V2G_CI_AC.xsd", False),
    "iso20_dc": ("iso15118_20/V2G_CI_DC.xsd", False),
    "iso20_acdp": ("iso15118_20/V2G_CI_ACDP.xsd", False),
    "iso20_wpt": ("iso15118_20/V2G_CI_WPT.xsd", False),
    "iso2_fragment": ("iso15118_2/V2G_CI_MsgDef.xsd", True),
    "xmldsig_fragment": ("xmldsig-core-schema.xsd", True),
    "iso20_fragment": ("iso15118_20/V2G_CI_CommonMessages.xsd", True),
}

OUTPUT_DIR = pathlib.Path(__file__).resolve().parents[2] / "generated" / "exi"


def find_schema_dir() -> pathlib.Path | None:
    """The XSD folder of an installed `iso15118` package, if there is one."""
    try:
        import iso15118  # type: ignore[import-not-found]
    except ImportError:
        return None
    return pathlib.Path(iso15118.__file__).parent / "shared" / "schemas"


def derive(schema_dir: pathlib.Path, set_id: str) -> dict[str, object]:
    root, fragment = SCHEMA_SETS[set_id]
    schema = Schema([schema_dir / root])
    builder = GrammarBuilder(schema)
    sources = sorted(str(p.relative_to(schema_dir.resolve())) for p in schema.loaded_files)
    with_fragment = not fragment and any(other == (root, True) for other in SCHEMA_SETS.values())
    return builder.table(set_id, sources, fragment, with_fragment=with_fragment)


def write_all(schema_dir: pathlib.Path, output_dir: pathlib.Path, set_ids: list[str]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    for set_id in set_ids:
        table = derive(schema_dir, set_id)
        text = json.dumps(table, separators=(",", ":"), ensure_ascii=False)
        # one grammar per line keeps diffs of a re-import readable
        text = text.replace(',{"name":', ',\n{"name":')
        (output_dir / f"{set_id}.json").write_text(text + "\n", encoding="utf-8")
        print(f"{set_id}: {len(table['grammars'])} grammars")  # type: ignore[arg-type]
    # The C tables and the typed classes (shared between sets) hold every set at once: a
    # partial import into a fresh folder cannot make them.
    absent = [s for s in SCHEMA_SETS if not (output_dir / f"{s}.json").exists()]
    if absent:
        print(
            f"exi_tables.c and the typed modules not written: {output_dir} has no table for "
            f"{absent}",
            file=sys.stderr,
        )
        return
    write_c_tables(output_dir, list(SCHEMA_SETS), output_dir / "exi_tables.c")
    write_python_modules(output_dir, output_dir)


def load_tables(json_dir: pathlib.Path) -> list[dict[str, object]]:
    """Every schema set's derived table, in SCHEMA_SETS order."""
    return [
        json.loads((json_dir / f"{set_id}.json").read_text(encoding="utf-8"))
        for set_id in SCHEMA_SETS
    ]


def write_python_modules(json_dir: pathlib.Path, output_dir: pathlib.Path) -> None:
    """types_<set>.py and the shared xsd_<schema>.py modules; stale ones are removed."""
    modules = python_modules(load_tables(json_dir))
    for stale in [*output_dir.glob("types_*.py"), *output_dir.glob("xsd_*.py")]:
        if stale.stem not in modules:
            stale.unlink()
    for name, source in modules.items():
        (output_dir / f"{name}.py").write_text(source, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evstack.codegen.exi", description=__doc__)
    parser.add_argument("--xsd-dir", type=pathlib.Path, help="iso15118/shared/schemas folder")
    parser.add_argument("--out", type=pathlib.Path, default=OUTPUT_DIR)
    parser.add_argument(
        "sets", nargs="*", metavar="SET", help=f"default: all of {list(SCHEMA_SETS)}"
    )
    args = parser.parse_args(argv)
    schema_dir = args.xsd_dir or find_schema_dir()
    if schema_dir is None:
        parser.error("no --xsd-dir and the iso15118 package is not installed")
    unknown = set(args.sets) - set(SCHEMA_SETS)
    if unknown:
        parser.error(f"unknown schema sets: {sorted(unknown)}")
    try:
        write_all(schema_dir.resolve(), args.out, args.sets or list(SCHEMA_SETS))
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
