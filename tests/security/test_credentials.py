"""How accounts are made and handed out: `ev-codegen broker-acl`'s files, what ev-manager
does with them, and where a password never shows."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from evstack.codegen.broker_acl import mosquitto_password_line
from evstack.codegen.cli import main as ev_codegen
from evstack.runtime.cli import main as ev_manager
from evstack.runtime.credentials import Credentials
from evstack.runtime.errors import ConfigurationError
from evstack.runtime.manager import running
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import MqttConnection
from evstack.runtime.plan import ModulePlan, RunPlan

from .conftest import SIL_AC

EXAMPLE = "evstack.modules.Example.module:Example"
RFID_READER_ACL = """\
user rfid_reader@evstack
topic write evstack/modules/rfid_reader/ready
topic write evstack/modules/rfid_reader/+/var/+
topic write evstack/modules/rfid_reader/+/error/#
topic write evstack/modules/auth/reply/rfid_reader
topic read evstack/modules/rfid_reader/config
topic read evstack/modules/rfid_reader/+/cmd/+/+
topic read evstack/modules/rfid_reader/reply/+
topic read evstack/managers/+/ready
topic read evstack/managers/+/error/#
"""


def two_examples(prefix: str) -> RunPlan:
    return RunPlan(
        [
            ModulePlan("store", EXAMPLE),
            ModulePlan("user", EXAMPLE, connections={"kvs": [("store", "store")]}),
        ],
        prefix=prefix,
    )


@pytest.mark.timeout(30)
def test_broker_acl_writes_mosquittos_files_and_ev_managers(tmp_path: Path) -> None:
    out = tmp_path / "broker"
    result = CliRunner().invoke(ev_codegen, ["broker-acl", str(SIL_AC), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "15 accounts" in result.output

    credentials = Credentials.load(out / "credentials.json")
    assert credentials.manager == "ev-manager"
    modes = {name: (out / name).stat().st_mode & 0o777 for name in ("passwd", "acl")}
    assert modes == {"passwd": 0o644, "acl": 0o644}
    assert (out / "credentials.json").stat().st_mode & 0o777 == 0o600
    # Each password-file line is PBKDF2-SHA512 of the password ev-manager hands out.
    lines = (out / "passwd").read_text().splitlines()
    assert len(lines) == len(credentials.passwords) == 15
    for line in lines:
        user, _, rest = line.partition(":")
        kind, iterations, salt, digest = rest.split("$")[1:]
        password = credentials.passwords[user].encode()
        computed = hashlib.pbkdf2_hmac("sha512", password, base64.b64decode(salt), int(iterations))
        assert (kind, base64.b64decode(digest)) == ("7", computed)
    assert RFID_READER_ACL in (out / "acl").read_text()


@pytest.mark.timeout(30)
@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
def test_our_password_lines_are_mosquitto_passwds_own(tmp_path: Path) -> None:
    made = tmp_path / "passwd"
    made.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(made), "auth@evstack", "s3cret"], check=True)
    line = made.read_text()
    salt = base64.b64decode(line.split("$")[3])

    assert mosquitto_password_line("auth@evstack", "s3cret", salt=salt) == line


@pytest.mark.timeout(30)
def test_credentials_must_fit_the_run(tmp_path: Path) -> None:
    credentials = Credentials.generate("evstack", "ev-manager", ["store", "user"])
    credentials.check("evstack", "ev-manager", ["store", "user"])
    for prefix, manager, modules, complaint in (
        ("other", "ev-manager", ["store"], "prefix 'evstack'"),
        ("evstack", "board-2", ["store"], "manager 'ev-manager'"),
        ("evstack", "ev-manager", ["store", "meter"], "no password for meter"),
    ):
        with pytest.raises(ConfigurationError, match=complaint):
            credentials.check(prefix, manager, modules)

    path = tmp_path / "credentials.json"
    credentials.save(path)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"active_modules:\n  store:\n    module: Example\n"
        f"settings:\n  broker_url: mqtt://127.0.0.1:1\n  credentials_file: {path.name}\n"
    )
    # Nothing starts: the config's credentials are checked before any broker is reached.
    arguments = ["run", str(config), "--inprocess", "--prefix", "x"]
    wrong_prefix = CliRunner().invoke(ev_manager, arguments)
    assert wrong_prefix.exit_code == 2
    assert "the credentials are for prefix 'evstack'" in wrong_prefix.output


@pytest.mark.timeout(60)
async def test_no_password_travels_over_mqtt_or_shows_in_a_module_process(
    tmp_path: Path,
) -> None:
    """Module processes get their passwords through the forkserver: no argv or environment
    shows them, and an observer of every message on the bus never sees one."""
    plan = two_examples("no-secrets")
    credentials = Credentials.generate("no-secrets", "charger", ["store", "user"])
    seen: list[tuple[str, bytes]] = []
    # An open broker takes any password: the observer needs none to see everything.
    with PrivateMosquitto() as broker:
        observer = MqttConnection(broker, "observer", lambda *message: seen.append(message))
        await observer.connect()
        await observer.subscribe("no-secrets/#", 1)
        async with running(
            dataclasses.replace(plan, broker=broker), inprocess=False, credentials=credentials
        ):
            processes = _descendants(os.getpid())
            exposed = [_proc_file(pid, f) for pid in processes for f in ("cmdline", "environ")]
        await observer.disconnect()

    assert len(processes) >= 3  # the forkserver and the two modules
    assert {topic for topic, payload in seen if topic.endswith("/config") and payload} == {
        "no-secrets/modules/store/config",
        "no-secrets/modules/user/config",
    }
    for password in credentials.passwords.values():
        assert not any(password.encode() in payload for _, payload in seen)
        assert not any(password.encode() in text for text in exposed)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _proc_file(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


@pytest.mark.timeout(30)
async def test_an_open_external_broker_gets_one_warning_and_a_locked_one_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with PrivateMosquitto() as broker:
        open_plan = dataclasses.replace(two_examples("open-bus"), broker=broker)
        with caplog.at_level(logging.WARNING):
            async with running(open_plan):
                await asyncio.sleep(0)
        warnings = [r for r in caplog.records if "not locked down" in r.getMessage()]
        assert len(warnings) == 1
        assert "credentials_file" in warnings[0].getMessage()

        caplog.clear()
        credentials = Credentials.generate("open-bus", "charger", ["store", "user"])
        with caplog.at_level(logging.WARNING):
            async with running(open_plan, credentials=credentials):
                pass
            async with running(two_examples("embedded")):  # the embedded broker is locked
                pass
        assert not [r for r in caplog.records if "not locked down" in r.getMessage()]
