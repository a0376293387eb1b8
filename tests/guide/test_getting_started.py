"""docs/guides/getting-started.md as a new contributor follows it, in a copy of the tree.

Every `sh` block of the guide runs in order, and every block with a title is written to the
file it names, in a fresh copy of the repository (its tracked files and the built C
extensions) that imports as `evstack` ahead of the installed checkout. The commands are
the guide's text, not a copy of it: if the guide and the tools part ways, this fails.
Then the guide's module is made to fail, and the run must say so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "guides" / "getting-started.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\n", re.S | re.M)
TITLE = re.compile(r'title="([^"]+)"')


def steps() -> list[tuple[str, str, str]]:
    """(language, title, body) of every fenced block of the guide, in order."""
    return [
        (language, m.group(1) if (m := TITLE.search(info)) else "", body)
        for language, info, body in BLOCK.findall(GUIDE.read_text())
    ]


def copy_tree(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    built = [str(p.relative_to(REPO)) for p in (REPO / "ext").rglob("*.so")]
    for name in [*filter(None, listed), *built]:
        source, copied = REPO / name, target / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in git
        copied.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copied.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copied)  # mtimes kept: make sees the venv as up to date
    (target / ".venv").symlink_to(Path(sys.prefix))


def run(script: str, tree: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tree, env=env, capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_getting_started_guide_works_as_written(tmp_path: Path) -> None:
    tree = tmp_path / "evstack"
    copy_tree(tree)
    blocks = steps()
    assert [lang for lang, _, _ in blocks].count("sh") >= 5
    for language, _, body in blocks:
        # The copy shares this checkout's .venv: make's install step or pip would point the
        # editable install at the copy.
        if language == "sh":
            assert not re.search(r"\bmake\b|\bpip\b", body), body
    for language, title, body in blocks:
        if title:
            (tree / title).parent.mkdir(parents=True, exist_ok=True)
            (tree / title).write_text(body)
        elif language == "sh":
            done = run(body, tree, timeout_s=400)
            assert done.returncode == 0, f"{body}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"

    # The module in the charger was the guide's, and the run was complete.
    config = (tree / "config" / "sil-card-prefix.yaml").read_text()
    assert "module: CardPrefix" in config
    assert "LocalAllowList" not in config
    summary = msgspec.json.decode((tree / "var" / "card-prefix.json").read_bytes())
    assert summary["complete"] is True
    assert sorted(s["id_token"] for s in summary["sessions"]) == ["11223344", "AABBCCDD"]

    # A handler that raises: Auth hears an error, nobody is authorized, and the run says so
    # (exit 1, incomplete, the EVSEs listed) instead of reporting what did not happen.
    module = tree / "modules" / "CardPrefix" / "module.py"
    text = module.read_text()
    broken = text.replace(
        "        card = provided_token.id_token.value.upper()\n",
        '        raise RuntimeError("the card reader database is down")\n',
    )
    assert broken != text
    module.write_text(broken)
    done = run(
        ".venv/bin/ev-manager run config/sil-card-prefix.yaml --log-level WARNING "
        "--summary-json var/broken.json",
        tree,
        timeout_s=400,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    summary = msgspec.json.decode((tree / "var" / "broken.json").read_bytes())
    assert summary["complete"] is False
    assert summary["sessions"] == []
    assert "no transaction" in done.stdout
    for evse_id in ("DE*EVS*E0001*1", "DE*EVS*E0002*1"):
        assert evse_id in done.stdout.rpartition("Charging sessions")[2]
