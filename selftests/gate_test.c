// SPDX-License-Identifier: GPL-2.0
/*
 * The disk gate: a context reads from the disk for at most disk_streams
 * requests at once, and a freed stream goes to the oldest waiter. With one
 * stream, cold SENDFILEs complete in submission order (after whichever
 * reached the gate first); a cancel takes a waiter out at once; a request
 * whose reader stalls gives its stream back; every byte is checked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define NF 8
#define FSIZE (4 << 20)		/* bench/cold/c%03d: 4 MiB, seed 2000 + i */

static const char *cold(int i)
{
	static char names[NF][64];

	snprintf(names[i], sizeof(names[i]), KAIO_SCRATCH "/bench/cold/c%03d", i);
	return names[i];
}

FIXTURE(gate) {
	struct kaio_ctx k;
	char streams[32];
	int tx[NF];
	struct rx rx[NF];
	pthread_t th[NF];
	int nth;
};

FIXTURE_SETUP(gate)
{
	ASSERT_EQ(0, read_param("disk_streams", self->streams, sizeof(self->streams)));
	ASSERT_EQ(0, write_param("disk_streams", "1"));
	ASSERT_EQ(0, kaio_setup(&self->k, 64));
	self->nth = 0;
}

FIXTURE_TEARDOWN(gate)
{
	kaio_close(&self->k);
	for (int i = 0; i < self->nth; i++) {
		close(self->tx[i]);
		pthread_join(self->th[i], NULL);
		close(self->rx[i].fd);
	}
	write_param("disk_streams", self->streams);
}

/*
 * A socket pair per file, its receiver checking the bytes. The send
 * buffers hold a whole file, so that no request ever parks on its output
 * (which would pause it and let the next one in).
 */
static void receivers(struct __test_metadata *_metadata, FIXTURE_DATA(gate) *self, int n)
{
	int big = 2 * FSIZE;

	for (int i = 0; i < n; i++) {
		memset(&self->rx[i], 0, sizeof(self->rx[i]));
		ASSERT_EQ(0, unix_pair(&self->tx[i], &self->rx[i].fd));
		ASSERT_EQ(0, setsockopt(self->tx[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)));
		self->rx[i].seed = 2000 + i;
		ASSERT_EQ(0, pthread_create(&self->th[i], NULL, rx_run, &self->rx[i]));
		self->nth++;
	}
}

static void submit_cold(struct __test_metadata *_metadata, FIXTURE_DATA(gate) *self, int n)
{
	struct kaio_iocb iocb[NF];

	for (int i = 0; i < n; i++) {
		kaio_iocb_init(&iocb[i], i);
		kaio_step_open(&iocb[i], AT_FDCWD, cold(i), O_RDONLY, 0);
		kaio_step_sendfile(&iocb[i], self->tx[i], 0, 0);
		kaio_step_close(&iocb[i]);
	}
	ASSERT_EQ(n, kaio_submit(&self->k, iocb, n));
}

TEST_F(gate, one_stream_completes_in_submission_order)
{
	long long waits0 = kaio_stat("disk_waits");
	struct kaio_event ev;
	int order[NF];

	receivers(_metadata, self, NF);
	kaio_drop_caches("3");
	submit_cold(_metadata, self, NF);
	for (int i = 0; i < NF; i++) {
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		EXPECT_EQ(0, ev.result) TH_LOG("file %llu", (unsigned long long)ev.user_data);
		EXPECT_EQ(FSIZE, ev.step_result[1]);
		order[i] = ev.user_data;
	}
	/* The first to reach the gate went first; then oldest first. */
	for (int i = 2; i < NF; i++) {
		EXPECT_LT(order[i - 1], order[i]) TH_LOG("completion %d: file %d after %d",
							  i, order[i], order[i - 1]);
	}
	EXPECT_LE(waits0 + NF - 1, kaio_stat("disk_waits"));
	for (int i = 0; i < NF; i++) {
		close(self->tx[i]);
		self->tx[i] = -1;
	}
	for (int i = 0; i < self->nth; i++) {
		pthread_join(self->th[i], NULL);
		EXPECT_EQ(FSIZE, self->rx[i].got) TH_LOG("file %d", i);
		EXPECT_EQ(-1, self->rx[i].bad) TH_LOG("file %d", i);
	}
	self->nth = 0;
}

/* Requests waiting at the gate are cancelled at once; the stream is not lost. */
TEST_F(gate, cancel_takes_waiters_out)
{
	struct kaio_event ev;
	int done = 0, cancelled = 0;

	receivers(_metadata, self, NF);
	kaio_drop_caches("3");
	submit_cold(_metadata, self, NF);
	/* Everything but whatever holds the stream now is waiting, or soon. */
	for (int i = 0; i < NF; i++)
		kaio_cancel(&self->k, i);
	for (int i = 0; i < NF; i++) {
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		if (ev.flags & KAIO_EV_CANCELED) {
			EXPECT_EQ(-ECANCELED, ev.result);
			cancelled++;
		} else {
			EXPECT_EQ(0, ev.result);
			done++;
		}
	}
	EXPECT_EQ(NF, done + cancelled);
	EXPECT_LE(NF - 2, cancelled);
	EXPECT_EQ(0, kaio_stat_wait("inflight", 0, 10000));
	/* The stream came back: a new cold file goes through. */
	kaio_drop_caches("3");
	submit_cold(_metadata, self, 1);
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(KAIO_EV_DONE, ev.flags);
}

/*
 * A reader that never reads must not hold the only stream: the request
 * pauses on its full output and the next one goes through.
 */
TEST_F(gate, stalled_reader_gives_its_stream_back)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int stall_tx, stall_rx;
	long long parks;

	receivers(_metadata, self, 1);
	ASSERT_EQ(0, unix_pair(&stall_tx, &stall_rx));
	kaio_drop_caches("3");
	/* File 1 to a socket nobody reads: it parks on the full output. */
	kaio_iocb_init(&iocb, 100);
	kaio_step_open(&iocb, AT_FDCWD, cold(1), O_RDONLY, 0);
	kaio_step_sendfile(&iocb, stall_tx, 0, 0);
	kaio_step_close(&iocb);
	parks = kaio_stat("sendfile_out_parks");
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	for (int i = 0; i < 1000 && kaio_stat("sendfile_out_parks") == parks; i++)
		usleep(10000);
	ASSERT_LT(parks, kaio_stat("sendfile_out_parks"));
	/* File 0, drained, completes although file 1 is not done. */
	submit_cold(_metadata, self, 1);
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	EXPECT_EQ(0, ev.user_data);
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(FSIZE, ev.step_result[1]);
	EXPECT_EQ(0, kaio_peek(&self->k, &ev, 1));
	/* Draining file 1 now lets it finish too. */
	{
		struct rx r = { .fd = stall_rx, .seed = 2001 };
		pthread_t t;

		ASSERT_EQ(0, pthread_create(&t, NULL, rx_run, &r));
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		EXPECT_EQ(100, ev.user_data);
		EXPECT_EQ(0, ev.result);
		close(stall_tx);
		pthread_join(t, NULL);
		EXPECT_EQ(FSIZE, r.got);
		EXPECT_EQ(-1, r.bad);
		close(stall_rx);
	}
}

TEST_HARNESS_MAIN
