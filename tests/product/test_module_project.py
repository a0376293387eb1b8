"""A module from another distribution runs in the SIL: `ev-codegen new-module --out` writes
its project, pip installs it next to the evstack wheel, and the SIL config uses it in place
of the RFID simulator; both ways of finding it (entry point, --modules) are tried."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import msgspec
import pytest
import yaml

from .conftest import Installed

# The card reader the SIL's drivers swipe, as a third party would write it: the SIL's
# sessions are authorised only if this module runs and publishes its tokens.
CARD_READER = '''\
"""Presents two cards, as config/sil-ac.yaml's RFID simulator does."""

from __future__ import annotations

import asyncio

from CardReader.generated import CardReaderMainConfig, CardReaderModuleBase
from evstack.generated.interfaces.auth_token_provider import AuthTokenProviderImplBase
from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
)

# Simulated seconds to wait before each card, at config/sil-ac.yaml's 10x.
SWIPES = ((0.4, "AABBCCDD"), (0.7, "11223344"))


class CardReader(CardReaderModuleBase):
    def create_main(self, config: CardReaderMainConfig) -> MainImpl:
        self.reader = MainImpl()
        return self.reader

    async def ready(self) -> None:
        self.start_task(self._swipe())

    async def _swipe(self) -> None:
        for wait_s, token in SWIPES:
            await asyncio.sleep(wait_s)
            card = IdToken(value=token, type=IdTokenType.ISO14443)
            await self.reader.publish_provided_token(
                ProvidedIdToken(id_token=card, authorization_type=AuthorizationType.RFID)
            )


class MainImpl(AuthTokenProviderImplBase):
    """Only publishes."""
'''


def write_project(installed: Installed, folder: Path) -> Path:
    project = folder / "card-reader"
    done = installed.run(
        "ev-codegen", "new-module", "CardReader", "--provides", "main:auth_token_provider",
        "--out", project, cwd=folder, timeout_s=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for written in ("pyproject.toml", "CardReader/manifest.yaml", "CardReader/generated.py"):
        assert (project / written).is_file()
    # The skeleton passes its own test before a line is written ...
    done = installed.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
                         cwd=project, timeout_s=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (project / "CardReader" / "module.py").write_text(CARD_READER)
    # ... and its bindings stay what ev-codegen writes.
    done = installed.run("ev-codegen", "check", "--modules", project, cwd=folder, timeout_s=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return project


def sil_config_with_card_reader(installed: Installed, run_dir: Path) -> Path:
    shipped = installed.run(
        "python", "-c",
        "import importlib.resources as r; print(r.files('evstack') / 'data/config/sil-ac.yaml')",
        cwd=run_dir, timeout_s=30,
    ).stdout.strip()  # fmt: skip
    config = yaml.safe_load(Path(shipped).read_text())
    config["active_modules"]["rfid_reader"] = {"module": "CardReader"}
    # Wall time depends on the machine's load; the test's own timeout bounds the run.
    config["active_modules"]["dashboard"]["config_module"]["deadline_s"] = 0
    path = run_dir / "sil-card-reader.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("found_by", ["entry point", "module search path"])
def test_a_module_from_its_own_project_runs_in_the_sil(
    installed: Installed, tmp_path: Path, found_by: str
) -> None:
    project = write_project(installed, tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    args: list[str | Path] = []
    if found_by == "entry point":
        done = installed.run(
            "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
            "--no-index", project, cwd=tmp_path, timeout_s=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        shutil.rmtree(project)  # the installed copy alone
    else:
        args = ["--modules", project]
    try:
        config = sil_config_with_card_reader(installed, run_dir)
        done = installed.run(
            "ev-manager", "run", config, *args, "--log-level", "INFO",
            "--summary-json", "summary.json", cwd=run_dir, timeout_s=300,
        )  # fmt: skip
    finally:
        if found_by == "entry point":  # the shared venv's next test must not see it
            installed.run("python", "-m", "pip", "uninstall", "-y", "evstack-card-reader",
                          cwd=tmp_path, timeout_s=120)  # fmt: skip

    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, output
    summary = msgspec.json.decode((run_dir / "summary.json").read_bytes())
    tokens = {s["evse"]: s["id_token"] for s in summary["sessions"]}
    assert tokens == {"evse_1": "AABBCCDD", "evse_2": "11223344"}, output


def test_a_config_naming_a_module_nobody_provides_says_so(
    installed: Installed, tmp_path: Path
) -> None:
    config = tmp_path / "missing.yaml"
    config.write_text(
        textwrap.dedent("""\
        active_modules:
          reader:
            module: CardReader
        """)
    )
    done = installed.run("ev-manager", "run", config, cwd=tmp_path, timeout_s=120)
    assert done.returncode == 2
    assert "CardReader" in done.stderr
