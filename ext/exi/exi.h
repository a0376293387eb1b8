/*
 * Table-driven schema-informed EXI for V2G (header 0x80, bit-packed, strict=false,
 * valuePartitionCapacity=0). One small interpreter serves every schema set; the grammars
 * are constant tables generated from the official XSDs (generated/exi/exi_tables.c).
 *
 * A document is exchanged as a flat array of events (start element, attribute,
 * characters, end element) plus a byte arena for string and binary values, so neither
 * side allocates: the caller owns every buffer and its size is the cap.
 *
 * Hostile input: every read is bounds-checked, nesting is an explicit stack of
 * EXI_MAX_DEPTH frames (no recursion), lengths are checked against the schema facet,
 * the remaining input and the arena before anything is copied, and decoding succeeds
 * only if the document ends exactly at the last input byte.
 */
#ifndef EVSTACK_EXI_H
#define EVSTACK_EXI_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
enum {
    EXI_OK = 0,
    EXI_ERR_TRUNCATED = 1,
    EXI_ERR_TRAILING_BYTES = 2,
    EXI_ERR_BAD_HEADER = 3,
    EXI_ERR_UNSUPPORTED_EVENT = 4,
    EXI_ERR_VALUE_OUT_OF_RANGE = 5,
    EXI_ERR_LENGTH_EXCEEDED = 6,
    EXI_ERR_DEPTH_EXCEEDED = 7,
    EXI_ERR_STRING_TABLE_HIT = 8,
    EXI_ERR_INVALID_MESSAGE = 9,
    EXI_ERR_UNKNOWN_SCHEMA = 10,
    EXI_ERR_NO_MEMORY = 11
};

/* event kinds; the same numbers as production kinds */
enum { EXI_SE = 0, EXI_AT = 1, EXI_CH = 2, EXI_EE = 3 };

typedef struct {
    uint8_t kind;   /* EXI_SE, EXI_AT, EXI_CH, EXI_EE */
    uint8_t neg;    /* integers: 1 when the value is negative (value = -mag) */
    uint16_t name;  /* SE, AT: name index of the schema set */
    uint16_t ref;   /* decoding: SE: grammar of the element; AT, CH: datatype */
    uint32_t len;   /* string (UTF-8 bytes) or binary: length in the arena */
    uint64_t mag;   /* integers: magnitude; booleans 0/1; enumerations: index;
                       strings and binaries: offset in the arena */
} exi_event;

typedef struct exi_schema exi_schema;

const exi_schema *exi_schema_find(const char *schema_set);

/* Decode `data` into at most `max_events` events and `arena_cap` arena bytes. */
int exi_decode(const exi_schema *schema, const uint8_t *data, size_t len,
               exi_event *events, size_t max_events, size_t *n_events,
               uint8_t *arena, size_t arena_cap, size_t *arena_used,
               size_t *error_position);

/* Encode `n_events` events (in document order) into at most `out_cap` bytes. */
int exi_encode(const exi_schema *schema, const exi_event *events, size_t n_events,
               const uint8_t *arena, size_t arena_len,
               uint8_t *out, size_t out_cap, size_t *out_len, size_t *error_event);
/* cdef-end */

/* ---- table layout, shared with the generated tables --------------------------------- */

#define EXI_MAX_DEPTH 32
#define EXI_NONE 0xFFFFu

enum { EXI_P_SE = 0, EXI_P_AT = 1, EXI_P_CH = 2, EXI_P_EE = 3, EXI_P_ANY = 4, EXI_P_TEXT = 5 };
enum {
    EXI_DT_NBIT = 0,
    EXI_DT_UINT = 1,
    EXI_DT_INT = 2,
    EXI_DT_BOOL = 3,
    EXI_DT_ENUM = 4,
    EXI_DT_STRING = 5,
    EXI_DT_BINARY = 6
};

typedef struct {
    uint8_t kind;  /* EXI_P_* */
    uint8_t loop;  /* 1 when `next` is a counted loop's state */
    uint16_t name; /* SE, AT */
    uint16_t ref;  /* SE: grammar; AT, CH: datatype */
    uint16_t next; /* next state within the grammar, EXI_NONE for EE */
} exi_prod;

typedef struct {
    uint32_t first; /* index of the first production */
    uint16_t count; /* productions; the event code width is bit_length(count) */
    uint16_t limit; /* counted loop: its self-looping SE may be taken `limit` times in a
                       row, then it is no longer offered (0: not a counted loop) */
} exi_state;

typedef struct {
    uint32_t first; /* index of state 0 */
    uint16_t leaf;  /* a simple-typed element (CH, then EE): its datatype, else EXI_NONE */
} exi_grammar;

typedef struct {
    uint8_t kind;       /* EXI_DT_* */
    uint8_t bits;       /* NBIT: width; ENUM: width */
    uint8_t has_min, has_max;
    int64_t min;        /* NBIT offset and INT lower bound */
    uint64_t max;       /* upper bound of UINT/NBIT; INT upper bound as int64 bits */
    uint32_t max_length; /* STRING, BINARY; 0xFFFFFFFF when the schema gives none */
    uint32_t min_length;
    uint32_t count;     /* ENUM: number of values */
} exi_datatype;

typedef struct {
    uint16_t name;
    uint16_t grammar;
} exi_root;

struct exi_schema {
    const char *id;
    uint8_t fragment;
    uint16_t n_roots;
    const exi_root *roots;
    const uint16_t *roots_by_name; /* root event codes in the order of their name index */
    const exi_grammar *grammars;
    const exi_state *states;
    const exi_prod *prods;
    const exi_datatype *datatypes;
};

extern const exi_schema *const exi_schemas[];
extern const size_t exi_schema_count;

#endif
