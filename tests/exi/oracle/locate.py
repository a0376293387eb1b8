"""Where the interop parts live: the `iso15118` package's EXICodec.jar and XSDs, and a JDK.

Nothing of the `iso15118` package is committed or imported: `make interop` unpacks the wheel
(without its dependencies, whose pins clash with ours: it needs pydantic 1) into
`.venv/interop/`, and this module only reads files from it.
"""

from __future__ import annotations

import os
import pathlib
import shutil

REPO = pathlib.Path(__file__).resolve().parents[3]
# Kept in step with the Makefile's `interop` target.
ISO15118_VERSION = "0.31.2"
INTEROP_DIR = REPO / ".venv" / "interop" / f"iso15118-{ISO15118_VERSION}"

# schema set id -> (root XSD below the package's schema folder, fragment grammar?).
# The same ids and roots as evstack's importer (codegen/exi/importer.py).
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


class InteropMissingError(RuntimeError):
    """The jar, the XSDs or Java is not installed; the message says how to get it."""


def package_dir() -> pathlib.Path:
    """The unpacked `iso15118` package: $EVSTACK_ISO15118_DIR, else `make interop`'s copy."""
    override = os.environ.get("EVSTACK_ISO15118_DIR")
    candidate = pathlib.Path(override) if override else INTEROP_DIR / "iso15118"
    if not (candidate / "shared" / "EXICodec.jar").is_file():
        raise InteropMissingError(
            f"no EXICodec.jar under {candidate}: run `make interop` "
            "(or point EVSTACK_ISO15118_DIR at an installed iso15118 package)"
        )
    return candidate


def jar() -> pathlib.Path:
    return package_dir() / "shared" / "EXICodec.jar"


def schema_dir() -> pathlib.Path:
    return package_dir() / "shared" / "schemas"


def java_tool(name: str) -> str:
    """`java` or `javac` from $JAVA_HOME or PATH; the shim needs Java 17 or later."""
    home = os.environ.get("JAVA_HOME")
    found = str(pathlib.Path(home) / "bin" / name) if home else shutil.which(name)
    if not found or not pathlib.Path(found).is_file():
        raise InteropMissingError(
            f"`{name}` not found: install a JDK 17 (apt-get install openjdk-17-jdk)"
        )
    return found
