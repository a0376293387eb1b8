/*
 * The Python API's bridge between events and the documented JSON form (docs/exi.md),
 * carried as MessagePack. msgspec turns MessagePack into dicts and back in a few
 * microseconds, where building the dicts event by event in Python costs ten times the
 * codec itself. The bridge walks no grammar: it only needs, per grammar, the JSON keys of
 * its children and attributes, which the Python side hands over once per schema set
 * (evstack/exi/native.py builds an exi_mp_schema from the same tables the codecs use).
 *
 * The packed input of exi_msgpack_encode is hostile like any other input: every read is
 * bounds-checked, nesting is limited to EXI_MAX_DEPTH elements, and every buffer is the
 * caller's, with its size as the cap.
 */
#ifndef EVSTACK_EXI_MSGPACK_H
#define EVSTACK_EXI_MSGPACK_H

#include "exi.h"

/* cdef-begin */
typedef struct {
    uint32_t key;      /* offset of the JSON key ("Name" or "@Name") in the text blob */
    uint16_t key_len;
    uint16_t name;     /* name index of the schema set */
    uint16_t ref;      /* child element: its grammar; attribute: its datatype */
    uint8_t attribute; /* the key is "@name" */
    uint8_t list;      /* a child that may repeat: its value is an array */
} exi_mp_key;

typedef struct {
    uint32_t first_key; /* this grammar's keys are keys[first_key .. first_key + n_keys) */
    uint16_t n_keys;    /* at most 64 */
    uint16_t text;      /* datatype of the character data, EXI_NONE without */
    uint8_t simple;     /* only character data: the element is its bare value */
    uint8_t ordered;    /* children go to "$items", one-key maps in document order */
} exi_mp_grammar;

typedef struct {
    uint32_t offset; /* in the text blob */
    uint32_t len;
} exi_mp_text;

typedef struct {
    const exi_schema *schema;
    const uint8_t *text;             /* every key, name and enumeration value, UTF-8 */
    const exi_mp_grammar *grammars;  /* per grammar of the schema set */
    const exi_mp_key *keys;
    const exi_mp_text *names;        /* local name per name index */
    const uint32_t *enum_first;      /* per datatype: its first entry in enum_values */
    const exi_mp_text *enum_values;  /* enumeration value names, per datatype in order */
    const exi_mp_key *roots;         /* per root event code: key, name, grammar (ref) */
    uint16_t n_roots;
} exi_mp_schema;

/* Writes the message that `events` (as exi_decode returns them) hold. When `out_cap` is
   too small, returns EXI_ERR_NO_MEMORY with the size needed in *out_len. */
int exi_events_to_msgpack(const exi_mp_schema *m, const exi_event *events, size_t n_events,
                          const uint8_t *arena, uint8_t *out, size_t out_cap, size_t *out_len);

/* Encodes a packed message: reads it into at most `max_events` events and `arena_cap`
   arena bytes, then runs exi_encode into `out`. A message that does not have the
   documented form, or whose keys are out of schema order, gives EXI_ERR_INVALID_MESSAGE. */
int exi_msgpack_encode(const exi_mp_schema *m, const uint8_t *packed, size_t packed_len,
                       exi_event *events, size_t max_events, uint8_t *arena, size_t arena_cap,
                       uint8_t *out, size_t out_cap, size_t *out_len, size_t *error_event);
/* cdef-end */

#endif
