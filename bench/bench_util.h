/* SPDX-License-Identifier: GPL-2.0 */
/* What kaio-bench and kaio-overhead share: the clock and the way out. */
#ifndef KAIO_BENCH_UTIL_H
#define KAIO_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void die(const char *what)
{
	perror(what);
	exit(1);
}

#endif /* KAIO_BENCH_UTIL_H */
