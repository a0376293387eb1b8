/*
 * Control pilot synthesis and analysis; see pilot.h for the contract.
 *
 * evstack/pilot/reference.py is a line-by-line pure-Python twin of this file that the
 * tests hold it to, sample for sample. Change both or neither.
 */
#include "pilot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    RING = 256,          /* raw samples kept to trim plateaus; must exceed 2 * MAX_GUARD */
    MAX_GUARD = 120,
    MAX_DEBOUNCE = 32,
    EVENT_CAP = 256,
    MEASUREMENT_CAP = 1024,
    EVENTS_PER_MEASUREMENT = 3, /* at most one state, one PWM and one faults event */
    FAULT_BITS = 3
};

static const double LEVELS[6] = {12.0, 9.0, 6.0, 3.0, 0.0, -12.0};
static const double NOMINAL_SWING_V = 24.0;
static const double LOW_PLATEAU_V = -12.0;
/* Duty boundaries of IEC 61851-1 Annex A sit on round percentages that binary fractions
   miss by an ulp (0.07 * 100 > 7); compare with this much slack. */
static const double PERCENT_SLACK = 1e-9;

/* ---------------------------------------------------------------- random numbers */

/* splitmix64: tiny, fast and trivially reproducible in Python. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1), exactly representable so Python gets the same double. */
static double next_symmetric(uint64_t *state)
{
    return (double)(next_random(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

/* ---------------------------------------------------------------- synthesis */

struct cp_synth {
    double dt;
    uint64_t rng;
    double phase;  /* seconds into the current period */
    double period; /* length of the current period, jitter included */
    double level;  /* noiseless line voltage, which slews towards the target */
    int started;
};

cp_synth *cp_synth_new(double sample_rate_hz, uint64_t seed)
{
    if (!(isfinite(sample_rate_hz) && sample_rate_hz > 0.0))
        return NULL;
    cp_synth *synth = calloc(1, sizeof *synth);
    if (synth == NULL)
        return NULL;
    synth->dt = 1.0 / sample_rate_hz;
    synth->rng = seed;
    return synth;
}

void cp_synth_free(cp_synth *synth) { free(synth); }

int cp_waveform_check(const cp_waveform *w)
{
    const double values[8] = {w->high_v, w->low_v, w->duty, w->frequency_hz,
                              w->rise_s, w->fall_s, w->noise_v, w->jitter};
    for (size_t i = 0; i < 8; i++)
        if (!isfinite(values[i]))
            return CP_EINVAL;
    if (w->duty < 0.0 || w->duty > 1.0 || w->frequency_hz <= 0.0 || w->rise_s < 0.0 ||
        w->fall_s < 0.0 || w->noise_v < 0.0 || w->jitter < 0.0 || w->jitter >= 0.5)
        return CP_EINVAL;
    return CP_OK;
}

static double next_period(uint64_t *rng, const cp_waveform *w)
{
    double period = 1.0 / w->frequency_hz;
    if (w->jitter > 0.0)
        period = period * (1.0 + w->jitter * next_symmetric(rng));
    return period;
}

/*
 * The ideal line averaged over the sample interval [phase, phase + dt), as an integrating ADC
 * sees it: a sample that straddles an edge lands between the plateaus, which keeps the exact
 * edge position in the samples (the analyser's duty uses it) instead of rounding it away.
 */
static double sample_target(const cp_waveform *w, double phase, double period, double dt)
{
    if (w->duty >= 1.0)
        return w->high_v;
    if (w->duty <= 0.0)
        return w->low_v;
    const double end = phase + dt;
    const double high_end = w->duty * period;
    if (end <= high_end)
        return w->high_v;
    if (phase >= high_end && end <= period)
        return w->low_v;
    double high_time = fmax(fmin(end, high_end) - phase, 0.0);
    if (end > period) /* the interval runs into the next period, which starts high */
        high_time = high_time + fmin(end - period, high_end);
    const double fraction = high_time / dt;
    if (fraction >= 1.0)
        return w->high_v;
    if (fraction <= 0.0)
        return w->low_v;
    return w->low_v + (w->high_v - w->low_v) * fraction;
}

int cp_synth_render(cp_synth *synth, const cp_waveform *waveform, float *out, size_t n)
{
    if (synth == NULL || waveform == NULL || (out == NULL && n > 0) ||
        cp_waveform_check(waveform) != CP_OK)
        return CP_EINVAL;
    /* Work on copies: kept in memory, the state would make a round trip per sample. */
    const cp_waveform w = *waveform;
    const double dt = synth->dt;
    uint64_t rng = synth->rng;
    double phase = synth->phase, period = synth->period, level = synth->level;
    if (!synth->started) {
        period = next_period(&rng, &w);
        level = w.duty > 0.0 ? w.high_v : w.low_v;
        synth->started = 1;
    }
    const double up = w.rise_s > 0.0 ? NOMINAL_SWING_V * dt / w.rise_s : 0.0;
    const double down = w.fall_s > 0.0 ? NOMINAL_SWING_V * dt / w.fall_s : 0.0;
    for (size_t i = 0; i < n; i++) {
        const double target = sample_target(&w, phase, period, dt);
        if (level < target)
            level = up > 0.0 && level + up < target ? level + up : target;
        else if (level > target)
            level = down > 0.0 && level - down > target ? level - down : target;
        double v = level;
        if (w.noise_v > 0.0)
            v = v + w.noise_v * next_symmetric(&rng);
        out[i] = (float)v;
        phase = phase + dt;
        if (phase >= period) {
            phase = phase - period;
            period = next_period(&rng, &w);
        }
    }
    synth->rng = rng;
    synth->phase = phase;
    synth->period = period;
    synth->level = level;
    return CP_OK;
}

/* ---------------------------------------------------------------- configuration */

void cp_config_default(cp_config *c)
{
    c->window_v = 1.0;
    c->hysteresis_v = 0.4;
    c->schmitt_v = 1.0;
    c->debounce = 5;
    c->settle_s = 10e-6;
    c->steady_s = 1.5e-3;
    c->duty_deadband = 0.005;
    c->min_frequency_hz = 980.0;
    c->max_frequency_hz = 1020.0;
}

static uint32_t guard_samples(const cp_config *c, double sample_rate_hz)
{
    const double guard = ceil(c->settle_s * sample_rate_hz);
    return guard < 1.0 ? 1 : (uint32_t)guard;
}

int cp_config_check(const cp_config *c, double fs)
{
    const double values[8] = {c->window_v,      c->hysteresis_v,     c->schmitt_v,
                              c->settle_s,      c->steady_s,         c->duty_deadband,
                              c->min_frequency_hz, c->max_frequency_hz};
    for (size_t i = 0; i < 8; i++)
        if (!isfinite(values[i]))
            return -1;
    if (!(isfinite(fs) && fs > 0.0))
        return -2;
    /* Windows of neighbouring levels (3 V apart) must not overlap, even widened. */
    if (c->window_v <= 0.0 || c->hysteresis_v < 0.0 || c->window_v + c->hysteresis_v >= 1.5)
        return -3;
    if (c->schmitt_v <= 0.0)
        return -4;
    if (c->debounce < 1 || c->debounce > MAX_DEBOUNCE)
        return -5;
    if (c->settle_s < 0.0 || c->settle_s * fs > MAX_GUARD)
        return -6;
    if (c->steady_s * fs < 2.0 * guard_samples(c, fs) + 2.0 || c->steady_s * fs > 1e12)
        return -7;
    if (c->duty_deadband < 0.0 || c->duty_deadband >= 1.0)
        return -8;
    if (c->min_frequency_hz <= 0.0 || c->max_frequency_hz < c->min_frequency_hz)
        return -9;
    return 0;
}

/* ---------------------------------------------------------------- analysis */

struct cp_analyser {
    double fs;
    cp_config cfg;
    uint32_t guard;      /* samples trimmed off both ends of a plateau */
    uint64_t steady_len; /* samples without an edge that make a steady window */
    double duty_quantum; /* one sample of a nominal 1 kHz period, as a duty */

    /* edge detection and the segment (run between edges) being measured */
    uint64_t t; /* index of the next sample */
    int high;   /* Schmitt trigger output */
    int segment_from_edge; /* the segment began at an edge, not at the start of the stream */
    uint64_t edge_at;
    uint64_t window_start; /* start of the current steady window */
    double sum;            /* samples of the window at least `guard` after the edge */
    uint64_t counted;
    int window_emitted; /* a steady window was measured in this segment */
    float ring[RING];

    /* the PWM period being assembled */
    double period_sum; /* every sample since the rising edge: its mean gives the duty */
    int have_rise;
    uint64_t rise_at;
    int have_high;
    uint64_t fall_at;
    double high_v;

    /* debounced state */
    int32_t state;
    int32_t pending;
    uint32_t pending_run;
    uint64_t pending_onset;

    /* debounced PWM: the last `debounce` consecutive PWM periods */
    int32_t pwm_on;
    double duty;
    double frequency_hz;
    double duties[MAX_DEBOUNCE];
    double frequencies[MAX_DEBOUNCE];
    uint64_t starts[MAX_DEBOUNCE];
    uint32_t history_next;
    uint32_t history_len;
    uint32_t steady_run;
    uint64_t steady_onset;

    /* debounced faults: a bit flips after `debounce` measurements that disagree with it */
    uint32_t faults;
    uint32_t fault_run[FAULT_BITS];
    uint64_t fault_onset[FAULT_BITS];

    cp_event events[EVENT_CAP];
    size_t event_head;
    size_t event_count;
    int keep_measurements;
    cp_measurement measurements[MEASUREMENT_CAP];
    size_t measurement_head;
    size_t measurement_count;
    int have_last;
    cp_measurement last;
};

cp_analyser *cp_analyser_new(double fs, const cp_config *config, int keep_measurements)
{
    if (config == NULL || cp_config_check(config, fs) != 0)
        return NULL;
    cp_analyser *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->fs = fs;
    a->cfg = *config;
    a->guard = guard_samples(config, fs);
    a->steady_len = (uint64_t)ceil(config->steady_s * fs);
    a->duty_quantum = 1000.0 / fs;
    a->state = CP_STATE_UNKNOWN;
    a->pending = CP_STATE_UNKNOWN;
    a->keep_measurements = keep_measurements != 0;
    return a;
}

void cp_analyser_free(cp_analyser *a) { free(a); }

size_t cp_first_nonfinite(const float *samples, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(samples[i]))
            return i;
    return n;
}

static void push_event(cp_analyser *a, const cp_event *event)
{
    /* cp_analyser_feed keeps EVENTS_PER_MEASUREMENT slots free before every sample. */
    if (a->event_count == EVENT_CAP)
        return;
    a->events[(a->event_head + a->event_count) % EVENT_CAP] = *event;
    a->event_count++;
}

/* The state whose window holds v: the current or pending state keeps a wider window. */
static int32_t classify_level(const cp_analyser *a, double v, int pwm)
{
    /* With PWM only A-D can have a high plateau: E and F have no positive half. */
    const int32_t states = pwm ? CP_STATE_D + 1 : CP_STATE_F + 1;
    const double wide = a->cfg.window_v + a->cfg.hysteresis_v;
    if (a->state >= 0 && a->state < states && fabs(v - LEVELS[a->state]) <= wide)
        return a->state;
    if (a->pending >= 0 && a->pending < states && fabs(v - LEVELS[a->pending]) <= wide)
        return a->pending;
    for (int32_t s = 0; s < states; s++)
        if (fabs(v - LEVELS[s]) <= a->cfg.window_v)
            return s;
    return CP_STATE_UNKNOWN;
}

static void debounce_state(cp_analyser *a, const cp_measurement *m, int32_t seen)
{
    if (seen == a->state) {
        a->pending = CP_STATE_UNKNOWN;
        a->pending_run = 0;
        return;
    }
    if (seen != a->pending || a->pending_run == 0) {
        a->pending = seen;
        a->pending_run = 0;
        a->pending_onset = m->start;
    }
    a->pending_run++;
    if (seen == CP_STATE_UNKNOWN || a->pending_run < a->cfg.debounce)
        return;
    cp_event e = {0};
    e.kind = CP_EVENT_STATE;
    e.at = m->end;
    e.onset = a->pending_onset;
    e.state = seen;
    e.previous = a->state;
    push_event(a, &e);
    a->state = seen;
    a->pending = CP_STATE_UNKNOWN;
    a->pending_run = 0;
}

static void debounce_pwm(cp_analyser *a, const cp_measurement *m)
{
    const uint32_t n = a->cfg.debounce;
    if (!m->pwm) {
        a->history_len = 0;
        if (!a->pwm_on)
            return;
        if (a->steady_run == 0)
            a->steady_onset = m->start;
        if (++a->steady_run < n)
            return;
        cp_event e = {0};
        e.kind = CP_EVENT_PWM;
        e.at = m->end;
        e.onset = a->steady_onset;
        push_event(a, &e);
        a->pwm_on = 0;
        a->duty = 0.0;
        a->frequency_hz = 0.0;
        a->steady_run = 0;
        return;
    }
    a->steady_run = 0;
    a->duties[a->history_next] = m->duty;
    a->frequencies[a->history_next] = m->frequency_hz;
    a->starts[a->history_next] = m->start;
    a->history_next = (a->history_next + 1) % n;
    if (a->history_len < n)
        a->history_len++;
    if (a->history_len < n)
        return;
    /* Oldest first, so that the sums match the Python reference bit for bit. */
    double lo = INFINITY, hi = -INFINITY, duty_sum = 0.0, frequency_sum = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t k = (a->history_next + i) % n;
        lo = fmin(lo, a->duties[k]);
        hi = fmax(hi, a->duties[k]);
        duty_sum = duty_sum + a->duties[k];
        frequency_sum = frequency_sum + a->frequencies[k];
    }
    /* A period that straddles a duty change is a blend of both: wait until it has left. */
    if (hi - lo > a->cfg.duty_deadband + 2.0 * a->duty_quantum)
        return;
    const double duty = duty_sum / n;
    if (a->pwm_on && fabs(duty - a->duty) <= a->cfg.duty_deadband + a->duty_quantum)
        return;
    cp_event e = {0};
    e.kind = CP_EVENT_PWM;
    e.at = m->end;
    e.onset = a->starts[a->history_next];
    e.pwm = 1;
    e.duty = duty;
    e.frequency_hz = frequency_sum / n;
    push_event(a, &e);
    a->pwm_on = 1;
    a->duty = e.duty;
    a->frequency_hz = e.frequency_hz;
}

static void debounce_faults(cp_analyser *a, const cp_measurement *m, int32_t seen)
{
    uint32_t raw = 0;
    if (seen == CP_STATE_UNKNOWN)
        raw |= CP_FAULT_INVALID_LEVEL;
    if (m->pwm) {
        if (fabs(m->low_v - LOW_PLATEAU_V) > a->cfg.window_v)
            raw |= CP_FAULT_DIODE;
        if (m->frequency_hz < a->cfg.min_frequency_hz || m->frequency_hz > a->cfg.max_frequency_hz)
            raw |= CP_FAULT_FREQUENCY;
    } else if (a->state != CP_STATE_A) {
        /* A steady line says nothing about the diode; only unplugging (state A) clears it. */
        raw |= a->faults & CP_FAULT_DIODE;
    }
    uint32_t flipped = 0;
    uint64_t onset = m->start;
    for (uint32_t i = 0; i < FAULT_BITS; i++) {
        const uint32_t bit = 1u << i;
        if ((raw & bit) == (a->faults & bit)) {
            a->fault_run[i] = 0;
            continue;
        }
        if (a->fault_run[i] == 0)
            a->fault_onset[i] = m->start;
        if (++a->fault_run[i] < a->cfg.debounce)
            continue;
        flipped |= bit;
        a->fault_run[i] = 0;
        if (a->fault_onset[i] < onset)
            onset = a->fault_onset[i];
    }
    if (flipped == 0)
        return;
    a->faults ^= flipped;
    cp_event e = {0};
    e.kind = CP_EVENT_FAULTS;
    e.at = m->end;
    e.onset = onset;
    e.faults = a->faults;
    push_event(a, &e);
}

static void take_measurement(cp_analyser *a, const cp_measurement *m)
{
    a->last = *m;
    a->have_last = 1;
    if (a->keep_measurements && a->measurement_count < MEASUREMENT_CAP) {
        a->measurements[(a->measurement_head + a->measurement_count) % MEASUREMENT_CAP] = *m;
        a->measurement_count++;
    }
    const int32_t seen = classify_level(a, m->pwm ? m->high_v : m->low_v, m->pwm);
    debounce_state(a, m, seen);
    debounce_pwm(a, m);
    debounce_faults(a, m, seen);
}

/* Mean of the segment [edge_at, t), leaving out `guard` samples at both ends. */
static double plateau(const cp_analyser *a)
{
    const uint64_t length = a->t - a->edge_at;
    const uint64_t g = a->guard;
    if (length > 2 * g) {
        double tail = 0.0;
        for (uint64_t j = a->t - g; j < a->t; j++)
            tail = tail + a->ring[j % RING];
        return (a->sum - tail) / (double)(length - 2 * g);
    }
    /* Too short to trim (a 5 % pulse at a low sample rate): average its middle half. */
    const uint64_t lo = a->edge_at + length / 4;
    uint64_t hi = a->t - length / 4;
    if (hi <= lo)
        hi = lo + 1;
    double sum = 0.0;
    for (uint64_t j = lo; j < hi; j++)
        sum = sum + a->ring[j % RING];
    return sum / (double)(hi - lo);
}

/*
 * Where the period's mean sits between its plateaus. Counting samples above the threshold
 * would round both edges to whole samples (0.5 % of duty at 200 kS/s, 0.3 A of current);
 * the mean also weighs the samples that straddle an edge. Falls back to counting when the
 * plateaus are too close to tell apart.
 */
static double period_duty(const cp_analyser *a, uint64_t period, double high_v, double low_v)
{
    const double swing = high_v - low_v;
    if (swing < 2.0 * a->cfg.schmitt_v)
        return (double)(a->fall_at - a->rise_at) / (double)period;
    const double duty = (a->period_sum / (double)period - low_v) / swing;
    return duty < 0.0 ? 0.0 : duty > 1.0 ? 1.0 : duty;
}

static void on_edge(cp_analyser *a, int rising)
{
    const int measurable = a->segment_from_edge && !a->window_emitted;
    if (!rising) {
        a->have_high = a->have_rise && measurable;
        if (a->have_high) {
            a->high_v = plateau(a);
            a->fall_at = a->t;
        }
    } else {
        if (a->have_rise && a->have_high && measurable) {
            const uint64_t period = a->t - a->rise_at;
            cp_measurement m = {0};
            m.start = a->rise_at;
            m.end = a->t;
            m.pwm = 1;
            m.frequency_hz = a->fs / (double)period;
            m.high_v = a->high_v;
            m.low_v = plateau(a);
            m.duty = period_duty(a, period, m.high_v, m.low_v);
            take_measurement(a, &m);
        }
        a->have_rise = 1;
        a->rise_at = a->t;
        a->have_high = 0;
        a->period_sum = 0.0;
    }
    a->high = rising;
    a->segment_from_edge = 1;
    a->edge_at = a->t;
    a->window_start = a->t;
    a->sum = 0.0;
    a->counted = 0;
    a->window_emitted = 0;
}

static void on_steady_window(cp_analyser *a)
{
    cp_measurement m = {0};
    m.start = a->window_start;
    m.end = a->t + 1;
    m.high_v = a->sum / (double)a->counted;
    m.low_v = m.high_v;
    m.duty = m.high_v >= 0.0 ? 1.0 : 0.0;
    take_measurement(a, &m);
    a->window_start = a->t + 1;
    a->sum = 0.0;
    a->counted = 0;
    a->window_emitted = 1;
    a->have_rise = 0;
    a->have_high = 0;
}

/*
 * The per-sample loop keeps the running sums and the clock in locals and hands them back to
 * the struct only around edges and steady windows: left in the struct, every sum would make
 * a round trip through memory per sample, which made the loop three times slower.
 */
size_t cp_analyser_feed(cp_analyser *a, const float *samples, size_t n)
{
    if (a == NULL || samples == NULL)
        return 0;
    const double schmitt_v = a->cfg.schmitt_v;
    uint64_t t = a->t;
    double sum = a->sum, period_sum = a->period_sum;
    uint64_t counted = a->counted;
    size_t i = 0;
    for (; i < n; i++) {
        if (EVENT_CAP - a->event_count < EVENTS_PER_MEASUREMENT ||
            (a->keep_measurements && a->measurement_count == MEASUREMENT_CAP))
            break;
        const float x = samples[i];
        if (t == 0)
            a->high = x >= 0.0f;
        a->ring[t % RING] = x;
        if (a->high ? x < -schmitt_v : x > schmitt_v) {
            a->t = t, a->sum = sum, a->period_sum = period_sum, a->counted = counted;
            on_edge(a, !a->high);
            sum = a->sum, period_sum = a->period_sum, counted = a->counted;
        }
        period_sum = period_sum + x;
        if (t - a->edge_at >= a->guard) {
            sum = sum + x;
            counted++;
        }
        if (t + 1 - a->window_start >= a->steady_len) {
            a->t = t, a->sum = sum, a->period_sum = period_sum, a->counted = counted;
            on_steady_window(a);
            sum = a->sum, period_sum = a->period_sum, counted = a->counted;
        }
        t++;
    }
    a->t = t, a->sum = sum, a->period_sum = period_sum, a->counted = counted;
    return i;
}

size_t cp_analyser_drain_events(cp_analyser *a, cp_event *out, size_t capacity)
{
    size_t n = 0;
    for (; n < capacity && a->event_count > 0; n++) {
        out[n] = a->events[a->event_head];
        a->event_head = (a->event_head + 1) % EVENT_CAP;
        a->event_count--;
    }
    return n;
}

size_t cp_analyser_drain_measurements(cp_analyser *a, cp_measurement *out, size_t capacity)
{
    size_t n = 0;
    for (; n < capacity && a->measurement_count > 0; n++) {
        out[n] = a->measurements[a->measurement_head];
        a->measurement_head = (a->measurement_head + 1) % MEASUREMENT_CAP;
        a->measurement_count--;
    }
    return n;
}

uint64_t cp_analyser_position(const cp_analyser *a) { return a->t; }

int cp_analyser_last_measurement(const cp_analyser *a, cp_measurement *out)
{
    if (a->have_last)
        *out = a->last;
    return a->have_last;
}

int32_t cp_analyser_state(const cp_analyser *a) { return a->state; }

uint32_t cp_analyser_faults(const cp_analyser *a) { return a->faults; }

int32_t cp_analyser_pwm(const cp_analyser *a, double *duty, double *frequency_hz)
{
    *duty = a->duty;
    *frequency_hz = a->frequency_hz;
    return a->pwm_on;
}

/* ---------------------------------------------------------------- duty and current */

int cp_duty_for_current(double amps, double *duty)
{
    if (!(amps >= 6.0 && amps <= 80.0))
        return CP_EINVAL;
    *duty = amps <= 51.0 ? amps / 0.6 / 100.0 : (amps / 2.5 + 64.0) / 100.0;
    return CP_OK;
}

int cp_current_for_duty(double duty, double *amps)
{
    const double p = duty * 100.0;
    const double e = PERCENT_SLACK;
    *amps = 0.0;
    if (!isfinite(p) || p < 3.0 - e || p > 97.0 + e || (p > 7.0 + e && p < 8.0 - e))
        return CP_DUTY_NOT_ALLOWED;
    if (p <= 7.0 + e)
        return CP_DUTY_DIGITAL;
    if (p < 10.0 - e)
        *amps = 6.0;
    else if (p <= 85.0 + e)
        *amps = p * 0.6;
    else if (p <= 96.0 + e)
        *amps = (p - 64.0) * 2.5;
    else
        *amps = 80.0;
    return CP_DUTY_AMPS;
}
