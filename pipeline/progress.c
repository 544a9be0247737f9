/*
 * pipeline/progress.c — progress on stderr: a live bar when stderr is a
 * terminal, a plain line every few seconds otherwise, nothing with --quiet.
 * Each shows finished/total, failed, the rate so far and the ETA (remaining / rate);
 * the last one the elapsed time instead of the ETA.
 * Safe to call from several worker threads.
 */
#include "cli.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct progress {
    pthread_mutex_t mu;
    const char *what;
    int64_t total, done, failed;
    int64_t start_ns, last_ns;
    int tty, quiet;
};

progress *progress_new(const char *what, int64_t total, int quiet) {
    progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->what = what;
    p->total = total;
    p->quiet = quiet;
    p->tty = isatty(2);
    p->start_ns = p->last_ns = mm_mono_ns();
    return p;
}

void progress_add_total(progress *p, int64_t n) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->total += n;
    pthread_mutex_unlock(&p->mu);
}

/* "1h02m", "3m05s", "12s"; rounded up for an ETA (never 0s while work is left), else to nearest. */
static void fmt_duration(double secs, int up, char out[32]) {
    long long s = secs < 0 ? 0 : (long long)(secs + (up ? 0.999 : 0.5));
    if (s >= 3600) snprintf(out, 32, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else if (s >= 60) snprintf(out, 32, "%lldm%02llds", s / 60, s % 60);
    else snprintf(out, 32, "%llds", s);
}

/* Counts, rate and ETA (what is left / the rate so far) while running; the elapsed time when final. */
static void draw(progress *p, int final) {
    double secs = (double)(mm_mono_ns() - p->start_ns) / 1e9;
    int64_t fin = p->done + p->failed;
    double rate = secs > 0 ? (double)fin / secs : 0;
    int64_t total = p->total > fin ? p->total : fin;
    char when[48], d[32];
    if (final) {
        fmt_duration(secs, 0, d);
        snprintf(when, sizeof when, "in %s", d);
    } else if (rate > 0) {
        fmt_duration((double)(total - fin) / rate, 1, d);
        snprintf(when, sizeof when, "ETA %s", d);
    } else {
        snprintf(when, sizeof when, "ETA ?");
    }
    if (p->tty) {
        int width = 30, fill = total ? (int)(width * fin / total) : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r%s [%s] %lld/%lld finished, %lld failed, %.1f/s, %s\033[K%s", p->what, bar,
                (long long)fin, (long long)total, (long long)p->failed, rate, when, final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %lld/%lld finished, %lld failed, %.1f/s, %s%s\n", p->what, (long long)fin,
                (long long)total, (long long)p->failed, rate, when, final ? " (finished)" : "");
    }
    fflush(stderr);
}

void progress_step(progress *p, int ok) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    if (ok) p->done++;
    else p->failed++;
    int64_t now = mm_mono_ns();
    int64_t every = p->tty ? 100000000LL : 5000000000LL;
    if (!p->quiet && now - p->last_ns >= every) {
        p->last_ns = now;
        draw(p, 0);
    }
    pthread_mutex_unlock(&p->mu);
}

void progress_end(progress *p) {
    if (!p) return;
    if (!p->quiet && (p->done + p->failed > 0 || p->tty)) draw(p, 1);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
