/*
 * Control pilot (IEC 61851-1) waveform synthesis and analysis.
 *
 * The synthesiser turns a description of the line (plateau voltages, PWM, edges, noise)
 * into samples; the analyser turns samples back into what an EVSE or EV controller
 * needs: per-period measurements, a debounced state A-F, the PWM duty and faults.
 * Both are streaming objects: feed them chunk after chunk and their state carries over.
 *
 * Events and measurements go into bounded rings that the caller drains after each
 * chunk. cp_analyser_feed stops early rather than overwrite an undrained ring, so a
 * caller that loops "feed, drain" never loses anything.
 *
 * Everything between the cdef markers is also read by cffi (ext/pilot/build_pilot.py),
 * so it must stay plain declarations: no macros, no includes.
 */
#ifndef EVSTACK_PILOT_H
#define EVSTACK_PILOT_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
enum cp_state {
    CP_STATE_UNKNOWN = -1,
    CP_STATE_A = 0, /* +12 V: no EV */
    CP_STATE_B = 1, /* +9 V: EV connected */
    CP_STATE_C = 2, /* +6 V: EV ready to charge */
    CP_STATE_D = 3, /* +3 V: ready, ventilation required */
    CP_STATE_E = 4, /* 0 V: short to PE or no supply */
    CP_STATE_F = 5  /* -12 V: EVSE not available */
};

enum cp_fault {
    CP_FAULT_DIODE = 1,         /* PWM runs but the low plateau is not at -12 V */
    CP_FAULT_INVALID_LEVEL = 2, /* the plateau is outside every state's window */
    CP_FAULT_FREQUENCY = 4      /* PWM frequency outside the allowed range */
};

enum cp_event_kind { CP_EVENT_STATE = 1, CP_EVENT_PWM = 2, CP_EVENT_FAULTS = 3 };

enum cp_duty_kind {
    CP_DUTY_AMPS = 0,        /* the duty encodes a current limit */
    CP_DUTY_DIGITAL = 1,     /* 3-7 %: use digital communication (ISO 15118 / DIN 70121) */
    CP_DUTY_NOT_ALLOWED = 2  /* a duty the standard gives no meaning */
};

enum cp_status { CP_OK = 0, CP_EINVAL = -1 };

/* One stretch of line: what the generator and the EV make of it, with a real line's flaws. */
typedef struct {
    double high_v;       /* plateau while the generator is high */
    double low_v;        /* plateau while it is low */
    double duty;         /* fraction of each period spent high; 1 and 0 give a steady level */
    double frequency_hz; /* nominal PWM frequency */
    double rise_s;       /* edges are linear ramps at 24 V per rise_s (upwards) ... */
    double fall_s;       /* ... and 24 V per fall_s (downwards); 0 means a vertical edge */
    double noise_v;      /* peak of the uniform noise added to every sample */
    double jitter;       /* peak relative deviation of each period from 1 / frequency_hz */
} cp_waveform;

typedef struct {
    double window_v;         /* a plateau within level +- window_v enters that state */
    double hysteresis_v;     /* ... and keeps it while within level +- (window_v + this) */
    double schmitt_v;        /* edges are crossings of +schmitt_v (rising), -schmitt_v (falling) */
    uint32_t debounce;       /* consecutive measurements that confirm a change (1-32) */
    double settle_s;         /* samples this close to an edge are left out of plateaus */
    double steady_s;         /* no edge for this long: measure the line as a steady level */
    double duty_deadband;    /* duty changes smaller than this are not reported */
    double min_frequency_hz; /* allowed PWM frequency range */
    double max_frequency_hz;
} cp_config;

/* One PWM period (rising edge to rising edge), or one steady_s window without edges. */
typedef struct {
    uint64_t start;      /* first sample */
    uint64_t end;        /* one past the last sample */
    int32_t pwm;         /* 1: a PWM period; 0: a steady window (high_v == low_v) */
    double frequency_hz; /* 0 for a steady window */
    double duty;         /* high time / period; for a steady window 1 if high_v >= 0 else 0 */
    double high_v;
    double low_v;
} cp_measurement;

typedef struct {
    uint64_t at;         /* sample at which the change was confirmed */
    uint64_t onset;      /* first sample of the first measurement showing the change */
    int32_t kind;        /* enum cp_event_kind */
    int32_t state;       /* CP_EVENT_STATE: new state */
    int32_t previous;    /* CP_EVENT_STATE: previous state (CP_STATE_UNKNOWN at first) */
    int32_t pwm;         /* CP_EVENT_PWM: 1 while PWM runs */
    uint32_t faults;     /* CP_EVENT_FAULTS: the active enum cp_fault bits after the change */
    double duty;         /* CP_EVENT_PWM: mean duty of the confirming periods */
    double frequency_hz; /* CP_EVENT_PWM: mean frequency of the confirming periods */
} cp_event;

typedef struct cp_synth cp_synth;
typedef struct cp_analyser cp_analyser;

/* Defaults: IEC 61851-1 windows and a debounce that detects within ~10 ms at 1 kHz. */
void cp_config_default(cp_config *config);
/* Returns 0 when the config is usable at this sample rate, else a negative number (see .c). */
int cp_config_check(const cp_config *config, double sample_rate_hz);

cp_synth *cp_synth_new(double sample_rate_hz, uint64_t seed);
void cp_synth_free(cp_synth *synth);
int cp_waveform_check(const cp_waveform *waveform);
/* Writes exactly n samples to out. CP_EINVAL (nothing written) for an invalid waveform. */
int cp_synth_render(cp_synth *synth, const cp_waveform *waveform, float *out, size_t n);

/* NULL for an invalid config or sample rate (check with cp_config_check first). */
cp_analyser *cp_analyser_new(double sample_rate_hz, const cp_config *config, int keep_measurements);
void cp_analyser_free(cp_analyser *analyser);
/* Index of the first non-finite sample, or n when all are finite. */
size_t cp_first_nonfinite(const float *samples, size_t n);
/* Consumes samples until done or until a ring needs draining; returns how many it consumed. */
size_t cp_analyser_feed(cp_analyser *analyser, const float *samples, size_t n);
size_t cp_analyser_drain_events(cp_analyser *analyser, cp_event *out, size_t capacity);
size_t cp_analyser_drain_measurements(cp_analyser *analyser, cp_measurement *out, size_t capacity);
uint64_t cp_analyser_position(const cp_analyser *analyser);
/* 1 and the latest measurement (kept or not), or 0 before the first one. */
int cp_analyser_last_measurement(const cp_analyser *analyser, cp_measurement *out);
int32_t cp_analyser_state(const cp_analyser *analyser);
uint32_t cp_analyser_faults(const cp_analyser *analyser);
/* 1 and the last reported duty and frequency while PWM is reported, else 0. */
int32_t cp_analyser_pwm(const cp_analyser *analyser, double *duty, double *frequency_hz);

/* EVSE side: duty that signals this current limit (6-80 A). CP_EINVAL outside that range. */
int cp_duty_for_current(double amps, double *duty);
/* EV side: what a duty means (enum cp_duty_kind); *amps is set for CP_DUTY_AMPS. */
int cp_current_for_duty(double duty, double *amps);
/* cdef-end */

#endif
