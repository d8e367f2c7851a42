/*
 * bench_hist.c - flow-bench's latency histogram (see bench_hist.h).
 */
#include "bench_hist.h"

static int
hist_index(uint64_t v)
{
	if (v < HIST_LINEAR)
		return (int) v;
	int k = 63 - __builtin_clzll(v);
	if (k > HIST_MAXK)
		return HIST_BUCKETS - 1;
	uint64_t sub = v >> (k - 6); /* 64..127 */
	return HIST_LINEAR + (k - 7) * HIST_SUB + (int) (sub - HIST_SUB);
}

/* The middle of the bucket's range. */
static double
hist_value(int i)
{
	if (i < HIST_LINEAR)
		return (double) i;
	int k = 7 + (i - HIST_LINEAR) / HIST_SUB;
	uint64_t sub = HIST_SUB + (uint64_t) ((i - HIST_LINEAR) % HIST_SUB);
	uint64_t lo = sub << (k - 6), hi = (sub + 1) << (k - 6);
	return ((double) lo + (double) (hi - 1)) / 2.0;
}

void
hist_add(hist *h, uint64_t v)
{
	atomic_fetch_add_explicit(&h->b[hist_index(v)], 1,
	    memory_order_relaxed);
	uint64_t m = atomic_load_explicit(&h->max, memory_order_relaxed);
	while (v > m &&
	    !atomic_compare_exchange_weak_explicit(&h->max, &m, v,
	        memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t
hist_count(hist *h)
{
	uint64_t n = 0;
	for (int i = 0; i < HIST_BUCKETS; i++)
		n += atomic_load_explicit(&h->b[i], memory_order_relaxed);
	return n;
}

double
hist_pct_us(hist *h, double p)
{
	uint64_t n = hist_count(h), want, seen = 0;

	if (n == 0)
		return 0.0;
	want = (uint64_t) ((p / 100.0) * (double) n + 0.999999);
	if (want < 1)
		want = 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += atomic_load_explicit(&h->b[i], memory_order_relaxed);
		if (seen >= want) {
			double v = hist_value(i);
			double mx = (double) atomic_load(&h->max);
			return (v > mx ? mx : v) / 1000.0;
		}
	}
	return (double) atomic_load(&h->max) / 1000.0;
}

double
hist_max_us(hist *h)
{
	return (double) atomic_load(&h->max) / 1000.0;
}
