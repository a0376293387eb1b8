"""cffi build script for the EXI codec, ``evstack.ext._exi``.

setup.py names it in ``cffi_modules``, so ``pip install`` compiles it. It links the
hand-written interpreter (ext/exi/exi.c) and the Python API's MessagePack bridge
(ext/exi/exi_msgpack.c) with the generated grammar tables (generated/exi/exi_tables.c);
the declarations come from the marked parts of ``exi.h`` and ``exi_msgpack.h``.
"""

import os
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
TABLES = HERE.parent.parent / "generated" / "exi" / "exi_tables.c"


def _cdef(header: str) -> str:
    start = header.index("/* cdef-begin */") + len("/* cdef-begin */")
    return header[start : header.index("/* cdef-end */")]


def _relative(path: Path) -> str:
    # setuptools wants source paths relative to the project root, the working directory
    return os.path.relpath(path, Path.cwd())


ffibuilder = cffi.FFI()
ffibuilder.cdef(_cdef((HERE / "exi.h").read_text()) + _cdef((HERE / "exi_msgpack.h").read_text()))
ffibuilder.set_source(
    "evstack.ext._exi",
    '#include "exi_msgpack.h"\n',
    sources=[_relative(HERE / "exi.c"), _relative(HERE / "exi_msgpack.c"), _relative(TABLES)],
    include_dirs=[_relative(HERE)],
    extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
