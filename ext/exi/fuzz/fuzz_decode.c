/*
 * libFuzzer harness for the EXI decoder, one schema set per run (EXI_FUZZ_SCHEMA, default
 * "iso2"). Every input is decoded; a success is re-encoded and must give the same bytes,
 * so the fuzzer also checks the round trip. Build and run: ext/exi/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "exi.h"

#define MAX_INPUT 4096

static exi_event events[MAX_INPUT * 8 + 2];
static uint8_t arena[MAX_INPUT * 4];
static uint8_t again[MAX_INPUT * 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    static const exi_schema *schema;
    size_t n_events, arena_used, where, out_len;
    if (!schema) {
        const char *id = getenv("EXI_FUZZ_SCHEMA");
        schema = exi_schema_find(id ? id : "iso2");
        if (!schema) abort();
    }
    if (len > MAX_INPUT) return 0;
    if (exi_decode(schema, data, len, events, sizeof events / sizeof events[0], &n_events, arena,
                   sizeof arena, &arena_used, &where) != EXI_OK)
        return 0;
    if (exi_encode(schema, events, n_events, arena, arena_used, again, sizeof again, &out_len,
                   &where) != EXI_OK)
        abort(); /* whatever decodes must encode */
    if (out_len != len || memcmp(again, data, len) != 0) abort(); /* and byte-exact */
    return 0;
}
