"""cffi build script for the control-pilot extension, ``evstack.ext._pilot``.

setup.py names it in ``cffi_modules``, so ``pip install`` (editable or not) compiles it; there
is no separate build step. The declarations come from the marked part of ``pilot.h`` so that
the header stays the one place that defines the C API.

The module also reports a digest of the sources it was built from, so that
``evstack.pilot.native`` can refuse a stale build instead of running old C code.
"""

import hashlib
import os
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
HEADER = HERE / "pilot.h"
SOURCES = [HEADER, HERE / "pilot.c"]


def _cdef(header: str) -> str:
    """The declarations between the cdef markers: plain C that cffi can parse."""
    start = header.index("/* cdef-begin */") + len("/* cdef-begin */")
    return header[start : header.index("/* cdef-end */")]


def source_digest(sources: list[Path]) -> str:
    """SHA-256 over the C sources; evstack.pilot.native computes the same."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _relative(path: Path) -> str:
    # setuptools wants source paths relative to the project root, which is the working directory.
    return os.path.relpath(path, Path.cwd())


ffibuilder = cffi.FFI()
ffibuilder.cdef(_cdef(HEADER.read_text()) + "const char *cp_source_digest(void);")
ffibuilder.set_source(
    "evstack.ext._pilot",
    '#include "pilot.h"\n'
    f'const char *cp_source_digest(void) {{ return "{source_digest(SOURCES)}"; }}',
    sources=[_relative(HERE / "pilot.c")],
    include_dirs=[_relative(HERE)],
    # No FMA contraction: the pure-Python reference must get the same doubles.
    extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra", "-ffp-contract=off"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
