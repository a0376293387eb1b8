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
#define MAX_VALUE_LENGTH 65535u /* the cap when the schema gives no maxLength */

/* ---- bit reader ------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t bit, end; /* positions in bits */
} reader;

HOT_INLINE int read_bits(reader *r, unsigned width, uint32_t *out) {
    uint32_t value = 0;
    size_t byte = r->bit >> 3;
    if (width > r->end - r->bit) return EXI_ERR_TRUNCATED;
    if (width > 0 && byte + 8u <= r->end >> 3) {
        /* fast path: a 64-bit window covers any 32-bit read at any bit offset */
        const uint8_t *p = r->data + byte;
        uint64_t window = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
                          (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
                          (uint64_t)p[6] << 8 | (uint64_t)p[7];
        *out = (uint32_t)((window << (r->bit & 7u)) >> (64u - width));
        r->bit += width;
        return EXI_OK;
    }
    while (width > 0) {
        unsigned used = (unsigned)(r->bit & 7u), avail = 8u - used;
        unsigned take = width < avail ? width : avail;
        unsigned octet = r->data[r->bit >> 3];
        value = (value << take) | ((octet >> (avail - take)) & ((1u << take) - 1u));
        r->bit += take;
        width -= take;
    }
    *out = value;
    return EXI_OK;
}

static int read_uint(reader *r, uint64_t *out) {
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

typedef struct {
    uint8_t *out;
    size_t bit, cap; /* bits written, capacity in bits */
    size_t pos;      /* whole bytes stored in out */
    uint64_t acc;    /* pending bits, fewer than 8 between calls */
    unsigned pending;
} writer;

HOT_INLINE int write_bits(writer *w, unsigned width, uint32_t value) {
    if (width > w->cap - w->bit) return EXI_ERR_NO_MEMORY;
    w->acc = (w->acc << width) | (value & ((1ull << width) - 1u));
    w->pending += width;
    w->bit += width;
    while (w->pending >= 8) {
        w->pending -= 8;
        w->out[w->pos++] = (uint8_t)(w->acc >> w->pending);
    }
    return EXI_OK;
}

/* Pads the last byte with zero bits. */
static void flush_bits(writer *w) {
    if (w->pending) {
        w->out[w->pos++] = (uint8_t)(w->acc << (8u - w->pending));
        w->bit += 8u - w->pending;
        w->pending = 0;
    }
}

static int write_uint(writer *w, uint64_t value) {
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

static unsigned document_width(const exi_schema *s) {
    /* DocContent: every root plus SE(*); FragmentContent also has ED */
    return bit_length((uint32_t)s->n_roots + (s->fragment ? 1u : 0u));
}

/* ---- decoding --------------------------------------------------------------------- */

typedef struct {
    const exi_state *states; /* state 0 of the element's grammar */
    uint16_t state;
    uint16_t turns; /* times the current counted loop has been taken in a row */
} frame;

/* The productions a state offers now: all of them, or, once a counted loop is
   exhausted, all but its self-looping SE, whose index goes to *skip. */
static uint16_t offered(const exi_schema *s, const frame *f, const exi_state *st,
                        uint16_t *skip) {
    *skip = EXI_NONE;
    if (st->limit && f->turns >= st->limit) {
        for (uint16_t i = 0; i < st->count; i++)
            if (s->prods[st->first + i].next == f->state) *skip = i;
        return (uint16_t)(st->count - 1u);
    }
    return st->count;
}

/* Moves a frame along production p, keeping the loop counter. */
static void advance(frame *f, const exi_prod *p) {
    const exi_state *target = &f->states[p->next];
    if (target->limit)
        f->turns = p->next == f->state ? (uint16_t)(f->turns + 1u) : 1u;
    else
        f->turns = 0;
    f->state = p->next;
}

/* ---- empty values ------------------------------------------------------------------ */

/* An element of string or binary type with an empty value has no characters event in
   XML, so EXIficient ends it at once with the undeclared EE of the start-tag state's
   second level: the escape, then code 0 of the 3-bit second level (EE, xsi:type,
   xsi:nil, AT(*), SE(*), CH untyped). libcbv2g writes a characters event of length 0
   instead. Both are read and both written back as they came: the no-characters form is
   a CH event flagged `neg` (JSON null), the other an ordinary empty value (JSON "").
   Returns the CH production of a frame's state that can take this form (a state of
   simple content, before its value, where the empty value is valid), else NULL. */
#define EMPTY_VALUE_LEVEL2_WIDTH 3u

static const exi_prod *empty_value_prod(const exi_schema *s, const frame *f) {
    const exi_state *st = &f->states[f->state];
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
    exi_event *events;
    size_t max_events, n_events;
    uint8_t *arena;
    size_t arena_cap, arena_used;
} sink;

static int put_utf8(sink *k, uint64_t cp) {
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
    if (length > (r->end - r->bit) / 8u) return EXI_ERR_TRUNCATED;
    return EXI_OK;
}

static int decode_value(const exi_datatype *dt, reader *r, sink *k, exi_event *ev) {
    uint32_t bits;
    uint64_t u;
    int err;
    switch (dt->kind) {
    case EXI_DT_NBIT:
        if ((err = read_bits(r, dt->bits, &bits))) return err;
        if (bits > dt->max - (uint64_t)dt->min) return EXI_ERR_VALUE_OUT_OF_RANGE;
        {
            int64_t v = dt->min + (int64_t)bits;
            ev->neg = v < 0;
            ev->mag = v < 0 ? magnitude_of(v) : (uint64_t)v;
        }
        return EXI_OK;
    case EXI_DT_UINT:
        if ((err = read_uint(r, &u))) return err;
        if (dt->has_max && u > dt->max) return EXI_ERR_VALUE_OUT_OF_RANGE;
        ev->mag = u;
        return EXI_OK;
    case EXI_DT_INT:
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
    case EXI_DT_BOOL:
        if ((err = read_bits(r, 1, &bits))) return err;
        ev->mag = bits;
        return EXI_OK;
    case EXI_DT_ENUM:
        if ((err = read_bits(r, dt->bits, &bits))) return err;
        if (bits >= dt->count) return EXI_ERR_VALUE_OUT_OF_RANGE;
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

static exi_event *next_event(sink *k, uint8_t kind, uint16_t name, uint16_t ref) {
    exi_event *ev;
    if (k->n_events >= k->max_events) return NULL;
    ev = &k->events[k->n_events++];
    *ev = (exi_event){.kind = kind, .name = name, .ref = ref};
    return ev;
}

int exi_decode(const exi_schema *s, const uint8_t *data, size_t len, exi_event *events,
               size_t max_events, size_t *n_events, uint8_t *arena, size_t arena_cap,
               size_t *arena_used, size_t *error_position) {
    reader r = {data, 8, len * 8u};
    sink k = {events, max_events, 0, arena, arena_cap, 0};
    frame stack[EXI_MAX_DEPTH];
    size_t depth = 0;
    uint32_t code;
    int err = EXI_OK;
    unsigned width;
    exi_event *ev;

    *n_events = 0;
    *arena_used = 0;
    *error_position = 0;
    if (len == 0 || data[0] != EXI_HEADER) return EXI_ERR_BAD_HEADER;
    width = document_width(s);
    if ((err = read_bits(&r, width, &code))) goto fail;
    if (code >= s->n_roots || s->roots[code].grammar == EXI_NONE) {
        /* SE(*), or a fragment name whose relaxed grammar is not implemented */
        err = EXI_ERR_UNSUPPORTED_EVENT;
        goto fail;
    }
    if (!(ev = next_event(&k, EXI_SE, s->roots[code].name, s->roots[code].grammar))) {
        err = EXI_ERR_NO_MEMORY;
        goto fail;
    }
    stack[depth].states = &s->states[s->grammars[s->roots[code].grammar].first];
    stack[depth].turns = 0;
    stack[depth++].state = 0;

    while (depth > 0) {
        frame *top = &stack[depth - 1];
        const exi_state *st = &top->states[top->state];
        const exi_prod *p;
        uint16_t skip, count = offered(s, top, st, &skip);
        if ((err = read_bits(&r, bit_length(count), &code))) goto fail;
        if (code >= count) { /* the escape to second-level events */
            const exi_prod *chp = empty_value_prod(s, top);
            if (!chp || code != count) { /* above the escape: no event at all */
                err = EXI_ERR_UNSUPPORTED_EVENT;
                goto fail;
            }
            if ((err = read_bits(&r, EMPTY_VALUE_LEVEL2_WIDTH, &code))) goto fail;
            if (code != 0) {
                err = EXI_ERR_UNSUPPORTED_EVENT; /* only EE */
                goto fail;
            }
            if (!(ev = next_event(&k, EXI_CH, 0, chp->ref))) {
                err = EXI_ERR_NO_MEMORY;
                goto fail;
            }
            ev->mag = k.arena_used; /* no characters at all: no bytes in the arena, */
            ev->neg = 1;            /* and flagged apart from a zero-length value */
            if (!next_event(&k, EXI_EE, 0, 0)) {
                err = EXI_ERR_NO_MEMORY;
                goto fail;
            }
            depth--;
            continue;
        }
        p = &s->prods[st->first + code + (skip != EXI_NONE && code >= skip)];
        if (p->kind == EXI_P_ANY || p->kind == EXI_P_TEXT) {
            err = EXI_ERR_UNSUPPORTED_EVENT;
            goto fail;
        }
        if (!(ev = next_event(&k, p->kind, p->name, p->ref))) {
            err = EXI_ERR_NO_MEMORY;
            goto fail;
        }
        if (p->kind == EXI_P_EE) {
            depth--;
            continue;
        }
        advance(top, p);
        if (p->kind == EXI_P_SE) {
            uint16_t leaf = s->grammars[p->ref].leaf;
            if (depth == EXI_MAX_DEPTH) {
                err = EXI_ERR_DEPTH_EXCEEDED;
                goto fail;
            }
            if (leaf != EXI_NONE) {
                /* a simple-typed element, without a frame: CH and EE have 1-bit codes,
                   and code 1 before the value is the escape, left to the general path */
                size_t start = r.bit;
                if ((err = read_bits(&r, 1, &code))) goto fail;
                if (code == 0) {
                    if (!(ev = next_event(&k, EXI_CH, 0, leaf))) {
                        err = EXI_ERR_NO_MEMORY;
                        goto fail;
                    }
                    if ((err = decode_value(&s->datatypes[leaf], &r, &k, ev)) ||
                        (err = read_bits(&r, 1, &code)))
                        goto fail;
                    if (code) { /* no second-level event follows a value */
                        err = EXI_ERR_UNSUPPORTED_EVENT;
                        goto fail;
                    }
                    if (!next_event(&k, EXI_EE, 0, 0)) {
                        err = EXI_ERR_NO_MEMORY;
                        goto fail;
                    }
                    continue;
                }
                r.bit = start;
            }
            stack[depth].states = &s->states[s->grammars[p->ref].first];
            stack[depth].turns = 0;
            stack[depth++].state = 0;
        } else if ((err = decode_value(&s->datatypes[p->ref], &r, &k, ev))) {
            goto fail;
        }
    }
    if (s->fragment) {
        if ((err = read_bits(&r, width, &code))) goto fail;
        if (code != (uint32_t)s->n_roots + 1u) {
            err = EXI_ERR_UNSUPPORTED_EVENT;
            goto fail;
        }
    }
    /* the padding must be zero and the document must end at the last byte */
    if (r.bit & 7u) {
        if ((err = read_bits(&r, 8u - (unsigned)(r.bit & 7u), &code))) goto fail;
        if (code) {
            err = EXI_ERR_TRAILING_BYTES;
            goto fail;
        }
    }
    if (r.bit != r.end) {
        err = EXI_ERR_TRAILING_BYTES;
        goto fail;
    }
    *n_events = k.n_events;
    *arena_used = k.arena_used;
    return EXI_OK;
fail:
    *error_position = r.bit;
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

static int encode_value(const exi_datatype *dt, const exi_event *ev, const uint8_t *arena,
                        size_t arena_len, writer *w) {
    int err;
    switch (dt->kind) {
    case EXI_DT_NBIT: {
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
    case EXI_DT_UINT:
        if (ev->neg || (dt->has_max && ev->mag > dt->max)) return EXI_ERR_VALUE_OUT_OF_RANGE;
        return write_uint(w, ev->mag);
    case EXI_DT_INT:
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
    case EXI_DT_BOOL:
        if (ev->mag > 1) return EXI_ERR_VALUE_OUT_OF_RANGE;
        return write_bits(w, 1, (uint32_t)ev->mag);
    case EXI_DT_ENUM:
        if (ev->mag >= dt->count) return EXI_ERR_VALUE_OUT_OF_RANGE;
        return write_bits(w, dt->bits, (uint32_t)ev->mag);
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
    writer w = {out, 0, out_cap * 8u, 0, 0, 0};
    frame stack[EXI_MAX_DEPTH];
    size_t depth = 0, i = 0;
    unsigned width = document_width(s);
    uint16_t root;
    int err;

    *out_len = 0;
    *error_event = 0;
    if (out_cap > SIZE_MAX / 8u) return EXI_ERR_NO_MEMORY;
    if (n_events == 0 || events[0].kind != EXI_SE) return EXI_ERR_INVALID_MESSAGE;
    for (root = 0; root < s->n_roots; root++)
        if (s->roots[root].name == events[0].name) break;
    if (root == s->n_roots || s->roots[root].grammar == EXI_NONE) return EXI_ERR_INVALID_MESSAGE;
    if ((err = write_bits(&w, 8, EXI_HEADER)) || (err = write_bits(&w, width, root))) goto fail;
    stack[depth].states = &s->states[s->grammars[s->roots[root].grammar].first];
    stack[depth].turns = 0;
    stack[depth++].state = 0;

    for (i = 1; depth > 0; i++) {
        frame *top = &stack[depth - 1];
        const exi_state *st = &top->states[top->state];
        const exi_event *ev;
        const exi_prod *p = NULL;
        uint16_t code, skip, count = offered(s, top, st, &skip);
        if (i >= n_events) {
            err = EXI_ERR_INVALID_MESSAGE; /* the events end inside an element */
            goto fail;
        }
        ev = &events[i];
        for (code = 0; code < count; code++) {
            const exi_prod *cand = &s->prods[st->first + code + (skip != EXI_NONE && code >= skip)];
            if (cand->kind == ev->kind &&
                ((ev->kind != EXI_SE && ev->kind != EXI_AT) || cand->name == ev->name)) {
                p = cand;
                break;
            }
        }
        if (!p) {
            err = EXI_ERR_INVALID_MESSAGE; /* this event is not allowed here */
            goto fail;
        }
        if (ev->kind == EXI_CH && ev->neg && ev->len == 0 && empty_value_prod(s, top)) {
            /* the empty value as EXIficient writes it: escape, then second-level EE */
            if (i + 1 >= n_events || events[i + 1].kind != EXI_EE) {
                err = EXI_ERR_INVALID_MESSAGE;
                goto fail;
            }
            if ((err = write_bits(&w, bit_length(count), count)) ||
                (err = write_bits(&w, EMPTY_VALUE_LEVEL2_WIDTH, 0)))
                goto fail;
            i++; /* the EE is written already */
            depth--;
            continue;
        }
        if ((err = write_bits(&w, bit_length(count), code))) goto fail;
        if (p->kind == EXI_P_EE) {
            depth--;
            continue;
        }
        advance(top, p);
        if (p->kind == EXI_P_SE) {
            uint16_t leaf = s->grammars[p->ref].leaf;
            if (depth == EXI_MAX_DEPTH) {
                err = EXI_ERR_DEPTH_EXCEEDED;
                goto fail;
            }
            if (leaf != EXI_NONE && i + 2 < n_events && events[i + 1].kind == EXI_CH &&
                events[i + 2].kind == EXI_EE &&
                !(events[i + 1].neg && s->datatypes[leaf].kind >= EXI_DT_STRING)) {
                /* a simple-typed element with its value, without a frame (the empty-value
                   form and every mistake take the general path) */
                i++;
                if ((err = write_bits(&w, 1, 0)) ||
                    (err = encode_value(&s->datatypes[leaf], &events[i], arena, arena_len, &w)))
                    goto fail;
                i++;
                if ((err = write_bits(&w, 1, 0))) goto fail;
                continue;
            }
            stack[depth].states = &s->states[s->grammars[p->ref].first];
            stack[depth].turns = 0;
            stack[depth++].state = 0;
        } else if ((err = encode_value(&s->datatypes[p->ref], ev, arena, arena_len, &w))) {
            goto fail;
        }
    }
    if (i != n_events) {
        err = EXI_ERR_INVALID_MESSAGE; /* events after the end of the document */
        goto fail;
    }
    if (s->fragment && (err = write_bits(&w, width, (uint32_t)s->n_roots + 1u))) goto fail;
    flush_bits(&w); /* cannot overflow: the capacity is whole bytes */
    *out_len = w.pos;
    return EXI_OK;
fail:
    *error_event = i;
    return err;
}
