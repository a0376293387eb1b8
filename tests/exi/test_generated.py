"""The committed tables are exactly what the importer and the C emitter produce."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from evstack.codegen.exi import importer
from evstack.codegen.exi.c_tables import write_c_tables

GENERATED = pathlib.Path(importer.__file__).resolve().parents[2] / "generated" / "exi"
FAST_SETS = ["app", "din", "iso20_ac", "iso20_dc", "iso20_acdp", "iso20_wpt", "xmldsig_fragment"]
SLOW_SETS = ["iso2", "iso2_fragment", "iso20", "iso20_fragment"]


def _schema_dir() -> pathlib.Path | None:
    configured = os.environ.get("EVSTACK_XSD_DIR")
    return pathlib.Path(configured) if configured else importer.find_schema_dir()


def test_c_tables_match_the_json_tables(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "exi_tables.c"
    write_c_tables(GENERATED, list(importer.SCHEMA_SETS), output)
    assert output.read_text() == (GENERATED / "exi_tables.c").read_text()


def _check(set_id: str) -> None:
    schema_dir = _schema_dir()
    if schema_dir is None:
        message = "no XSDs: set EVSTACK_XSD_DIR or install the iso15118 package"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must prove the tables fresh, never skip silently
        pytest.skip(message)
    derived = importer.derive(schema_dir.resolve(), set_id)
    committed = json.loads((GENERATED / f"{set_id}.json").read_text())
    assert derived == committed, f"re-run python -m evstack.codegen.exi {set_id}"


@pytest.mark.parametrize("set_id", FAST_SETS)
def test_tables_are_fresh(set_id: str) -> None:
    _check(set_id)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("set_id", SLOW_SETS)
def test_large_tables_are_fresh(set_id: str) -> None:
    _check(set_id)


def test_message_classes_match_the_json_tables(tmp_path: pathlib.Path) -> None:
    importer.write_python_modules(GENERATED, tmp_path)
    written = {path.name: path.read_text() for path in tmp_path.glob("*.py")}
    committed = {
        path.name: path.read_text()
        for pattern in ("types_*.py", "xsd_*.py")
        for path in GENERATED.glob(pattern)
    }
    assert written == committed
