"""`ev-codegen broker-acl`: lock a production Mosquitto down to one runtime config's wiring.

Writes Mosquitto's password file (its `$7$` PBKDF2-SHA512 format, computed here, so no
`mosquitto_passwd` is needed), its ACL file with the grants of `evstack.runtime.acl`, and the
credentials file `ev-manager` hands the modules their passwords from (owner-only, mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evstack.runtime.acl import Grant, bus_acl
from evstack.runtime.credentials import Credentials
from evstack.runtime.plan import RunPlan

__all__ = [
    "BrokerFiles",
    "mosquitto_password_line",
    "render_acl",
    "write_broker_files",
    "write_mosquitto_files",
]

# mosquitto_passwd's own choices. The passwords are random, so iterations add nothing.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    credentials: Path


def mosquitto_password_line(username: str, password: str, *, salt: bytes | None = None) -> str:
    """`username:$7$iterations$salt$hash`, as Mosquitto 2 reads its password file."""
    if ":" in username or "\n" in username:
        raise ValueError(f"{username!r} cannot be named in a Mosquitto password file")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"{username}:$7${PBKDF2_ITERATIONS}${encoded[0]}${encoded[1]}\n"


def render_acl(grants: Mapping[str, Grant], source: str) -> str:
    """Mosquitto's ACL file: one `user` section per account, `read` being subscribe."""
    lines = [
        f"# Mosquitto ACL for the evstack bus of {source}, written by `ev-codegen broker-acl`.",
        "# Write it again, with the passwords, whenever the config's wiring changes.",
    ]
    for user, grant in grants.items():
        lines += ["", f"# {'module ' + grant.module_id if grant.module_id else 'the manager'}"]
        lines.append(f"user {user}")
        both = set(grant.publish) & set(grant.subscribe)
        for topic_filter in dict.fromkeys((*grant.publish, *grant.subscribe)):
            if topic_filter in both:
                access = "readwrite"
            else:
                access = "write" if topic_filter in grant.publish else "read"
            lines.append(f"topic {access} {topic_filter}")
    return "\n".join(lines) + "\n"


def write_broker_files(plan: RunPlan, out: Path, manager: str, source: str) -> BrokerFiles:
    """Make fresh passwords for `plan`'s modules and `manager`; write the three files to `out`."""
    credentials = Credentials.generate(plan.prefix, manager, (m.module_id for m in plan.modules))
    passwd, acl = write_mosquitto_files(
        bus_acl(plan, [manager]), credentials.passwords, out, source
    )
    files = BrokerFiles(passwd, acl, out / "credentials.json")
    credentials.save(files.credentials)
    return files


def write_mosquitto_files(
    grants: Mapping[str, Grant], passwords: Mapping[str, str], out: Path, source: str
) -> tuple[Path, Path]:
    """`out/passwd` and `out/acl` for these accounts (benchmarks merge several plans' grants)."""
    out.mkdir(parents=True, exist_ok=True)
    passwd, acl = out / "passwd", out / "acl"
    passwd.write_text("".join(mosquitto_password_line(u, p) for u, p in passwords.items()))
    acl.write_text(render_acl(grants, source))
    # Mosquitto, running as its own user, must read these two: hashes and topics, no password.
    for path in (passwd, acl):
        path.chmod(0o644)
    return passwd, acl
