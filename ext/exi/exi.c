/* The EXI interpreter: see exi.h for the contract and the safety rules. */
#include "exi.h"

#include <string.h>

#define EXI_HEADER 0x80u
#define MAX_UINT_GROUPS 10 /* 70 bits: enough for unsignedLong, refuses endless runs */
#define NO_LENGTH_FACET 0xFFFFFFFFu
#if defined(__GNUC__)
#define HOT_INLINE static inline __attribute__((always_inline))
#else
#define HOT_INLINE static inline
#endif
#if defined(__GNUC__) && !defined(__clang__)
/* gcc lays every jump to an error label out as the unlikely branch (clang has no cold
   labels) */
#define COLD_LABEL __attribute__((cold))
#else
#define COLD_LABEL
#endif
#define MAX_VALUE_LENGTH 65535u /* the cap when the schema gives no maxLength */

/* ---- bit reader ------------------------------------------------------------------- */

/* The unread bits wait left-aligned in a 64-bit cache, refilled from the input a few bytes
   at a time, so a read is a compare, a shift and a subtraction. Bits below the `have`
   valid ones are always zero. */
typedef struct {
    const uint8_t *data;
    size_t len, pos; /* input bytes; the next byte to load */
    uint64_t cache;
    unsigned have;
} reader;

HOT_INLINE size_t reader_bit(const reader *r) { return r->pos * 8u - r->have; }

HOT_INLINE size_t reader_left(const reader *r) { return (r->len - r->pos) * 8u + r->have; }

HOT_INLINE void refill(reader *r) {
    if (r->len - r->pos >= 8u) {
        /* a whole 64-bit window: take the bytes that fit below the valid bits */
        const uint8_t *p = r->data + r->pos;
        uint64_t window = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
                          (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
                          (uint64_t)p[6] << 8 | (uint64_t)p[7];
        unsigned take = (63u - r->have) >> 3;
        r->cache |= (window >> r->have) & ~(~(uint64_t)0 >> (r->have + 8u * take));
        r->pos += take;
        r->have += 8u * take;
        return;
    }
    while (r->have <= 56u && r->pos < r->len) {
        r->cache |= (uint64_t)r->data[r->pos++] << (56u - r->have);
        r->have += 8u;
    }
}

/* Reads `width` (at most 32) bits. */
HOT_INLINE int read_bits(reader *r, unsigned width, uint32_t *out) {
    if (width == 0) {
        *out = 0;
        return EXI_OK;
    }
    if (r->have < width) {
        refill(r);
        if (r->have < width) return EXI_ERR_TRUNCATED;
    }
    *out = (uint32_t)(r->cache >> (64u - width));
    r->cache <<= width;
    r->have -= width;
    return EXI_OK;
}

/* The next bit, left unread; EXI_ERR_TRUNCATED at the end of the input. */
HOT_INLINE int peek_bit(reader *r, unsigned *bit) {
    if (r->have == 0) {
        refill(r);
        if (r->have == 0) return EXI_ERR_TRUNCATED;
    }
    *bit = (unsigned)(r->cache >> 63);
    return EXI_OK;
}

HOT_INLINE int read_uint(reader *r, uint64_t *out) {
    uint64_t value = 0;
    for (unsigned i = 0; i < MAX_UINT_GROUPS; i++) {
        uint32_t group;
        int err = read_bits(r, 8, &group);
        if (err) return err;
        if (i == 9 && (group & 0x7Eu)) return EXI_ERR_VALUE_OUT_OF_RANGE; /* > 64 bits */
        value |= (uint64_t)(group & 0x7Fu) << (7u * i);
        if (group < 0x80u) {
            /* a zero last group after others is a non-minimal encoding: no encoder writes
               one, and refusing it keeps decode -> encode byte-exact */
            if (group == 0 && i > 0) return EXI_ERR_VALUE_OUT_OF_RANGE;
            *out = value;
            return EXI_OK;
        }
    }
    return EXI_ERR_VALUE_OUT_OF_RANGE;
}

/* ---- bit writer ------------------------------------------------------------------- */

/* Bits gather in a 64-bit accumulator and go out four whole bytes at a time; the
   capacity is checked where bytes are stored. */
typedef struct {
    uint8_t *out;
    size_t cap, pos; /* capacity in bytes; whole bytes stored in out */
    uint64_t acc;    /* the low `pending` bits are not stored yet, fewer than 32 between calls */
    unsigned pending;
} writer;

/* Writes `width` (at most 32) bits; every caller passes a value below 2^width (an event
   code below its count, a value checked against its facet, a byte), so it is not masked. */
HOT_INLINE int write_bits(writer *w, unsigned width, uint32_t value) {
    w->acc = (w->acc << width) | value;
    w->pending += width;
    if (w->pending >= 32u) {
        uint8_t *p = w->out + w->pos;
        uint32_t word;
        if (w->cap - w->pos < 4u) return EXI_ERR_NO_MEMORY;
        w->pending -= 32u;
        word = (uint32_t)(w->acc >> w->pending);
        p[0] = (uint8_t)(word >> 24);
        p[1] = (uint8_t)(word >> 16);
        p[2] = (uint8_t)(word >> 8);
        p[3] = (uint8_t)word;
        w->pos += 4u;
    }
    return EXI_OK;
}

/* Stores the pending bits, the last byte padded with zero bits. */
HOT_INLINE int flush_bits(writer *w) {
    if (w->cap - w->pos < (w->pending + 7u) / 8u) return EXI_ERR_NO_MEMORY;
    while (w->pending >= 8u) {
        w->pending -= 8u;
        w->out[w->pos++] = (uint8_t)(w->acc >> w->pending);
    }
    if (w->pending) {
        w->out[w->pos++] = (uint8_t)(w->acc << (8u - w->pending));
        w->pending = 0;
    }
    return EXI_OK;
}

HOT_INLINE int write_uint(writer *w, uint64_t value) {
    while (value >= 0x80u) {
        int err = write_bits(w, 8, (uint32_t)((value & 0x7Fu) | 0x80u));
        if (err) return err;
        value >>= 7;
    }
    return write_bits(w, 8, (uint32_t)value);
}

static unsigned bit_length(uint32_t n) {
#if defined(__GNUC__)
    return n ? 32u - (unsigned)__builtin_clz(n) : 0u;
#else
    unsigned bits = 0;
    while (n) {
        bits++;
        n >>= 1;
    }
    return bits;
#endif
}

/* ---- schema lookup ---------------------------------------------------------------- */

const exi_schema *exi_schema_find(const char *schema_set) {
    for (size_t i = 0; i < exi_schema_count; i++)
        if (strcmp(exi_schemas[i]->id, schema_set) == 0) return exi_schemas[i];
    return NULL;
}

/* The event code of the root named `name`, by binary search over the roots in name
   order; EXI_NONE when no root has that name. */
static uint16_t find_root(const exi_schema *s, uint16_t name) {
    size_t low = 0, high = s->n_roots;
    while (low < high) {
        size_t mid = low + (high - low) / 2u;
        uint16_t code = s->roots_by_name[mid];
        if (s->roots[code].name == name) return code;
        if (s->roots[code].name < name)
            low = mid + 1u;
        else
            high = mid;
    }
    return EXI_NONE;
}

static unsigned document_width(const exi_schema *s) {
    /* DocContent: every root plus SE(*); FragmentContent also has ED */
    return bit_length((uint32_t)s->n_roots + (s->fragment ? 1u : 0u));
}

/* ---- decoding --------------------------------------------------------------------- */

/* A parent element's place while a child is read or written; the current element's
   grammar, state and loop counter live in local variables. */
typedef struct {
    const exi_state *states; /* state 0 of the element's grammar */
    uint16_t state;
    uint16_t turns; /* times the current counted loop has been taken in a row */
} frame;

/* The index of a counted loop's self-looping SE among its state's productions. */
static uint16_t loop_index(const exi_schema *s, const exi_state *st, uint16_t state) {
    uint16_t i = 0;
    while (i + 1u < st->count && s->prods[st->first + i].next != state) i++;
    return i;
}

/* ---- empty values ------------------------------------------------------------------ */

/* An element of string or binary type with an empty value has no characters event in
   XML, so EXIficient ends it at once with the undeclared EE of the start-tag state's
   second level: the escape, then code 0 of the 3-bit second level (EE, xsi:type,
   xsi:nil, AT(*), SE(*), CH untyped). libcbv2g writes a characters event of length 0
   instead. Both are read and both written back as they came: the no-characters form is
   a CH event flagged `neg` (JSON null), the other an ordinary empty value (JSON "").
   Returns the CH production of a state that can take this form (a state of
   simple content, before its value, where the empty value is valid), else NULL. */
#define EMPTY_VALUE_LEVEL2_WIDTH 3u

static const exi_prod *empty_value_prod(const exi_schema *s, const exi_state *st) {
    const exi_prod *ch = NULL;
    uint8_t kind;
    for (uint16_t i = 0; i < st->count; i++) {
        const exi_prod *p = &s->prods[st->first + i];
        if (p->kind == EXI_P_SE || p->kind == EXI_P_ANY || p->kind == EXI_P_TEXT) return NULL;
        if (p->kind == EXI_P_CH) ch = p;
    }
    if (!ch || s->datatypes[ch->ref].min_length > 0) return NULL;
    kind = s->datatypes[ch->ref].kind;
    return kind == EXI_DT_STRING || kind == EXI_DT_BINARY ? ch : NULL;
}

typedef struct {
    exi_event *at, *end; /* the next free event; one past the caller's last */
    uint8_t *arena;
    size_t arena_cap, arena_used;
} sink;

HOT_INLINE int put_utf8(sink *k, uint64_t cp) {
    uint8_t buf[4];
    size_t n;
    if (cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) return EXI_ERR_VALUE_OUT_OF_RANGE;
    if (cp < 0x80u) {
        buf[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800u) {
        buf[0] = (uint8_t)(0xC0u | (cp >> 6));
        buf[1] = (uint8_t)(0x80u | (cp & 0x3Fu));
        n = 2;
    } else if (cp < 0x10000u) {
        buf[0] = (uint8_t)(0xE0u | (cp >> 12));
        buf[1] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        buf[2] = (uint8_t)(0x80u | (cp & 0x3Fu));
        n = 3;
    } else {
        buf[0] = (uint8_t)(0xF0u | (cp >> 18));
        buf[1] = (uint8_t)(0x80u | ((cp >> 12) & 0x3Fu));
        buf[2] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        buf[3] = (uint8_t)(0x80u | (cp & 0x3Fu));
        n = 4;
    }
    if (n > k->arena_cap - k->arena_used) return EXI_ERR_NO_MEMORY;
    memcpy(k->arena + k->arena_used, buf, n);
    k->arena_used += n;
    return EXI_OK;
}

/* |v| for a negative v, without the overflow of -INT64_MIN */
static uint64_t magnitude_of(int64_t v) { return (uint64_t)0 - (uint64_t)v; }

static int check_length(const exi_datatype *dt, uint64_t length, const reader *r) {
    uint64_t limit = dt->max_length == NO_LENGTH_FACET ? MAX_VALUE_LENGTH : dt->max_length;
    if (length > limit) return EXI_ERR_LENGTH_EXCEEDED;
    /* every character or byte costs at least 8 bits: refuse lengths beyond the input */
    if (length > reader_left(r) / 8u) return EXI_ERR_TRUNCATED;
    return EXI_OK;
}

/* The kinds most values have (PhysicalValue's Multiplier, Unit and Value), each its own
   function so that decode_value tests for them before its jump table: plain branches were
   mispredicted less than the table's indirect jump (5 to 7 % less time per ISO-2
   CurrentDemandReq and ChargeParameterDiscoveryRes). */
HOT_INLINE int decode_nbit(const exi_datatype *dt, reader *r, exi_event *ev) {
    uint32_t bits;
    int64_t v;
    int err;
    if ((err = read_bits(r, dt->bits, &bits))) return err;
    if (bits > dt->max - (uint64_t)dt->min) return EXI_ERR_VALUE_OUT_OF_RANGE;
    v = dt->min + (int64_t)bits;
    ev->neg = v < 0;
    ev->mag = v < 0 ? magnitude_of(v) : (uint64_t)v;
    return EXI_OK;
}

HOT_INLINE int decode_int(const exi_datatype *dt, reader *r, exi_event *ev) {
    uint32_t bits;
    uint64_t u;
    int err;
    if ((err = read_bits(r, 1, &bits))) return err;
    if ((err = read_uint(r, &u))) return err;
    if (bits) { /* negative: the magnitude is stored minus one */
        if (u > (uint64_t)INT64_MAX) return EXI_ERR_VALUE_OUT_OF_RANGE;
        u += 1;
        if (dt->has_min && (dt->min >= 0 || u > magnitude_of(dt->min)))
            return EXI_ERR_VALUE_OUT_OF_RANGE;
        ev->neg = 1;
    } else if (dt->has_max && u > dt->max) {
        return EXI_ERR_VALUE_OUT_OF_RANGE;
    }
    ev->mag = u;
    return EXI_OK;
}

HOT_INLINE int decode_enum(const exi_datatype *dt, reader *r, exi_event *ev) {
    uint32_t bits;
    int err;
    if ((err = read_bits(r, dt->bits, &bits))) return err;
    if (bits >= dt->count) return EXI_ERR_VALUE_OUT_OF_RANGE;
    ev->mag = bits;
    return EXI_OK;
}

HOT_INLINE int decode_value(const exi_datatype *dt, reader *r, sink *k, exi_event *ev) {
    uint32_t bits;
    uint64_t u;
    int err;
    if (dt->kind == EXI_DT_INT) return decode_int(dt, r, ev);
    if (dt->kind == EXI_DT_NBIT) return decode_nbit(dt, r, ev);
    if (dt->kind == EXI_DT_ENUM) return decode_enum(dt, r, ev);
    switch (dt->kind) {
    case EXI_DT_UINT:
        if ((err = read_uint(r, &u))) return err;
        if (dt->has_max && u > dt->max) return EXI_ERR_VALUE_OUT_OF_RANGE;
        ev->mag = u;
        return EXI_OK;
    case EXI_DT_BOOL:
        if ((err = read_bits(r, 1, &bits))) return err;
        ev->mag = bits;
        return EXI_OK;
    case EXI_DT_STRING:
        if ((err = read_uint(r, &u))) return err;
        if (u < 2) return EXI_ERR_STRING_TABLE_HIT; /* impossible with capacity 0 */
        u -= 2;
        if ((err = check_length(dt, u, r))) return err;
        ev->mag = k->arena_used;
        for (uint64_t i = 0; i < u; i++) {
            uint64_t cp;
            if ((err = read_uint(r, &cp))) return err;
            if ((err = put_utf8(k, cp))) return err;
        }
        ev->len = (uint32_t)(k->arena_used - ev->mag);
        return EXI_OK;
    case EXI_DT_BINARY:
        if ((err = read_uint(r, &u))) return err;
        if ((err = check_length(dt, u, r))) return err;
        if (u > k->arena_cap - k->arena_used) return EXI_ERR_NO_MEMORY;
        ev->mag = k->arena_used;
        ev->len = (uint32_t)u;
        for (uint64_t i = 0; i < u; i++) {
            if ((err = read_bits(r, 8, &bits))) return err;
            k->arena[k->arena_used++] = (uint8_t)bits;
        }
        return EXI_OK;
    default:
        return EXI_ERR_UNSUPPORTED_EVENT;
    }
}

HOT_INLINE exi_event *next_event(sink *k, uint8_t kind, uint16_t name, uint16_t ref) {
    exi_event *ev;
    if (k->at == k->end) return NULL;
    ev = k->at++;
    *ev = (exi_event){.kind = kind, .name = name, .ref = ref};
    return ev;
}

/* Fails the current call with `code` (the label `fail` reports where). */
#define FAIL(code)      \
    do {                \
        err = (code);   \
        goto fail;      \
    } while (0)

int exi_decode(const exi_schema *s, const uint8_t *data, size_t len, exi_event *events,
               size_t max_events, size_t *n_events, uint8_t *arena, size_t arena_cap,
               size_t *arena_used, size_t *error_position) {
    reader r = {data, len, 1, 0, 0};
    sink k = {events, events + max_events, arena, arena_cap, 0};
    frame stack[EXI_MAX_DEPTH];
    size_t depth = 1; /* open elements, the current one included */
    const exi_state *states;
    uint16_t state = 0, turns = 0;
    uint32_t code;
    int err = EXI_OK;
    unsigned width;
    exi_event *ev;
    uint16_t leaf;

    *n_events = 0;
    *arena_used = 0;
    *error_position = 0;
    if (len == 0 || data[0] != EXI_HEADER) return EXI_ERR_BAD_HEADER;
    width = document_width(s);
    if ((err = read_bits(&r, width, &code))) goto fail;
    /* SE(*), or a fragment name whose relaxed grammar is not implemented */
    if (code >= s->n_roots || s->roots[code].grammar == EXI_NONE) FAIL(EXI_ERR_UNSUPPORTED_EVENT);
    if (!(ev = next_event(&k, EXI_SE, s->roots[code].name, s->roots[code].grammar)))
        FAIL(EXI_ERR_NO_MEMORY);
    states = &s->states[s->grammars[s->roots[code].grammar].first];

    for (;;) {
        const exi_state *st = &states[state];
        const exi_prod *p;
        uint16_t skip = EXI_NONE, count = st->count;
        if (st->limit && turns >= st->limit) { /* an exhausted counted loop */
            skip = loop_index(s, st, state);
            count--;
        }
        if ((err = read_bits(&r, bit_length(count), &code))) goto fail;
        if (code >= count) { /* the escape to second-level events */
            const exi_prod *chp = empty_value_prod(s, st);
            /* above the escape there is no event at all */
            if (!chp || code != count) FAIL(EXI_ERR_UNSUPPORTED_EVENT);
            if ((err = read_bits(&r, EMPTY_VALUE_LEVEL2_WIDTH, &code))) goto fail;
            if (code != 0) FAIL(EXI_ERR_UNSUPPORTED_EVENT); /* only EE */
            if (!(ev = next_event(&k, EXI_CH, 0, chp->ref))) FAIL(EXI_ERR_NO_MEMORY);
            ev->mag = k.arena_used; /* no characters at all: no bytes in the arena, */
            ev->neg = 1;            /* and flagged apart from a zero-length value */
            p = NULL;               /* and the EE below */
        } else {
            p = &s->prods[st->first + code + (skip != EXI_NONE && code >= skip)];
            if (p->kind == EXI_P_ANY || p->kind == EXI_P_TEXT) FAIL(EXI_ERR_UNSUPPORTED_EVENT);
        }
        if (!p || p->kind == EXI_P_EE) {
            if (!next_event(&k, EXI_EE, 0, 0)) FAIL(EXI_ERR_NO_MEMORY);
            if (--depth == 0) break;
            states = stack[depth - 1].states;
            state = stack[depth - 1].state;
            turns = stack[depth - 1].turns;
            continue;
        }
        if (!(ev = next_event(&k, p->kind, p->name, p->ref))) FAIL(EXI_ERR_NO_MEMORY);
        turns = p->loop ? (p->next == state ? (uint16_t)(turns + 1u) : 1u) : 0u;
        state = p->next;
        leaf = EXI_NONE;
        if (p->kind == EXI_P_SE) {
            unsigned bit = 1;
            if (depth == EXI_MAX_DEPTH) FAIL(EXI_ERR_DEPTH_EXCEEDED);
            /* a simple-typed element, without a frame: CH and EE have 1-bit codes, and
               code 1 before the value is the escape, left to the general path */
            leaf = s->grammars[p->ref].leaf;
            if (leaf != EXI_NONE && (err = peek_bit(&r, &bit))) goto fail;
            if (bit) {
                stack[depth - 1].states = states;
                stack[depth - 1].state = state;
                stack[depth - 1].turns = turns;
                depth++;
                states = &s->states[s->grammars[p->ref].first];
                state = 0;
                turns = 0;
                continue;
            }
            r.cache <<= 1;
            r.have--;
            if (!(ev = next_event(&k, EXI_CH, 0, leaf))) FAIL(EXI_ERR_NO_MEMORY);
        }
        /* one place decodes every value, so that it is inlined once */
        if ((err = decode_value(&s->datatypes[leaf != EXI_NONE ? leaf : p->ref], &r, &k, ev)))
            goto fail;
        if (leaf != EXI_NONE) {
            if ((err = read_bits(&r, 1, &code))) goto fail;
            if (code) FAIL(EXI_ERR_UNSUPPORTED_EVENT); /* no second-level event follows */
            if (!next_event(&k, EXI_EE, 0, 0)) FAIL(EXI_ERR_NO_MEMORY);
        }
    }
    if (s->fragment) {
        if ((err = read_bits(&r, width, &code))) goto fail;
        if (code != (uint32_t)s->n_roots + 1u) FAIL(EXI_ERR_UNSUPPORTED_EVENT);
    }
    /* the padding must be zero and the document must end at the last byte */
    if (r.have & 7u) {
        if ((err = read_bits(&r, r.have & 7u, &code))) goto fail;
        if (code) FAIL(EXI_ERR_TRAILING_BYTES);
    }
    if (r.have != 0 || r.pos != r.len) FAIL(EXI_ERR_TRAILING_BYTES);
    *n_events = (size_t)(k.at - events);
    *arena_used = k.arena_used;
    return EXI_OK;
fail: COLD_LABEL;
    *error_position = reader_bit(&r);
    return err;
}

/* ---- encoding --------------------------------------------------------------------- */

/* UTF-8 to code points; counts characters first so the length can lead. */
static int utf8_next(const uint8_t *p, size_t n, size_t *i, uint32_t *cp) {
    uint8_t c = p[*i];
    unsigned extra;
    uint32_t v;
    if (c < 0x80u) {
        *cp = c;
        (*i)++;
        return EXI_OK;
    }
    if ((c & 0xE0u) == 0xC0u) {
        extra = 1;
        v = c & 0x1Fu;
    } else if ((c & 0xF0u) == 0xE0u) {
        extra = 2;
        v = c & 0x0Fu;
    } else if ((c & 0xF8u) == 0xF0u) {
        extra = 3;
        v = c & 0x07u;
    } else {
        return EXI_ERR_INVALID_MESSAGE;
    }
    if (extra > n - *i - 1u) return EXI_ERR_INVALID_MESSAGE;
    for (unsigned j = 1; j <= extra; j++) {
        uint8_t cc = p[*i + j];
        if ((cc & 0xC0u) != 0x80u) return EXI_ERR_INVALID_MESSAGE;
        v = (v << 6) | (cc & 0x3Fu);
    }
    if (v > 0x10FFFFu || (v >= 0xD800u && v <= 0xDFFFu)) return EXI_ERR_INVALID_MESSAGE;
    *i += extra + 1u;
    *cp = v;
    return EXI_OK;
}

/* As on decoding, the common kinds are tested before the jump table. */
HOT_INLINE int encode_nbit(const exi_datatype *dt, const exi_event *ev, writer *w) {
    int64_t v;
    uint64_t offset;
    if (ev->mag > (uint64_t)INT64_MAX) return EXI_ERR_VALUE_OUT_OF_RANGE;
    v = ev->neg ? -(int64_t)ev->mag : (int64_t)ev->mag;
    if (v < dt->min) return EXI_ERR_VALUE_OUT_OF_RANGE;
    /* unsigned: v - min overflows int64 for v near INT64_MAX and a negative min */
    offset = (uint64_t)v - (uint64_t)dt->min;
    if (offset > dt->max - (uint64_t)dt->min) return EXI_ERR_VALUE_OUT_OF_RANGE;
    return write_bits(w, dt->bits, (uint32_t)offset);
}

HOT_INLINE int encode_int(const exi_datatype *dt, const exi_event *ev, writer *w) {
    int err;
    if (ev->neg) {
        if (ev->mag == 0) return EXI_ERR_INVALID_MESSAGE;
        if (dt->has_min && (dt->min >= 0 || ev->mag > magnitude_of(dt->min)))
            return EXI_ERR_VALUE_OUT_OF_RANGE;
        if ((err = write_bits(w, 1, 1))) return err;
        return write_uint(w, ev->mag - 1u);
    }
    if (dt->has_max && ev->mag > dt->max) return EXI_ERR_VALUE_OUT_OF_RANGE;
    if ((err = write_bits(w, 1, 0))) return err;
    return write_uint(w, ev->mag);
}

HOT_INLINE int encode_enum(const exi_datatype *dt, const exi_event *ev, writer *w) {
    if (ev->mag >= dt->count) return EXI_ERR_VALUE_OUT_OF_RANGE;
    return write_bits(w, dt->bits, (uint32_t)ev->mag);
}

HOT_INLINE int encode_value(const exi_datatype *dt, const exi_event *ev, const uint8_t *arena,
                            size_t arena_len, writer *w) {
    int err;
    if (dt->kind == EXI_DT_INT) return encode_int(dt, ev, w);
    if (dt->kind == EXI_DT_NBIT) return encode_nbit(dt, ev, w);
    if (dt->kind == EXI_DT_ENUM) return encode_enum(dt, ev, w);
    switch (dt->kind) {
    case EXI_DT_UINT:
        if (ev->neg || (dt->has_max && ev->mag > dt->max)) return EXI_ERR_VALUE_OUT_OF_RANGE;
        return write_uint(w, ev->mag);
    case EXI_DT_BOOL:
        if (ev->mag > 1) return EXI_ERR_VALUE_OUT_OF_RANGE;
        return write_bits(w, 1, (uint32_t)ev->mag);
    case EXI_DT_STRING:
    case EXI_DT_BINARY: {
        const uint8_t *p;
        size_t i = 0, chars = 0;
        uint32_t cp;
        uint64_t limit = dt->max_length == NO_LENGTH_FACET ? MAX_VALUE_LENGTH : dt->max_length;
        /* `neg` (no characters at all) is only valid where the caller took that form */
        if (ev->neg || ev->mag > arena_len || ev->len > arena_len - ev->mag)
            return EXI_ERR_INVALID_MESSAGE;
        p = arena + ev->mag;
        if (dt->kind == EXI_DT_BINARY) {
            if (ev->len > limit) return EXI_ERR_LENGTH_EXCEEDED;
            if ((err = write_uint(w, ev->len))) return err;
            for (i = 0; i < ev->len; i++)
                if ((err = write_bits(w, 8, p[i]))) return err;
            return EXI_OK;
        }
        while (i < ev->len) {
            if ((err = utf8_next(p, ev->len, &i, &cp))) return err;
            chars++;
        }
        if (chars > limit) return EXI_ERR_LENGTH_EXCEEDED;
        if ((err = write_uint(w, chars + 2u))) return err;
        for (i = 0; i < ev->len;) {
            utf8_next(p, ev->len, &i, &cp); /* validated above */
            if ((err = write_uint(w, cp))) return err;
        }
        return EXI_OK;
    }
    default:
        return EXI_ERR_UNSUPPORTED_EVENT;
    }
}

int exi_encode(const exi_schema *s, const exi_event *events, size_t n_events,
               const uint8_t *arena, size_t arena_len, uint8_t *out, size_t out_cap,
               size_t *out_len, size_t *error_event) {
    writer w = {out, out_cap, 0, 0, 0};
    frame stack[EXI_MAX_DEPTH];
    size_t depth = 1, i = 0; /* open elements, the current one included; the event */
    const exi_state *states;
    uint16_t state = 0, turns = 0;
    unsigned width = document_width(s);
    uint16_t root, leaf;
    int err;

    *out_len = 0;
    *error_event = 0;
    if (n_events == 0 || events[0].kind != EXI_SE) return EXI_ERR_INVALID_MESSAGE;
    root = find_root(s, events[0].name);
    if (root == EXI_NONE || s->roots[root].grammar == EXI_NONE) return EXI_ERR_INVALID_MESSAGE;
    if ((err = write_bits(&w, 8, EXI_HEADER)) || (err = write_bits(&w, width, root))) goto fail;
    states = &s->states[s->grammars[s->roots[root].grammar].first];

    for (i = 1;; i++) {
        const exi_state *st = &states[state];
        const exi_prod *base = &s->prods[st->first];
        const exi_event *ev;
        const exi_prod *p;
        uint16_t code, name, skip = EXI_NONE, count = st->count;
        if (i >= n_events) FAIL(EXI_ERR_INVALID_MESSAGE); /* the events end inside an element */
        ev = &events[i];
        if (ev->kind > EXI_EE) FAIL(EXI_ERR_INVALID_MESSAGE);
        if (st->limit && turns >= st->limit) { /* an exhausted counted loop */
            skip = loop_index(s, st, state);
            count--;
        }
        /* only start elements and attributes are told apart by name; the tables give the
           other productions name 0 */
        name = ev->kind <= EXI_AT ? ev->name : 0;
        for (code = 0; code < st->count; code++)
            if (base[code].name == name && base[code].kind == ev->kind) break;
        /* not allowed here, or an exhausted loop's SE, which has no code */
        if (code == st->count || code == skip) FAIL(EXI_ERR_INVALID_MESSAGE);
        p = &base[code];
        if (skip != EXI_NONE && code > skip) code--;
        if (ev->kind == EXI_CH && ev->neg && ev->len == 0 && empty_value_prod(s, st)) {
            /* the empty value as EXIficient writes it: escape, then second-level EE */
            if (i + 1 >= n_events || events[i + 1].kind != EXI_EE) FAIL(EXI_ERR_INVALID_MESSAGE);
            if ((err = write_bits(&w, bit_length(count), count)) ||
                (err = write_bits(&w, EMPTY_VALUE_LEVEL2_WIDTH, 0)))
                goto fail;
            i++; /* the EE is written already */
            p = NULL;
        } else if (p->kind != EXI_P_SE && (err = write_bits(&w, bit_length(count), code))) {
            goto fail; /* an SE's code is written below, with its value's when it is a leaf */
        }
        if (!p || p->kind == EXI_P_EE) {
            if (--depth == 0) break;
            states = stack[depth - 1].states;
            state = stack[depth - 1].state;
            turns = stack[depth - 1].turns;
            continue;
        }
        turns = p->loop ? (p->next == state ? (uint16_t)(turns + 1u) : 1u) : 0u;
        state = p->next;
        leaf = EXI_NONE;
        if (p->kind == EXI_P_SE) {
            if (depth == EXI_MAX_DEPTH) FAIL(EXI_ERR_DEPTH_EXCEEDED);
            /* a simple-typed element with its value, without a frame (the empty-value form
               and every mistake take the general path) */
            leaf = s->grammars[p->ref].leaf;
            if (leaf == EXI_NONE || i + 2 >= n_events || events[i + 1].kind != EXI_CH ||
                events[i + 2].kind != EXI_EE ||
                (events[i + 1].neg && s->datatypes[leaf].kind >= EXI_DT_STRING)) {
                if ((err = write_bits(&w, bit_length(count), code))) goto fail;
                stack[depth - 1].states = states;
                stack[depth - 1].state = state;
                stack[depth - 1].turns = turns;
                depth++;
                states = &s->states[s->grammars[p->ref].first];
                state = 0;
                turns = 0;
                continue;
            }
            /* the SE's code, then CH: code 0 of the leaf's 1-bit start state */
            if ((err = write_bits(&w, bit_length(count) + 1u, (uint32_t)code << 1))) goto fail;
            ev = &events[++i];
        }
        /* one place encodes every value, so that it is inlined once */
        if ((err = encode_value(&s->datatypes[leaf != EXI_NONE ? leaf : p->ref], ev, arena,
                                arena_len, &w)))
            goto fail;
        if (leaf != EXI_NONE) {
            i++;
            if ((err = write_bits(&w, 1, 0))) goto fail;
        }
    }
    if (++i != n_events) FAIL(EXI_ERR_INVALID_MESSAGE); /* events after the document's end */
    if (s->fragment && (err = write_bits(&w, width, (uint32_t)s->n_roots + 1u))) goto fail;
    if ((err = flush_bits(&w))) goto fail;
    *out_len = w.pos;
    return EXI_OK;
fail: COLD_LABEL;
    *error_event = i;
    return err;
}
