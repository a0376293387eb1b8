"""cffi build script for the control-pilot extension, ``evstack.ext._pilot``.

setup.py names it in ``cffi_modules``, so ``pip install`` (editable or not) compiles it; there
is no separate build step. The declarations come from the marked part of ``pilot.h`` so that
the header stays the one place that defines the C API.
"""

import os
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
HEADER = HERE / "pilot.h"


def _cdef(header: str) -> str:
    """The declarations between the cdef markers: plain C that cffi can parse."""
    start = header.index("/* cdef-begin */") + len("/* cdef-begin */")
    return header[start : header.index("/* cdef-end */")]


def _relative(path: Path) -> str:
    # setuptools wants source paths relative to the project root, which is the working directory.
    return os.path.relpath(path, Path.cwd())


ffibuilder = cffi.FFI()
ffibuilder.cdef(_cdef(HEADER.read_text()))
ffibuilder.set_source(
    "evstack.ext._pilot",
    '#include "pilot.h"',
    sources=[_relative(HERE / "pilot.c")],
    include_dirs=[_relative(HERE)],
    # No FMA contraction: the pure-Python reference must get the same doubles.
    extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra", "-ffp-contract=off"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
