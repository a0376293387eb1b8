/* Events <-> MessagePack of the JSON form: see exi_msgpack.h. */
#include "exi_msgpack.h"

#include <string.h>

static const exi_mp_key *grammar_keys(const exi_mp_schema *m, const exi_mp_grammar *g) {
    return &m->keys[g->first_key];
}

/* ---- writing ------------------------------------------------------------------------ */

/* Counts every byte, and stores those that fit: an undersized buffer still learns the
   size it needs. */
typedef struct {
    uint8_t *out;
    size_t cap, len;
} packer;

static void put(packer *p, const void *src, size_t n) {
    if (p->len <= p->cap && n <= p->cap - p->len) memcpy(p->out + p->len, src, n);
    p->len += n;
}

static void put_byte(packer *p, uint8_t b) {
    if (p->len < p->cap) p->out[p->len] = b;
    p->len++;
}

static void put_be(packer *p, uint8_t tag, uint64_t v, unsigned bytes) {
    uint8_t buf[9];
    buf[0] = tag;
    for (unsigned i = 0; i < bytes; i++) buf[1 + i] = (uint8_t)(v >> (8u * (bytes - 1u - i)));
    put(p, buf, bytes + 1u);
}

static void put_str_header(packer *p, size_t n) {
    if (n < 32)
        put_byte(p, (uint8_t)(0xA0u | n));
    else if (n < 0x100u)
        put_be(p, 0xD9, n, 1);
    else if (n < 0x10000u)
        put_be(p, 0xDA, n, 2);
    else
        put_be(p, 0xDB, n, 4);
}

static void put_str(packer *p, const uint8_t *s, size_t n) {
    put_str_header(p, n);
    put(p, s, n);
}

static void put_int(packer *p, uint8_t neg, uint64_t mag) {
    if (!neg) {
        if (mag < 0x80u)
            put_byte(p, (uint8_t)mag);
        else if (mag < 0x100u)
            put_be(p, 0xCC, mag, 1);
        else if (mag < 0x10000u)
            put_be(p, 0xCD, mag, 2);
        else if (mag < 0x100000000u)
            put_be(p, 0xCE, mag, 4);
        else
            put_be(p, 0xCF, mag, 8);
    } else if (mag <= 32u) {
        put_byte(p, (uint8_t)(0x100u - mag)); /* negative fixint */
    } else {
        put_be(p, 0xD3, (uint64_t)0 - mag, 8); /* two's complement of -mag */
    }
}

/* A header whose count is filled in when the container closes. */
static size_t open_container(packer *p, uint8_t tag32) {
    size_t at = p->len;
    put_be(p, tag32, 0, 4);
    return at;
}

static void close_container(packer *p, size_t at, uint32_t count) {
    if (at + 5u <= p->cap) {
        for (unsigned i = 0; i < 4; i++) p->out[at + 1u + i] = (uint8_t)(count >> (24u - 8u * i));
    }
}

static int put_value(const exi_mp_schema *m, packer *p, const exi_event *ev,
                     const uint8_t *arena) {
    static const char hex[] = "0123456789abcdef";
    const exi_datatype *dt;
    if (ev->ref >= 0xFFFFu) return EXI_ERR_INVALID_MESSAGE;
    dt = &m->schema->datatypes[ev->ref];
    switch (dt->kind) {
    case EXI_DT_NBIT:
    case EXI_DT_UINT:
    case EXI_DT_INT:
        put_int(p, ev->neg, ev->mag);
        return EXI_OK;
    case EXI_DT_BOOL:
        put_byte(p, ev->mag ? 0xC3 : 0xC2);
        return EXI_OK;
    case EXI_DT_ENUM: {
        const exi_mp_text *name;
        if (ev->mag >= dt->count) return EXI_ERR_VALUE_OUT_OF_RANGE;
        name = &m->enum_values[m->enum_first[ev->ref] + ev->mag];
        put_str(p, m->text + name->offset, name->len);
        return EXI_OK;
    }
    case EXI_DT_STRING:
        if (ev->neg) put_byte(p, 0xC0); /* no characters at all: null */
        else put_str(p, arena + ev->mag, ev->len);
        return EXI_OK;
    case EXI_DT_BINARY:
        if (ev->neg) {
            put_byte(p, 0xC0);
            return EXI_OK;
        }
        put_str_header(p, (size_t)ev->len * 2u);
        for (uint32_t i = 0; i < ev->len; i++) {
            uint8_t pair[2] = {(uint8_t)hex[arena[ev->mag + i] >> 4],
                               (uint8_t)hex[arena[ev->mag + i] & 15u]};
            put(p, pair, 2);
        }
        return EXI_OK;
    default:
        return EXI_ERR_UNSUPPORTED_EVENT;
    }
}

#define NO_POSITION ((size_t)-1)
#define TEXT_KEY "$"
#define ITEMS_KEY "$items"

typedef struct {
    const exi_mp_grammar *g;
    size_t map_at;       /* the element's map, NO_POSITION for a bare value */
    size_t list_at;      /* the open array of a repeated child, NO_POSITION if none */
    size_t items_at;     /* the "$items" array of an ordered grammar, NO_POSITION if none */
    uint64_t seen;       /* keys written so far, by position in the grammar's keys */
    uint32_t entries, list_items, n_items;
    int list_key;        /* position of the repeated child whose array is open */
    uint8_t has_text;
} wframe;

static void close_list(packer *p, wframe *f) {
    if (f->list_at != NO_POSITION) close_container(p, f->list_at, f->list_items);
    f->list_at = NO_POSITION;
    f->list_key = -1;
}

/* The position of the key of a child element or attribute within a grammar, or -1. */
static int find_key(const exi_mp_schema *m, const exi_mp_grammar *g, uint16_t name,
                    uint8_t attribute) {
    const exi_mp_key *keys = grammar_keys(m, g);
    for (int i = 0; i < g->n_keys; i++)
        if (keys[i].name == name && keys[i].attribute == attribute) return i;
    return -1;
}

/* Opens the value of an element of grammar `index`: a map, or nothing yet for a bare
   value (its characters event writes it). */
static void open_element(const exi_mp_schema *m, packer *p, wframe *f, uint16_t index) {
    f->g = &m->grammars[index];
    f->map_at = f->g->simple ? NO_POSITION : open_container(p, 0xDF);
    f->list_at = f->items_at = NO_POSITION;
    f->seen = 0;
    f->entries = f->list_items = f->n_items = 0;
    f->list_key = -1;
    f->has_text = 0;
}

/* Writes the key under which a new entry goes; a key written twice would make the map
   lose a value, so that is refused (the importer's lists and ordered grammars prevent
   it; this guards the tables). */
static int claim_key(packer *p, wframe *f, int position, const uint8_t *key, size_t len) {
    uint64_t bit = (uint64_t)1 << position;
    if (f->seen & bit) return EXI_ERR_UNSUPPORTED_EVENT;
    f->seen |= bit;
    put_str(p, key, len);
    f->entries++;
    return EXI_OK;
}

int exi_events_to_msgpack(const exi_mp_schema *m, const exi_event *events, size_t n_events,
                          const uint8_t *arena, uint8_t *out, size_t out_cap,
                          size_t *out_len) {
    packer p = {out, out_cap, 0};
    wframe stack[EXI_MAX_DEPTH];
    size_t depth = 0, i;
    uint16_t root;
    int err;

    *out_len = 0;
    if (n_events == 0 || events[0].kind != EXI_SE) return EXI_ERR_INVALID_MESSAGE;
    for (root = 0; root < m->n_roots; root++)
        if (m->roots[root].name == events[0].name && m->roots[root].ref == events[0].ref) break;
    if (root == m->n_roots) return EXI_ERR_INVALID_MESSAGE;
    put_byte(&p, 0x81);
    put_str(&p, m->text + m->roots[root].key, m->roots[root].key_len);
    open_element(m, &p, &stack[depth++], events[0].ref);

    for (i = 1; i < n_events && depth > 0; i++) {
        const exi_event *ev = &events[i];
        wframe *f = &stack[depth - 1];
        const exi_mp_key *key;
        int k;
        switch (ev->kind) {
        case EXI_SE:
            if (f->g->simple || depth == EXI_MAX_DEPTH) return EXI_ERR_UNSUPPORTED_EVENT;
            if ((k = find_key(m, f->g, ev->name, 0)) < 0) return EXI_ERR_UNSUPPORTED_EVENT;
            key = &grammar_keys(m, f->g)[k];
            if (f->g->ordered) {
                if (f->items_at == NO_POSITION) {
                    put_str(&p, (const uint8_t *)ITEMS_KEY, sizeof ITEMS_KEY - 1u);
                    f->entries++;
                    f->items_at = open_container(&p, 0xDD);
                }
                f->n_items++;
                put_byte(&p, 0x81);
                put_str(&p, m->text + key->key, key->key_len);
            } else if (key->list) {
                if (f->list_key != k) {
                    close_list(&p, f);
                    if ((err = claim_key(&p, f, k, m->text + key->key, key->key_len))) return err;
                    f->list_at = open_container(&p, 0xDD);
                    f->list_key = k;
                }
                f->list_items++;
            } else {
                close_list(&p, f);
                if ((err = claim_key(&p, f, k, m->text + key->key, key->key_len))) return err;
            }
            open_element(m, &p, &stack[depth++], ev->ref);
            break;
        case EXI_AT:
            if (f->g->simple || (k = find_key(m, f->g, ev->name, 1)) < 0)
                return EXI_ERR_UNSUPPORTED_EVENT;
            key = &grammar_keys(m, f->g)[k];
            close_list(&p, f);
            if ((err = claim_key(&p, f, k, m->text + key->key, key->key_len)) ||
                (err = put_value(m, &p, ev, arena)))
                return err;
            break;
        case EXI_CH:
            if (f->has_text) return EXI_ERR_UNSUPPORTED_EVENT;
            f->has_text = 1;
            if (!f->g->simple) {
                close_list(&p, f);
                put_str(&p, (const uint8_t *)TEXT_KEY, sizeof TEXT_KEY - 1u);
                f->entries++;
            }
            if ((err = put_value(m, &p, ev, arena))) return err;
            break;
        case EXI_EE:
            if (f->g->simple) {
                if (!f->has_text) put_byte(&p, 0xC0); /* an empty element: null */
            } else {
                close_list(&p, f);
                if (f->items_at != NO_POSITION) close_container(&p, f->items_at, f->n_items);
                close_container(&p, f->map_at, f->entries);
            }
            depth--;
            break;
        default:
            return EXI_ERR_INVALID_MESSAGE;
        }
    }
    if (depth > 0 || i != n_events) return EXI_ERR_INVALID_MESSAGE;
    *out_len = p.len;
    return p.len <= out_cap ? EXI_OK : EXI_ERR_NO_MEMORY;
}

/* ---- reading ------------------------------------------------------------------------ */

typedef struct {
    const exi_mp_schema *m;
    const uint8_t *in;
    size_t pos, len;
    exi_event *events;
    size_t max_events, n_events;
    uint8_t *arena;
    size_t arena_cap, arena_used;
} reader;

static int take_be(reader *r, unsigned bytes, uint64_t *v) {
    if (bytes > r->len - r->pos) return EXI_ERR_INVALID_MESSAGE;
    *v = 0;
    for (unsigned i = 0; i < bytes; i++) *v = (*v << 8) | r->in[r->pos++];
    return EXI_OK;
}

static int peek(const reader *r, uint8_t *tag) {
    if (r->pos >= r->len) return EXI_ERR_INVALID_MESSAGE;
    *tag = r->in[r->pos];
    return EXI_OK;
}

/* A container header: fix (mask `fix_mask` over `fix_base`), 16- or 32-bit count. */
static int take_count(reader *r, uint8_t fix_base, uint8_t tag16, uint8_t tag32,
                      uint32_t *count) {
    uint8_t tag;
    uint64_t v;
    int err;
    if ((err = peek(r, &tag))) return err;
    if ((tag & 0xF0u) == fix_base) {
        r->pos++;
        *count = tag & 0x0Fu;
        return EXI_OK;
    }
    if (tag != tag16 && tag != tag32) return EXI_ERR_INVALID_MESSAGE;
    r->pos++;
    if ((err = take_be(r, tag == tag16 ? 2u : 4u, &v))) return err;
    /* every entry costs at least one byte: refuse counts beyond the input */
    if (v > r->len - r->pos) return EXI_ERR_INVALID_MESSAGE;
    *count = (uint32_t)v;
    return EXI_OK;
}

static int take_map(reader *r, uint32_t *count) { return take_count(r, 0x80, 0xDE, 0xDF, count); }

static int take_array(reader *r, uint32_t *count) {
    return take_count(r, 0x90, 0xDC, 0xDD, count);
}

static int take_str(reader *r, const uint8_t **s, size_t *n) {
    uint8_t tag;
    uint64_t v;
    int err;
    if ((err = peek(r, &tag))) return err;
    r->pos++;
    if ((tag & 0xE0u) == 0xA0u) {
        v = tag & 0x1Fu;
    } else if (tag >= 0xD9 && tag <= 0xDB) {
        if ((err = take_be(r, 1u << (tag - 0xD9), &v))) return err;
    } else {
        return EXI_ERR_INVALID_MESSAGE;
    }
    if (v > r->len - r->pos) return EXI_ERR_INVALID_MESSAGE;
    *s = r->in + r->pos;
    *n = (size_t)v;
    r->pos += (size_t)v;
    return EXI_OK;
}

static int take_int(reader *r, uint8_t *neg, uint64_t *mag) {
    uint8_t tag;
    uint64_t v;
    int err;
    if ((err = peek(r, &tag))) return err;
    r->pos++;
    *neg = 0;
    if (tag < 0x80u) {
        *mag = tag;
        return EXI_OK;
    }
    if (tag >= 0xE0u) { /* negative fixint */
        *neg = 1;
        *mag = 0x100u - tag;
        return EXI_OK;
    }
    if (tag >= 0xCC && tag <= 0xCF) return take_be(r, 1u << (tag - 0xCC), mag);
    if (tag >= 0xD0 && tag <= 0xD3) {
        unsigned bytes = 1u << (tag - 0xD0);
        if ((err = take_be(r, bytes, &v))) return err;
        if (v >> (8u * bytes - 1u) & 1u) { /* negative: sign-extend, then negate */
            if (bytes < 8) v |= ~(uint64_t)0 << (8u * bytes);
            *neg = 1;
            *mag = (uint64_t)0 - v;
        } else {
            *mag = v;
        }
        return EXI_OK;
    }
    return EXI_ERR_INVALID_MESSAGE;
}

static int same(const uint8_t *a, size_t an, const char *b, size_t bn) {
    return an == bn && memcmp(a, b, an) == 0;
}

static exi_event *add_event(reader *r, uint8_t kind, uint16_t name) {
    exi_event *ev;
    if (r->n_events >= r->max_events) return NULL;
    ev = &r->events[r->n_events++];
    *ev = (exi_event){.kind = kind, .name = name};
    return ev;
}

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* upper case and spaces are left to the Python encoder */
}

static int take_value(reader *r, uint8_t kind, uint16_t name, uint16_t datatype) {
    const exi_datatype *dt = &r->m->schema->datatypes[datatype];
    exi_event *ev = add_event(r, kind, name);
    const uint8_t *s;
    size_t n;
    uint8_t tag;
    int err;
    if (!ev) return EXI_ERR_NO_MEMORY;
    if ((err = peek(r, &tag))) return err;
    if (tag == 0xC0) { /* null: an empty value written as no characters at all */
        if (kind != EXI_CH || (dt->kind != EXI_DT_STRING && dt->kind != EXI_DT_BINARY))
            return EXI_ERR_INVALID_MESSAGE;
        r->pos++;
        ev->neg = 1;
        return EXI_OK;
    }
    switch (dt->kind) {
    case EXI_DT_NBIT:
    case EXI_DT_UINT:
    case EXI_DT_INT:
        return take_int(r, &ev->neg, &ev->mag);
    case EXI_DT_BOOL:
        if (tag != 0xC2 && tag != 0xC3) return EXI_ERR_INVALID_MESSAGE;
        r->pos++;
        ev->mag = tag == 0xC3;
        return EXI_OK;
    case EXI_DT_ENUM: {
        const exi_mp_text *values = &r->m->enum_values[r->m->enum_first[datatype]];
        if ((err = take_str(r, &s, &n))) return err;
        for (uint32_t i = 0; i < dt->count; i++) {
            if (n == values[i].len && memcmp(s, r->m->text + values[i].offset, n) == 0) {
                ev->mag = i;
                return EXI_OK;
            }
        }
        /* not a value of the enumeration: the Python encoder reports the first mistake of
           the message in document order, which the grammar walk has not reached yet */
        return EXI_ERR_INVALID_MESSAGE;
    }
    case EXI_DT_STRING:
        if ((err = take_str(r, &s, &n))) return err;
        if (n > r->arena_cap - r->arena_used) return EXI_ERR_NO_MEMORY;
        memcpy(r->arena + r->arena_used, s, n);
        ev->mag = r->arena_used;
        ev->len = (uint32_t)n;
        r->arena_used += n;
        return EXI_OK;
    case EXI_DT_BINARY:
        if ((err = take_str(r, &s, &n))) return err;
        if (n % 2u) return EXI_ERR_INVALID_MESSAGE;
        if (n / 2u > r->arena_cap - r->arena_used) return EXI_ERR_NO_MEMORY;
        ev->mag = r->arena_used;
        ev->len = (uint32_t)(n / 2u);
        for (size_t i = 0; i < n; i += 2) {
            int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
            if (hi < 0 || lo < 0) return EXI_ERR_INVALID_MESSAGE;
            r->arena[r->arena_used++] = (uint8_t)(hi << 4 | lo);
        }
        return EXI_OK;
    default:
        return EXI_ERR_UNSUPPORTED_EVENT;
    }
}

/* The key of a grammar named `s`, searched from `*cursor` on: messages list their keys in
   schema order, so the next key is nearly always the next one tried. */
static const exi_mp_key *lookup(const exi_mp_schema *m, const exi_mp_grammar *g,
                                const uint8_t *s, size_t n, uint16_t *cursor) {
    const exi_mp_key *keys = grammar_keys(m, g);
    for (uint16_t tried = 0, i = *cursor; tried < g->n_keys; tried++, i++) {
        if (i == g->n_keys) i = 0;
        if (keys[i].key_len == n && memcmp(m->text + keys[i].key, s, n) == 0) {
            *cursor = i;
            return &keys[i];
        }
    }
    return NULL;
}

/* One element and its content; recursion is bounded by EXI_MAX_DEPTH. */
static int take_element(reader *r, uint16_t name, uint16_t grammar, unsigned depth) {
    const exi_mp_grammar *g = &r->m->grammars[grammar];
    uint32_t entries;
    uint16_t cursor = 0;
    int err;
    if (depth > EXI_MAX_DEPTH) return EXI_ERR_DEPTH_EXCEEDED;
    if (!add_event(r, EXI_SE, name)) return EXI_ERR_NO_MEMORY;
    if (g->simple) {
        if ((err = take_value(r, EXI_CH, 0, g->text))) return err;
    } else {
        if ((err = take_map(r, &entries))) return err;
        for (uint32_t e = 0; e < entries; e++) {
            const exi_mp_key *key;
            const uint8_t *s;
            size_t n;
            uint32_t count;
            if ((err = take_str(r, &s, &n))) return err;
            if (same(s, n, TEXT_KEY, sizeof TEXT_KEY - 1u)) {
                if (g->text == EXI_NONE) return EXI_ERR_INVALID_MESSAGE;
                if ((err = take_value(r, EXI_CH, 0, g->text))) return err;
                continue;
            }
            if (g->ordered && same(s, n, ITEMS_KEY, sizeof ITEMS_KEY - 1u)) {
                if ((err = take_array(r, &count))) return err;
                for (uint32_t c = 0; c < count; c++) {
                    uint32_t one;
                    if ((err = take_map(r, &one))) return err;
                    if (one != 1 || (err = take_str(r, &s, &n))) return EXI_ERR_INVALID_MESSAGE;
                    if (!(key = lookup(r->m, g, s, n, &cursor)) || key->attribute)
                        return EXI_ERR_INVALID_MESSAGE;
                    if ((err = take_element(r, key->name, key->ref, depth + 1u))) return err;
                }
                continue;
            }
            if (!(key = lookup(r->m, g, s, n, &cursor))) return EXI_ERR_INVALID_MESSAGE;
            if (key->attribute) {
                err = take_value(r, EXI_AT, key->name, key->ref);
            } else if (key->list) {
                if ((err = take_array(r, &count))) return err;
                for (uint32_t c = 0; c < count && !err; c++)
                    err = take_element(r, key->name, key->ref, depth + 1u);
            } else {
                err = take_element(r, key->name, key->ref, depth + 1u);
            }
            if (err) return err;
        }
    }
    return add_event(r, EXI_EE, 0) ? EXI_OK : EXI_ERR_NO_MEMORY;
}

int exi_msgpack_encode(const exi_mp_schema *m, const uint8_t *packed, size_t packed_len,
                       exi_event *events, size_t max_events, uint8_t *arena, size_t arena_cap,
                       uint8_t *out, size_t out_cap, size_t *out_len, size_t *error_event) {
    reader r = {m, packed, 0, packed_len, events, max_events, 0, arena, arena_cap, 0};
    const uint8_t *s;
    size_t n;
    uint32_t entries;
    uint16_t root;
    int err;

    *out_len = 0;
    *error_event = 0;
    if ((err = take_map(&r, &entries)) || entries != 1 || (err = take_str(&r, &s, &n)))
        return EXI_ERR_INVALID_MESSAGE;
    for (root = 0; root < m->n_roots; root++)
        if (m->roots[root].key_len == n && memcmp(m->text + m->roots[root].key, s, n) == 0) break;
    if (root == m->n_roots || m->roots[root].ref == EXI_NONE) return EXI_ERR_INVALID_MESSAGE;
    if ((err = take_element(&r, m->roots[root].name, m->roots[root].ref, 1))) {
        *error_event = r.n_events;
        return err;
    }
    if (r.pos != r.len) return EXI_ERR_INVALID_MESSAGE;
    return exi_encode(m->schema, events, r.n_events, arena, r.arena_used, out, out_cap, out_len,
                      error_event);
}
