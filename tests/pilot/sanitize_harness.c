/*
 * Drives the pilot C API hard under AddressSanitizer and UBSan (tests/pilot/test_c_safety.py):
 * random waveforms and configs, valid and not, odd chunk sizes, rings left undrained, tiny
 * drain buffers. Any out-of-bounds access or undefined behaviour aborts the run.
 */
#include "pilot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 12345;

static double uniform(double lo, double hi)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(rng >> 11) * 0x1.0p-53;
}

static double wild(double lo, double hi)
{
    const double r = uniform(0.0, 1.0);
    if (r < 0.02)
        return NAN;
    if (r < 0.04)
        return INFINITY;
    if (r < 0.06)
        return -uniform(0.0, 1e6);
    return uniform(lo, hi);
}

static int check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAILED: %s\n", what);
        exit(1);
    }
    return ok;
}

int main(void)
{
    static float samples[300000];
    cp_event events[3];
    cp_measurement measurements[5];
    const double rates[] = {20e3, 100e3, 1e6, 4e6};

    for (int round = 0; round < 200; round++) {
        const double fs = rates[round % 4];
        cp_synth *synth = cp_synth_new(fs, (uint64_t)round);
        cp_config config;
        cp_config_default(&config);
        if (round % 3 == 0) {
            config.window_v = wild(0.1, 1.4);
            config.hysteresis_v = wild(0.0, 0.4);
            config.debounce = (uint32_t)uniform(0.0, 40.0);
            config.settle_s = wild(0.0, 1e-4);
            config.steady_s = wild(1e-5, 5e-3);
            config.duty_deadband = wild(0.0, 0.05);
        }
        cp_analyser *analyser = cp_analyser_new(fs, &config, round % 2);
        check((analyser != NULL) == (cp_config_check(&config, fs) == 0), "config check");
        if (analyser == NULL) {
            cp_synth_free(synth);
            continue;
        }
        uint64_t fed = 0;
        for (int piece = 0; piece < 8; piece++) {
            const cp_waveform w = {
                .high_v = wild(-14.0, 14.0),
                .low_v = wild(-14.0, 14.0),
                .duty = wild(-0.1, 1.1),
                .frequency_hz = wild(100.0, 5000.0),
                .rise_s = wild(0.0, 3e-5),
                .fall_s = wild(0.0, 3e-5),
                .noise_v = wild(0.0, 3.0),
                .jitter = wild(0.0, 0.6),
            };
            const size_t n = (size_t)uniform(0.0, 300000.0);
            const int status = cp_synth_render(synth, &w, samples, n);
            check((status == CP_OK) == (cp_waveform_check(&w) == CP_OK), "waveform check");
            if (status != CP_OK)
                continue;
            size_t done = 0;
            while (done < n) {
                const size_t chunk = (size_t)uniform(0.0, 5000.0);
                const size_t want = chunk < n - done ? chunk : n - done;
                done += cp_analyser_feed(analyser, samples + done, want);
                cp_analyser_drain_events(analyser, events, (size_t)uniform(0.0, 4.0));
                cp_analyser_drain_measurements(analyser, measurements, (size_t)uniform(0.0, 6.0));
            }
            fed += n;
        }
        check(cp_analyser_position(analyser) == fed, "position counts every sample");
        double duty, frequency;
        const int32_t state = cp_analyser_state(analyser);
        check(state >= CP_STATE_UNKNOWN && state <= CP_STATE_F, "state in range");
        check(cp_analyser_faults(analyser) < 8, "fault bits");
        (void)cp_analyser_pwm(analyser, &duty, &frequency);
        cp_measurement last;
        if (cp_analyser_last_measurement(analyser, &last))
            check(last.end <= fed, "the last measurement lies in the past");
        cp_analyser_free(analyser);
        cp_synth_free(synth);
    }
    for (int i = 0; i < 100000; i++) {
        double out;
        const double duty = wild(-0.5, 1.5);
        const int kind = cp_current_for_duty(duty, &out);
        check(kind >= CP_DUTY_AMPS && kind <= CP_DUTY_NOT_ALLOWED, "duty kind");
        if (cp_duty_for_current(wild(0.0, 100.0), &out) == CP_OK)
            check(out >= 0.1 - 1e-12 && out <= 0.96 + 1e-12, "duty range");
    }
    check(cp_first_nonfinite(samples, 0) == 0, "empty scan");
    puts("ok");
    return 0;
}
