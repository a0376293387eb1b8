/*
 * The EXI encoder on hostile events, built with AddressSanitizer and UBSan
 * (test_c_sanitized.py). Each stdin line is "SCHEMA HEX", a valid stream: it is decoded,
 * then every value event (AT, CH) in turn is given extreme values (magnitudes at the
 * int64 and uint64 edges, either sign, lengths past the arena) and encoded. The encoder
 * must answer EXI_OK or an EXI_ERR_* code; a sanitizer report aborts the run. Unknown
 * event kinds must be refused, and every output buffer shorter than the stream must be
 * answered with EXI_ERR_NO_MEMORY.
 * Prints "ok N" with the number of encodes tried.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exi.h"

#define CAP 65536

static exi_event events[CAP];
static uint8_t arena[CAP], data[CAP], out[CAP];

static size_t unhex(const char *hex, uint8_t *dst, size_t cap) {
    size_t n = 0;
    unsigned byte;
    while (n < cap && sscanf(hex + 2 * n, "%2x", &byte) == 1) dst[n++] = (uint8_t)byte;
    return n;
}

int main(void) {
    static const uint64_t mags[] = {0, 1, 4095, (uint64_t)INT64_MAX - 1, (uint64_t)INT64_MAX,
                                    (uint64_t)INT64_MAX + 1, UINT64_MAX};
    static const uint32_t lens[] = {0, 1, UINT32_MAX};
    static char line[2 * CAP + 64];
    char schema_id[32];
    unsigned long tried = 0;
    while (fgets(line, sizeof line, stdin)) {
        const exi_schema *schema;
        size_t len, n_events, arena_used, where, out_len;
        char *hex = strchr(line, ' ');
        if (!hex || (size_t)(hex - line) >= sizeof schema_id) return 2;
        memcpy(schema_id, line, (size_t)(hex - line));
        schema_id[hex - line] = '\0';
        schema = exi_schema_find(schema_id);
        len = unhex(hex + 1, data, CAP);
        if (!schema || exi_decode(schema, data, len, events, CAP, &n_events, arena, CAP,
                                  &arena_used, &where) != EXI_OK)
            return 3; /* the inputs are valid streams */
        for (size_t i = 0; i < n_events; i++) {
            exi_event kept = events[i];
            if (kept.kind != EXI_AT && kept.kind != EXI_CH) continue;
            for (size_t m = 0; m < sizeof mags / sizeof mags[0]; m++)
                for (uint8_t neg = 0; neg <= 1; neg++)
                    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                        int rc;
                        events[i].mag = mags[m];
                        events[i].neg = neg;
                        events[i].len = lens[l];
                        rc = exi_encode(schema, events, n_events, arena, arena_used, out, CAP,
                                        &out_len, &where);
                        if (rc < EXI_OK || rc > EXI_ERR_NO_MEMORY) return 4;
                        tried++;
                    }
            events[i] = kept;
        }
        /* an event kind the encoder does not know, anywhere, is refused */
        for (size_t i = 1; i < n_events; i++) {
            uint8_t kept = events[i].kind;
            events[i].kind = (uint8_t)(4u + i % 252u);
            if (exi_encode(schema, events, n_events, arena, arena_used, out, CAP, &out_len,
                           &where) != EXI_ERR_INVALID_MESSAGE)
                return 5;
            events[i].kind = kept;
            tried++;
        }
        /* every output buffer short of the stream's length is too small, and says so; the
           stream's length is enough (bytes are stored four at a time, checked each time) */
        for (size_t cap = 0; cap <= len; cap++) {
            int rc = exi_encode(schema, events, n_events, arena, arena_used, out, cap, &out_len,
                                &where);
            if (cap < len ? rc != EXI_ERR_NO_MEMORY
                          : rc != EXI_OK || out_len != len || memcmp(out, data, len) != 0)
                return 6;
            tried++;
        }
    }
    printf("ok %lu\n", tried);
    return 0;
}
