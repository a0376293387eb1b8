"""`ev-manager`: validate a runtime config, then run its modules."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click
import msgspec

from evstack.runtime import loop, systemd
from evstack.runtime.errors import BrokerError, ConfigurationError
from evstack.runtime.manager import Manager
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import RunPlan, from_runtime_config, module_imports_named_in
from evstack.runtime.process import warm_up_forkserver
from evstack.runtime.wire import Topics

__all__ = ["main"]

EXIT_BAD_CONFIG = 2
EXIT_BROKER = 3
EXIT_SUMMARY = 4

broker_option = click.option(
    "--broker",
    metavar="URL",
    help="mqtt://[user:pass@]host:port or mqtts://...; default: the config's, else embedded.",
)
prefix_option = click.option("--prefix", help="Topic prefix (default: the config's, else evstack).")
log_option = click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="The least severe log messages shown, from ev-manager and every module.",
)


@click.group()
@click.version_option(package_name="evstack")
def main() -> None:
    """Run evstack modules over MQTT."""


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@broker_option
@prefix_option
@click.option("--inprocess", is_flag=True, help="Run all modules in this process's event loop.")
@click.option("--name", help="Manager name, unique per broker and prefix (default: host-pid).")
@click.option(
    "--embedded-port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port of the embedded broker, when no broker is named (default: any free port).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder where modules keep what must survive a restart (default: the config's "
    "settings.state_dir, else var/state).",
)
@click.option(
    "--credentials",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Each module's broker account, as `ev-codegen broker-acl` writes it (default: the "
    "config's settings.credentials_file; none: the embedded broker makes its own).",
)
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result of the module that finishes the run (finish_run) to this file.",
)
@click.option(
    "--modules",
    "module_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of modules (<Name>/manifest.yaml, <Name>/module.py) besides evstack's and "
    "installed ones; repeat for more.",
)
@click.option(
    "--speedup",
    type=click.FloatRange(0.001, 1000),
    help="Run every module's clock this many times faster than real time, a simulation's "
    "setting (default: the config's settings.speedup, else 1).",
)
@log_option
def run(
    config: Path,
    broker: str | None,
    prefix: str | None,
    inprocess: bool,
    name: str | None,
    embedded_port: int,
    state_dir: Path | None,
    credentials: Path | None,
    summary_json: Path | None,
    module_dirs: tuple[Path, ...],
    speedup: float | None,
    log_level: str,
) -> None:
    """Validate CONFIG and run its modules until SIGINT/SIGTERM or a module finishes the run.

    Nothing starts when the config is wrong: the error is printed and the exit code is 2.
    A module that finishes the run (`ModuleBase.finish_run`) chooses the exit code.
    """
    _configure_logging(log_level)
    # Before the forkserver starts: module processes inherit this import path.
    sys.path[:0] = [str(d.resolve()) for d in module_dirs]
    if not inprocess:
        warm_up_forkserver(module_imports_named_in(config))
    try:
        plan = from_runtime_config(config, module_dirs)
        plan = _override(plan, broker, prefix)
        if state_dir is not None:
            plan = dataclasses.replace(plan, state_dir=state_dir)
        if credentials is not None:
            plan = dataclasses.replace(plan, credentials_file=credentials)
        if speedup is not None:
            plan = dataclasses.replace(plan, speedup=speedup)
        manager = Manager(plan, inprocess=inprocess, name=name, embedded_port=embedded_port)
    except (ConfigurationError, ValueError) as exc:
        click.echo(f"ev-manager: {exc}", err=True)
        sys.exit(EXIT_BAD_CONFIG)
    _run_until_signalled(lambda stop: _run_reporting_to_systemd(manager, stop))
    if manager.finished is not None:
        if summary_json is not None:
            try:
                summary_json.write_bytes(msgspec.json.format(manager.finished.result) + b"\n")
            except OSError as exc:
                click.echo(f"ev-manager: cannot write the summary: {exc}", err=True)
                sys.exit(EXIT_SUMMARY)
        sys.exit(manager.finished.exit_code)


async def _run_reporting_to_systemd(manager: Manager, stop: asyncio.Event) -> None:
    report = asyncio.create_task(
        systemd.supervise(manager.globally_ready, stop, len(manager.plan.modules))
    )
    try:
        await manager.run(stop)
    finally:
        report.cancel()
        await asyncio.gather(report, return_exceptions=True)


def _override(plan: RunPlan, broker: str | None, prefix: str | None) -> RunPlan:
    if broker:
        plan = dataclasses.replace(plan, broker=BrokerSettings.from_url(broker))
    if prefix:
        Topics(prefix)  # validates
        plan = dataclasses.replace(plan, prefix=prefix)
    return plan


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run_until_signalled(target: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def until_signalled() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await target(stop)

    try:
        loop.run(until_signalled())
    except BrokerError as exc:
        click.echo(f"ev-manager: {exc}", err=True)
        sys.exit(EXIT_BROKER)
    except ConfigurationError as exc:
        click.echo(f"ev-manager: {exc}", err=True)
        sys.exit(EXIT_BAD_CONFIG)
