/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Signal helpers for the GETEVENTS sigmask cases (vector_test and
 * vector_race_test): a SIGUSR1 counter, a thread that sends a signal to
 * another after a delay, GETEVENTS with a sigmask, and a mask comparison.
 */
#ifndef KAIO_SIG_H
#define KAIO_SIG_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kaio.h>

/* SIGUSR1s handled since the test set it to 0. */
static atomic_int got_usr1;

static inline void on_usr1(int sig)
{
	got_usr1++;
}

/* What kick() sends, to whom, and after how long. */
struct kicker {
	pthread_t target;
	int sig;
	int delay_ms;
};

/* Thread body: sleeps delay_ms, then signals the target thread. */
static inline void *kick(void *arg)
{
	struct kicker *k = arg;

	usleep(k->delay_ms * 1000);
	pthread_kill(k->target, k->sig);
	return NULL;
}

/* GETEVENTS for one event within ns, with mask in force during the call. */
static inline int getevents_mask(int fd, struct kaio_event *ev, int64_t ns, const sigset_t *mask)
{
	struct kaio_getevents g = {
		.events = (uintptr_t)ev, .min_nr = 1, .max_nr = 1, .timeout_ns = ns,
		.sigmask = (uintptr_t)mask,
	};

	return ioctl(fd, KAIO_IOC_GETEVENTS, &g);
}

/* The first signal whose membership differs between a and b, or 0. */
static inline int sigset_diff(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s < 65; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return s;
	return 0;
}

#endif /* KAIO_SIG_H */
