#!/usr/bin/env bash
# Fuzz the EXI decoder under AddressSanitizer and UBSan with libFuzzer (needs clang).
#   ext/exi/fuzz/run.sh SCHEMA SECONDS      e.g. ext/exi/fuzz/run.sh iso2 600
# Seeds: the public vectors of that schema set when present, plus a minimal stream.
# A crash, sanitizer report or round-trip mismatch stops the run with a non-zero status.
set -euo pipefail
schema=${1:-iso2}
seconds=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${EXI_FUZZ_DIR:-/tmp/evstack-exi-fuzz}
mkdir -p "$work/corpus-$schema"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$root/ext/exi" "$here/fuzz_decode.c" "$root/ext/exi/exi.c" \
    "$root/generated/exi/exi_tables.c" -o "$work/fuzz_decode"
vectors=${EXI_VECTORS:-$root/../shared/reference/exi/vectors-public.tsv}
if [ -f "$vectors" ]; then
    awk -F'\t' -v s="$schema" 'NR > 1 && $1 == s {print $4}' "$vectors" | while read -r hex; do
        printf '%s' "$hex" | perl -pe 's/([0-9a-f]{2})/chr(hex($1))/gie' \
            > "$work/corpus-$schema/$(printf '%s' "$hex" | sha1sum | cut -c1-16)"
    done
fi
printf '\x80\x00' > "$work/corpus-$schema/minimal"
EXI_FUZZ_SCHEMA=$schema "$work/fuzz_decode" -max_total_time="$seconds" -max_len=4096 \
    -rss_limit_mb=512 -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus-$schema"
