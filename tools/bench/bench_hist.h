/*
 * bench_hist.h - flow-bench's latency histogram: values in nanoseconds,
 * log buckets (HdrHistogram-like: 64 sub-buckets per power of two, under
 * 1.6% error), recorded from any thread with relaxed atomics.
 */
#ifndef TOOLS_BENCH_HIST_H
#define TOOLS_BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

/* Below 128 every value has its bucket; above, each power of two
 * [2^k, 2^(k+1)) is split into 64 equal sub-buckets. 2^41 ns (about 36
 * minutes) and more share the last bucket. */
#define HIST_LINEAR 128
#define HIST_SUB 64
#define HIST_MAXK 40
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAXK - 7 + 1) * HIST_SUB)

typedef struct hist {
	_Atomic uint64_t b[HIST_BUCKETS];
	_Atomic uint64_t max;
} hist;

void hist_add(hist *h, uint64_t v);
uint64_t hist_count(hist *h);
/* The value at percentile p (0..100), in microseconds; 0 when empty. */
double hist_pct_us(hist *h, double p);
/* The largest value, in microseconds. */
double hist_max_us(hist *h);

#endif
