"""EXIficient as a long-lived JVM: one process answers every request of a test session.

Starting a JVM and building an ISO-20 grammar costs seconds, a request costs well under a
millisecond, so the process is started once (`shared()`) and spoken to over pipes with the
line protocol of `OracleShim.java`. The shim is our own code; it is compiled on first use into
a cache folder keyed by its source and the jar, so editing it recompiles it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import hashlib
import pathlib
import subprocess
import tempfile
import threading
from typing import IO

from . import locate

SHIM_SOURCE = pathlib.Path(__file__).with_name("OracleShim.java")


class OracleError(ValueError):
    """EXIficient refused a request: the document does not fit the grammar, or the bytes are bad."""


def compiled_shim() -> pathlib.Path:
    """The folder holding OracleShim.class, compiling it first if this source is new."""
    jar = locate.jar()
    key = hashlib.sha256(SHIM_SOURCE.read_bytes() + str(jar).encode()).hexdigest()[:16]
    target = locate.INTEROP_DIR.parent / f"shim-{key}"
    if (target / "OracleShim.class").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Compile beside the target and rename, so a concurrent session never sees half a build.
    staging = pathlib.Path(tempfile.mkdtemp(dir=target.parent, prefix=".shim-"))
    subprocess.run(
        [locate.java_tool("javac"), "-cp", str(jar), "-d", str(staging), str(SHIM_SOURCE)],
        check=True,
        capture_output=True,
    )
    with contextlib.suppress(OSError):  # another session won the race; same build
        staging.rename(target)
    return target


class Oracle:
    """`encode(set_id, xml) -> bytes` and `decode(set_id, bytes) -> xml`, as EXIficient does them.

    Documents are XML text (UTF-8), the form EXIficient itself reads and writes. Requests are
    serialised by a lock, so one oracle may be shared across threads.
    """

    def __init__(self) -> None:
        schemas = locate.schema_dir()
        sets = [
            f"{set_id}={(schemas / root).as_uri()}" + (",fragment" if fragment else "")
            for set_id, (root, fragment) in locate.SCHEMA_SETS.items()
        ]
        classpath = f"{locate.jar()}:{compiled_shim()}"
        self._command = [locate.java_tool("java"), "-Xss8m", "-cp", classpath, "OracleShim", *sets]
        # stderr goes to a file: a pipe nobody drains would block the JVM once full.
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._process = self._start()
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )

    def encode(self, set_id: str, document: str) -> bytes:
        """The EXI stream of an XML `document` in schema set `set_id`."""
        payload = base64.b64encode(document.encode()).decode("ascii")
        return bytes.fromhex(self._ask(f"E {set_id} {payload}"))

    def decode(self, set_id: str, data: bytes) -> str:
        """The XML document of an EXI stream `data` in schema set `set_id`."""
        return base64.b64decode(self._ask(f"D {set_id} {data.hex()}")).decode()

    def validate(self, set_id: str, document: str) -> None:
        """Raise OracleError unless `document` is valid against the set's XSDs (Xerces)."""
        self._ask(f"V {set_id} {base64.b64encode(document.encode()).decode('ascii')}")

    def _ask(self, request: str) -> str:
        with self._lock:
            stdin, stdout = self._process.stdin, self._process.stdout
            assert stdin is not None  # a pipe, see __init__
            assert stdout is not None
            try:
                stdin.write(request.encode("ascii") + b"\n")
                stdin.flush()
                line = stdout.readline().decode().rstrip("\n")
            except BrokenPipeError:
                line = ""
            if not line:
                # This request is lost, but one crash must not fail every later test too.
                self._process.wait()
                self._process = self._start()
                raise RuntimeError(f"the EXIficient JVM has exited:\n{self._stderr_tail()}")
        status, _, answer = line.partition(" ")  # "OK" alone answers a validation
        if status != "OK":
            raise OracleError(answer)
        return answer

    def _stderr_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        """End the JVM (closing its stdin ends its request loop) and wait for it."""
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()
        self._log.close()

    def __enter__(self) -> Oracle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@functools.cache
def shared() -> Oracle:
    """The one oracle of this process, started on first use and ended at exit."""
    oracle = Oracle()
    atexit.register(oracle.close)
    return oracle
