#!/usr/bin/env bash
# Fuzz the EXI Python API with atheris (fuzz_api.py) on a copy of the package whose C
# extension clang builds with AddressSanitizer, UBSan and libFuzzer's coverage counters, so
# the fuzzer is guided by, and checks, the C codec and its MessagePack bridge as well.
#   ext/exi/fuzz/run_api.sh SET MODE SECONDS      e.g. ext/exi/fuzz/run_api.sh iso2 message 600
# The installed package is left as it is. Needs clang (make fuzz-tools) and atheris (dev extras).
set -euo pipefail
schema=${1:-iso2}
mode=${2:-message}
seconds=${3:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
work=${EXI_FUZZ_DIR:-/tmp/evstack-exi-fuzz}
build="$work/api-build"
rm -rf "$build" && mkdir -p "$build"
cp -a "$root/evstack" "$root/ext" "$root/generated" "$root/codegen" "$root/modules" "$build/"
find "$build" -name '_exi*.so' -delete
(
    cd "$build"
    CC=clang LDSHARED="clang -shared" \
        CFLAGS="-g -O1 -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all" \
        "$python" -c 'import sys; sys.path.insert(0, "ext/exi"); import build_exi
build_exi.ffibuilder.compile(tmpdir=".")' > "$work/api-build.log" 2>&1
)
runtime=$("$python" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so
# leaks: CPython keeps its arenas to the end, which LeakSanitizer would report
LD_PRELOAD="$runtime" ASAN_OPTIONS=detect_leaks=0 PYTHONPATH="$build" EXI_FUZZ_DIR="$work" \
    "$python" "$here/fuzz_api.py" "$schema" "$mode" -max_total_time="$seconds" \
    -rss_limit_mb=4096 -print_final_stats=1
