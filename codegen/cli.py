"""`ev-codegen`: generate, check, scaffold and document from EVerest-format manifests."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import click

from evstack.codegen.docs import render_docs
from evstack.codegen.output import DOCS, PACKAGE, OutputNotOwnedError, compare, write
from evstack.codegen.project import load_with_project, project_bindings, write_project
from evstack.codegen.render import GenerationError, render_tree
from evstack.codegen.scaffold import ScaffoldError, parse_provide, parse_require, scaffold
from evstack.manifest import ManifestError, ManifestTree, load_tree
from evstack.manifest.locate import evstack_sources

__all__ = ["main"]

# Checkout-only defaults (docs, tests); the tree itself is found by evstack.manifest.locate.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "generated"
DEFAULT_DOCS = PROJECT_ROOT / "docs" / "api"

_root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="evstack's own tree, in a checkout or an installed wheel",
    help="Tree with interfaces/, types/, errors/ and modules/**/manifest.yaml.",
)
_out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default="the evstack.generated package",
    help="Package folder to write; ev-codegen owns its types/, errors/, interfaces/, modules/.",
)


def _load(root: Path | None) -> ManifestTree:
    try:
        return load_tree(evstack_sources() if root is None else root)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.version_option(package_name="evstack")
def main() -> None:
    """Compile EVerest-format manifests into typed Python bindings and docs."""


_modules_option = click.option(
    "--modules",
    "module_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Instead: the bindings (<Name>/generated.py) of the modules in this folder, such as "
    "a project `new-module --out` wrote.",
)


def _project_bindings(module_dir: Path) -> dict[Path, str]:
    try:
        return project_bindings(load_with_project(module_dir), module_dir)
    except (ManifestError, GenerationError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@_root_option
@_out_option
@_modules_option
def generate(root: Path | None, out: Path, module_dir: Path | None) -> None:
    """Write the generated package (only what changed)."""
    if module_dir is not None:
        for path, text in _project_bindings(module_dir).items():
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                click.echo(f"ev-codegen: wrote {path}")
        return
    started = time.perf_counter()
    tree = _load(root)
    try:
        changes = write(render_tree(tree), out)
    except (OutputNotOwnedError, GenerationError) as exc:
        raise click.ClickException(str(exc)) from exc
    summary = (
        f"{len(changes.missing)} new, {len(changes.stale)} updated, {len(changes.extra)} removed"
    )
    elapsed = time.perf_counter() - started
    click.echo(f"ev-codegen: {out}: {summary} ({elapsed:.2f} s)")


@main.command()
@_root_option
@_out_option
@click.option(
    "--docs",
    "docs_out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also check the Markdown reference in this folder (as `ev-codegen docs` writes it).",
)
@_modules_option
def check(root: Path | None, out: Path, docs_out: Path | None, module_dir: Path | None) -> None:
    """Exit non-zero, listing the files, when the generated package is out of date."""
    if module_dir is not None:
        outdated = [p for p, t in _project_bindings(module_dir).items() if not _holds(p, t)]
        for path in outdated:
            click.echo(f"stale: {path}", err=True)
        if outdated:
            click.echo(f"ev-codegen: run `ev-codegen generate --modules {module_dir}`.", err=True)
            sys.exit(1)
        click.echo(f"ev-codegen: the bindings in {module_dir} are up to date.")
        return
    tree = _load(root)
    targets = [(out, render_tree, PACKAGE, "generate")]
    if docs_out is not None:
        targets.append((docs_out, render_docs, DOCS, f"docs --out {docs_out}"))
    stale = False
    for folder, render, layout, command in targets:
        try:
            result = compare(render(tree), folder, layout)
        except (OutputNotOwnedError, GenerationError) as exc:
            raise click.ClickException(str(exc)) from exc
        if result.up_to_date:
            click.echo(f"ev-codegen: {folder} is up to date.")
        else:
            click.echo(result.describe(), err=True)
            click.echo(
                f"ev-codegen: {folder} is out of date; run `ev-codegen {command}`.", err=True
            )
            stale = True
    if stale:
        sys.exit(1)


def _holds(path: Path, text: str) -> bool:
    return path.is_file() and path.read_text() == text


@main.command("new-module")
@click.argument("name")
@click.option(
    "--provides",
    "provides",
    multiple=True,
    metavar="IMPL:INTERFACE",
    help="An implementation the module provides; repeat for more.",
)
@click.option(
    "--requires",
    "requires",
    multiple=True,
    metavar="REQ:INTERFACE[:MIN[:MAX]]",
    help="A requirement, with its connection counts (default 1:1); repeat for more.",
)
@click.option(
    "--out",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write a project of its own here (pyproject.toml, NAME/, tests/) that installs "
    "next to evstack, instead of a module inside evstack's checkout.",
)
@_root_option
@click.option(
    "--generated",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default="the evstack.generated package",
    help="Without --out: the generated package to regenerate.",
)
@click.option(
    "--tests",
    "tests_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Without --out: where the test goes (default: tests/modules/ under --root).",
)
def new_module(
    name: str,
    provides: tuple[str, ...],
    requires: tuple[str, ...],
    project: Path | None,
    root: Path | None,
    generated: Path,
    tests_dir: Path | None,
) -> None:
    """Write the skeleton of module NAME (manifest, module.py, a test) and its bindings.

    Never overwrites a file: if any of the files exists, nothing is written.
    """
    try:
        wanted = [parse_provide(p) for p in provides], [parse_require(r) for r in requires]
        if project is not None:
            written = write_project(_load(root), name, *wanted, project)
            for path in written:
                click.echo(f"wrote {path}")
            click.echo(f"implement the module in {project / name / 'module.py'}")
            return
        root = root or PROJECT_ROOT  # a module of evstack's own goes into the checkout
        written = scaffold(
            _load(root), name, *wanted, tests_dir=tests_dir or root / "tests" / "modules"
        )
        write(render_tree(_load(root)), generated)
    except (ScaffoldError, OutputNotOwnedError, GenerationError) as exc:
        raise click.ClickException(str(exc)) from exc
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"regenerated {generated}; implement the handlers in {written[2]}")


@main.command()
@_root_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DOCS,
    show_default="docs/api of the evstack repository",
    help="Folder for the Markdown pages; ev-codegen owns all of it.",
)
def docs(root: Path | None, out: Path) -> None:
    """Write the Markdown API reference: one page per interface, type, error and module file."""
    tree = _load(root)
    try:
        changes = write(render_docs(tree), out, DOCS)
    except (OutputNotOwnedError, GenerationError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"ev-codegen: {out}: {len(changes.missing)} new, {len(changes.stale)} updated, "
        f"{len(changes.extra)} removed"
    )


@main.command("broker-acl")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for passwd, acl and credentials.json; files there are replaced.",
)
@click.option(
    "--manager-name",
    default="ev-manager",
    show_default=True,
    help="The name ev-manager runs under (its --name); the credentials file makes it the default.",
)
@click.option("--prefix", help="Topic prefix (default: the config's, else evstack).")
def broker_acl(config: Path, out: Path, manager_name: str, prefix: str | None) -> None:
    """Lock a Mosquitto down to CONFIG's wiring: one account and ACL per module.

    CONFIG is the runtime config ev-manager runs. Writes Mosquitto's password file (passwd)
    and ACL file (acl) for its password_file and acl_file (with use_username_as_clientid
    true, see config/mosquitto/local.conf), and credentials.json with fresh passwords, readable
    by its owner alone, for ev-manager (settings.credentials_file or --credentials).
    """
    from evstack.codegen.broker_acl import write_broker_files
    from evstack.runtime.errors import ConfigurationError
    from evstack.runtime.plan import from_runtime_config

    try:
        plan = from_runtime_config(config)
        if prefix:
            plan = dataclasses.replace(plan, prefix=prefix)
        files = write_broker_files(plan, out, manager_name, str(config))
    except (ConfigurationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"ev-codegen: {len(plan.modules) + 1} accounts for prefix {plan.prefix!r}: wrote "
        f"{files.passwd}, {files.acl} (for Mosquitto) and {files.credentials} (for ev-manager "
        "alone, mode 0600)"
    )


@main.command("exi-import")
@click.option(
    "--xsd-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The official XSDs (iso15118/shared/schemas); default: the iso15118 package's.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="generated/exi",
    help="Folder for the grammar tables (JSON, Python types, exi_tables.c).",
)
@click.argument("sets", nargs=-1, metavar="[SET]...")
def exi_import(xsd_dir: Path | None, out: Path | None, sets: tuple[str, ...]) -> None:
    """Derive generated/exi/ from the official V2G XSDs; SETs default to all of them."""
    from evstack.codegen.exi import importer
    from evstack.codegen.exi.xsd import SchemaError

    unknown = sorted(set(sets) - set(importer.SCHEMA_SETS))
    if unknown:
        raise click.BadParameter(
            f"unknown schema sets {unknown}; known: {list(importer.SCHEMA_SETS)}",
            param_hint="SET",
        )
    schema_dir = xsd_dir or importer.find_schema_dir()
    if schema_dir is None:
        raise click.UsageError("no --xsd-dir, and the iso15118 package is not installed")
    try:
        importer.write_all(
            schema_dir.resolve(), out or importer.OUTPUT_DIR, list(sets or importer.SCHEMA_SETS)
        )
    except SchemaError as exc:
        raise click.ClickException(f"{schema_dir}: {exc}") from exc


@main.command("ocpp-import")
@click.argument("versions", nargs=-1, metavar="[VERSION]...")
@click.option(
    "--ocpp-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    envvar="EVSTACK_OCPP_DIR",
    show_envvar=True,
    default=None,
    help="A folder laid out like the `ocpp` package (VERSION/schemas/*.json); "
    "default: the installed `ocpp` package, found without importing it.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="generated/ocpp of the evstack repository",
    help="Package folder for the Python types; the import owns VERSION/, values.py and "
    "__init__.py there.",
)
@click.option(
    "--docs",
    "docs_out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="docs/ocpp of the evstack repository",
    help="Folder for the Markdown pages; the import owns VERSION/ there.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit non-zero, listing the files, when the committed output differs "
    "from a fresh import.",
)
def ocpp_import(
    versions: tuple[str, ...],
    ocpp_dir: Path | None,
    out: Path | None,
    docs_out: Path | None,
    check: bool,
) -> None:
    """Derive typed OCPP messages and their pages from the OCA's JSON schemas.

    VERSION is a folder of the `ocpp` package, such as v201 (default: every version evstack
    imports). The schemas are read here only; nothing of the `ocpp` package is committed.
    """
    from evstack.codegen.ocpp import importer

    unknown = sorted(set(versions) - set(importer.VERSIONS))
    if unknown:
        raise click.BadParameter(
            f"{unknown}; known: {sorted(importer.VERSIONS)}", param_hint="VERSION"
        )
    source = ocpp_dir or importer.find_ocpp_dir()
    if source is None:
        raise click.ClickException(
            "the `ocpp` package is not installed; install it (pip install -e '.[dev]') or "
            "give --ocpp-dir / EVSTACK_OCPP_DIR"
        )
    out = out or importer.DEFAULT_OUT
    docs_out = docs_out or importer.DEFAULT_DOCS
    stale = False
    for version in versions or tuple(importer.VERSIONS):
        try:
            derived = importer.derive(source, importer.VERSIONS[version])
            results = importer.apply(derived, out, docs_out, check=check)
        except (importer.SchemaImportError, OutputNotOwnedError) as exc:
            raise click.ClickException(str(exc)) from exc
        model = derived.model
        counts = (
            f"{len(model.messages)} actions, {len(model.structs)} datatypes, "
            f"{len(model.enums)} enums"
        )
        for folder, result in zip((out, docs_out), results, strict=True):
            if not check:
                click.echo(
                    f"ev-codegen: {folder}: {version}: {len(result.missing)} new, "
                    f"{len(result.stale)} updated, {len(result.extra)} removed ({counts})"
                )
            elif result.up_to_date:
                click.echo(f"ev-codegen: {folder}: {version} is up to date ({counts}).")
            else:
                click.echo(result.describe(), err=True)
                click.echo(
                    f"ev-codegen: {folder}: {version} is out of date; run "
                    f"`ev-codegen ocpp-import {version}`.",
                    err=True,
                )
                stale = True
    if stale:
        sys.exit(1)
