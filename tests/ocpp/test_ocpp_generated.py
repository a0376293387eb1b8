"""The committed OCPP types and pages are a fresh import of the official schemas; the importer
refuses what it cannot carry over faithfully; evstack never imports the `ocpp` package."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from ocpp_oracle import ocpp_dir

from evstack.codegen.cli import main
from evstack.codegen.ocpp import importer
from evstack.codegen.ocpp.schema import SchemaImportError, VersionSpec, load

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("version", list(importer.VERSIONS))
def test_committed_output_is_a_fresh_import(version: str) -> None:
    derived = importer.derive(ocpp_dir(), importer.VERSIONS[version])
    results = importer.apply(derived, importer.DEFAULT_OUT, importer.DEFAULT_DOCS, check=True)
    for result in results:
        assert result.up_to_date, f"run `ev-codegen ocpp-import {version}`:\n{result.describe()}"


def test_the_command_writes_checks_and_removes(tmp_path: Path) -> None:
    out, docs = tmp_path / "generated", tmp_path / "docs"
    arguments = ["--ocpp-dir", str(ocpp_dir()), "--out", str(out), "--docs", str(docs)]
    runner = CliRunner()
    stale = runner.invoke(main, ["ocpp-import", "--check", *arguments])
    assert stale.exit_code == 1
    assert "missing: v201/messages.py" in stale.output
    written = runner.invoke(main, ["ocpp-import", "v201", *arguments])
    assert written.exit_code == 0, written.output
    assert (out / "v201" / "messages.py").read_text() == (
        importer.DEFAULT_OUT / "v201" / "messages.py"
    ).read_text()
    (docs / "v201" / "messages" / "Gone.md").write_text((docs / "v201" / "index.md").read_text())
    assert runner.invoke(main, ["ocpp-import", "--check", *arguments]).exit_code == 1
    assert runner.invoke(main, ["ocpp-import", *arguments]).exit_code == 0
    assert not (docs / "v201" / "messages" / "Gone.md").exists()
    assert runner.invoke(main, ["ocpp-import", "v99", *arguments]).exit_code == 2


def test_evstack_never_imports_the_ocpp_package() -> None:
    # Everything under evstack.ocpp and evstack.generated.ocpp, in a fresh interpreter.
    script = """
import importlib, pkgutil, sys
import evstack.ocpp, evstack.generated.ocpp
for package in (evstack.ocpp, evstack.generated.ocpp):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
import evstack.ocpp.v201 as api
api.decode_request("Heartbeat", b"{}")
print(sorted(m for m in sys.modules if m == "ocpp" or m.startswith("ocpp.")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def _copy_schemas(tmp_path: Path) -> Path:
    folder = tmp_path / "v201" / "schemas"
    shutil.copytree(ocpp_dir() / "v201" / "schemas", folder)
    return folder


def _edit(path: Path, change: dict[str, object], *where: str) -> None:
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    node = schema
    for key in where:
        node = node[key]
    node.update(change)
    path.write_text(json.dumps(schema))


def test_one_name_must_mean_one_structure(tmp_path: Path) -> None:
    folder = _copy_schemas(tmp_path)
    # Another description is fine: the OCA describes an enum per use.
    _edit(folder / "ResetRequest.json", {"description": "other words"}, "definitions",
          "ResetEnumType")  # fmt: skip
    load(folder, importer.VERSIONS["v201"])
    _edit(folder / "HeartbeatResponse.json", {"maxLength": 254}, "definitions", "CustomDataType",
          "properties", "vendorId")  # fmt: skip
    with pytest.raises(SchemaImportError, match="'CustomDataType' differs in structure"):
        load(folder, importer.VERSIONS["v201"])


def test_an_unknown_keyword_fails_the_import(tmp_path: Path) -> None:
    folder = _copy_schemas(tmp_path)
    _edit(folder / "ResetRequest.json", {"uniqueItems": True}, "properties", "evseId")
    with pytest.raises(SchemaImportError, match=r"ResetRequest.json: ResetRequest.evseId.*"
                       "uniqueItems"):  # fmt: skip
        load(folder, importer.VERSIONS["v201"])


def test_other_versions_are_other_inputs() -> None:
    # OCPP 2.1 imports as it is, its SEND messages included; OCPP 1.6 stops at the first
    # thing the importer cannot check yet (format: uri), and says so.
    base = ocpp_dir()
    v21 = load(base / "v21" / "schemas", VersionSpec("v21", "OCPP 2.1"))
    assert len(v21.messages) > 64
    assert any(m.response is None for m in v21.messages)
    with pytest.raises(SchemaImportError, match="format 'uri'"):
        load(base / "v16" / "schemas", VersionSpec("v16", "OCPP 1.6J", request_suffix=""))
