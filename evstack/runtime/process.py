"""Entry point of a module process, and the forkserver that makes starting one cheap.

The forkserver imports the runtime (and the module classes) once; every module process is
then a fork of it, not a fresh interpreter paying the imports again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import sys
import threading

from evstack.runtime import loop
from evstack.runtime.host import ModuleHost
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.wire import Topics

__all__ = ["module_process_context", "run_module_process", "warm_up_forkserver"]


def module_process_context(preload: list[str]) -> multiprocessing.context.BaseContext:
    """Forkserver with `preload` imported once; EVSTACK_START_METHOD=spawn starts each
    module in a fresh interpreter instead (what bench_startup compares against)."""
    if os.environ.get("EVSTACK_START_METHOD") == "spawn":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["evstack.runtime.process", "uvloop", *preload])
    return context


def warm_up_forkserver(preload: list[str]) -> None:
    """Start the forkserver in the background while ev-manager is still loading the config.

    Both take a few hundred milliseconds on a small board; overlapping them is most of what
    keeps start-up under a second. Nothing runs in it until the manager starts modules.
    """
    if os.environ.get("EVSTACK_START_METHOD") == "spawn":
        return
    module_process_context(preload)
    threading.Thread(
        target=multiprocessing.forkserver.ensure_running, name="forkserver-warm-up", daemon=True
    ).start()


def run_module_process(
    broker: BrokerSettings,
    prefix: str,
    module_id: str,
    manager_pid: int,
    log_level: int = logging.INFO,
) -> None:
    """Run one module until SIGTERM/SIGINT; exit non-zero if it fails (the manager restarts it).

    `broker` holds the module's own account. Process arguments reach a forked module through
    the forkserver's socket (spawned ones through a pipe): no argv or environment shows them.
    """
    logging.basicConfig(
        level=log_level, format=f"%(asctime)s {module_id} %(levelname)s %(name)s: %(message)s"
    )
    try:
        loop.run(_run(broker, prefix, module_id, manager_pid))
    except Exception:
        logging.getLogger("evstack.runtime").exception("module %s failed", module_id)
        sys.exit(1)


async def _run(broker: BrokerSettings, prefix: str, module_id: str, manager_pid: int) -> None:
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    watchdog = asyncio.create_task(_stop_when_gone(manager_pid, stop))
    try:
        await ModuleHost(broker, Topics(prefix), module_id).run(stop)
    finally:
        watchdog.cancel()
    # The module is stopped and disconnected. Leave now: the loop's own clean-up would wait
    # for executor threads a module may have left blocked, and keep the process alive.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def _stop_when_gone(manager_pid: int, stop: asyncio.Event) -> None:
    """Stop if the manager dies without stopping us (SIGKILL, a crash): no orphans."""
    while True:
        await asyncio.sleep(1.0)
        try:
            os.kill(manager_pid, 0)
        except ProcessLookupError:
            logging.getLogger("evstack.runtime").warning("the manager is gone; stopping")
            stop.set()
            return
