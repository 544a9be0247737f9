/*
 * engine/sample.c — choosing the next token from logits, per sequence:
 * repetition penalty, then greedy (temperature <= 0) or top-k -> top-p ->
 * min-p -> temperature -> a draw from a seeded xorshift generator.  The order
 * follows llama.cpp's default sampler chain; the forward pass knows nothing of it.
 */
#include "engine_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mm_sampler {
    mm_sampler_params p;
    int n_vocab;
    uint64_t rng;
    float *work;       /* n_vocab logits (penalised copy) */
    int32_t *idx;      /* n_vocab candidate ids */
};

void mm_sampler_params_default(mm_sampler_params *p) {
    memset(p, 0, sizeof *p);
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0x9E3779B97F4A7C15ULL;
}

mm_sampler *mm_sampler_open(const mm_sampler_params *p, int n_vocab) {
    mm_sampler *s = calloc(1, sizeof *s);
    if (!s || n_vocab <= 0) { free(s); return NULL; }
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed ? p->seed : 1;
    s->work = malloc((size_t)n_vocab * sizeof(float));
    s->idx = malloc((size_t)n_vocab * sizeof(int32_t));
    if (!s->work || !s->idx) { mm_sampler_close(s); return NULL; }
    return s;
}

void mm_sampler_close(mm_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->idx);
    free(s);
}

static double uniform(mm_sampler *s) {
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}

static int by_logit_desc(const void *a, const void *b, void *key) {
    const float *l = key;
    float x = l[*(const int32_t *)a], y = l[*(const int32_t *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

int32_t mm_sample(mm_sampler *s, const float *logits, const int32_t *history, int n_hist) {
    const int V = s->n_vocab;
    float *l = s->work;
    memcpy(l, logits, (size_t)V * sizeof(float));
    if (s->p.repeat_penalty != 1.0f && history) {
        int from = n_hist > s->p.repeat_last_n ? n_hist - s->p.repeat_last_n : 0;
        for (int i = from; i < n_hist; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= V) continue;
            int seen = 0; /* penalise each token once */
            for (int k = from; k < i; k++) seen |= history[k] == t;
            if (!seen) l[t] = l[t] > 0 ? l[t] / s->p.repeat_penalty : l[t] * s->p.repeat_penalty;
        }
    }
    if (s->p.temp <= 0) {
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (l[i] > l[best]) best = i;
        return best;
    }
    int n = V;
    for (int i = 0; i < V; i++) s->idx[i] = i;
    qsort_r(s->idx, (size_t)V, sizeof *s->idx, by_logit_desc, l);
    if (s->p.top_k > 0 && s->p.top_k < n) n = s->p.top_k;
    /* softmax over the candidates at temperature 1 for top-p / min-p, as llama.cpp does */
    double maxl = l[s->idx[0]], z = 0;
    for (int i = 0; i < n; i++) z += exp((double)l[s->idx[i]] - maxl);
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += exp((double)l[s->idx[i]] - maxl) / z;
            if (cum >= s->p.top_p) { n = i + 1; break; }
        }
    }
    if (s->p.min_p > 0) {
        int k = 1;
        while (k < n && exp((double)l[s->idx[k]] - maxl) >= s->p.min_p) k++;
        n = k;
    }
    double tot = 0;
    for (int i = 0; i < n; i++) tot += exp(((double)l[s->idx[i]] - maxl) / s->p.temp);
    double r = uniform(s) * tot, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += exp(((double)l[s->idx[i]] - maxl) / s->p.temp);
        if (acc >= r) return s->idx[i];
    }
    return s->idx[n - 1];
}
