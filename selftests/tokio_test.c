// SPDX-License-Identifier: GPL-2.0
/*
 * The Rust crate's tokio example, client/kaio/examples/serve_files.rs, seen
 * from the wire: /bin/kaio-serve-files ROOT ADDR answers "GET <path>\n"
 * lines with "OK <size>\n" and the file's bytes, or "ERR <errno>\n", every
 * step through kaio (RECV, OPEN(IN_ROOT)->STATX->KEEP,
 * FD->SEND->SENDFILE->CLOSE) from tokio tasks sharing one context. Bodies
 * are compared byte for byte; errors must carry the exact errno; nothing
 * outside ROOT may ever be served; a client that vanishes mid-body must
 * not disturb the others; the server must still be running at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define PORT		18091
#define BIG_SIZE	(4 << 20)
#define BIG_SEED	91
#define IO_MS		30000
#define NCONN		8
#define SECRET		"TOP-SECRET-OUTSIDE-THE-ROOT\n"

static const char small_txt[] = "Hello from the tokio example.\nSecond line.\n";
static const char inner_txt[] = "inner file\n";

/* The example: $KAIO_SERVE_FILES, or /bin/kaio-serve-files. */
static const char *server(void)
{
	const char *p = getenv("KAIO_SERVE_FILES");

	return p && *p ? p : "/bin/kaio-serve-files";
}

static int connect_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (void *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/*
 * Reads one answer's header line: returns the size after "OK " (>= 0), or
 * -errno after "ERR ", or INT64_MIN if the line is neither (or missing).
 */
static long long read_head(int fd)
{
	char line[64];
	size_t n = 0;
	char *end;
	long long v;

	while (n < sizeof(line) - 1) {
		if (read_all_within(fd, line + n, 1, IO_MS) != 1)
			return INT64_MIN;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = 0;
	if (!strncmp(line, "OK ", 3)) {
		v = strtoll(line + 3, &end, 10);
		return *end || v < 0 ? INT64_MIN : v;
	}
	if (!strncmp(line, "ERR ", 4)) {
		v = strtoll(line + 4, &end, 10);
		return *end || v <= 0 ? INT64_MIN : -v;
	}
	return INT64_MIN;
}

/* Reads an "OK" body of @len bytes into a fresh buffer; NULL if short. */
static uint8_t *read_body(int fd, long long len)
{
	uint8_t *b = malloc(len ? len : 1);

	if (b && read_all_within(fd, b, len, IO_MS) != (size_t)len) {
		free(b);
		return NULL;
	}
	return b;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

FIXTURE(tokio) {
	char base[64];		/* /tmp/tokio_test.XXXXXX, holds secret.txt */
	char root[96];		/* base/root: what the example serves */
	char log[96];
	uint8_t *big;
	pid_t pid;
};

FIXTURE_SETUP(tokio)
{
	uint64_t want = KAIO_FEAT_SOCKET | KAIO_FEAT_STATX | KAIO_FEAT_IN_ROOT;
	struct kaio_version v = { 0 };
	long long end;
	char p[256];
	int fd, status;

	signal(SIGPIPE, SIG_IGN);
	if (access(server(), X_OK))
		SKIP(return, "%s missing: the Rust example was not built", server());
	fd = open(KAIO_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, KAIO_IOC_VERSION, &v) || (v.features & want) != want)
		SKIP(return, "the module lacks SEND/RECV, STATX or IN_ROOT");
	close(fd);

	strcpy(self->base, "/tmp/tokio_test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->base));
	snprintf(self->root, sizeof(self->root), "%s/root", self->base);
	snprintf(self->log, sizeof(self->log), "%s/serve.log", self->base);
	ASSERT_EQ(0, mkdir(self->root, 0755));
	snprintf(p, sizeof(p), "%s/secret.txt", self->base);
	write_file(p, SECRET);
	snprintf(p, sizeof(p), "%s/small.txt", self->root);
	write_file(p, small_txt);
	snprintf(p, sizeof(p), "%s/empty.txt", self->root);
	write_file(p, "");
	snprintf(p, sizeof(p), "%s/sub", self->root);
	ASSERT_EQ(0, mkdir(p, 0755));
	snprintf(p, sizeof(p), "%s/sub/inner.txt", self->root);
	write_file(p, inner_txt);
	/* Links that would lead out of the root, relative and absolute. */
	snprintf(p, sizeof(p), "%s/up", self->root);
	ASSERT_EQ(0, symlink("../secret.txt", p));
	snprintf(p, sizeof(p), "%s/abs", self->root);
	{
		char target[160];

		snprintf(target, sizeof(target), "%s/secret.txt", self->base);
		ASSERT_EQ(0, symlink(target, p));
	}
	self->big = malloc(BIG_SIZE);
	ASSERT_NE(NULL, self->big);
	for (size_t i = 0; i < BIG_SIZE; i++)
		self->big[i] = kaio_pattern(BIG_SEED, i);
	snprintf(p, sizeof(p), "%s/big.bin", self->root);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(BIG_SIZE, write(fd, self->big, BIG_SIZE));
	close(fd);

	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (!self->pid) {
		char addr[32];

		fd = open(self->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", PORT);
		execl(server(), "kaio-serve-files", self->root, addr, (char *)NULL);
		_exit(127);
	}
	end = now_ms() + 30000;
	while (now_ms() < end) {
		fd = connect_port();
		if (fd >= 0) {
			close(fd);
			return;
		}
		if (waitpid(self->pid, &status, WNOHANG) == self->pid) {
			char l[512] = "";

			read_str(self->log, l, sizeof(l));
			self->pid = 0;
			ASSERT_TRUE(false) TH_LOG("the example exited (status %#x): %s", status, l);
		}
		usleep(20000);
	}
	ASSERT_TRUE(false) TH_LOG("the example did not listen within 30 s");
}

FIXTURE_TEARDOWN(tokio)
{
	int status;

	if (self->pid > 0) {
		/* It must have survived every case. */
		EXPECT_EQ(0, waitpid(self->pid, &status, WNOHANG)) {
			char l[512] = "";

			read_str(self->log, l, sizeof(l));
			TH_LOG("the example died (status %#x): %s", status, l);
		}
		kill(self->pid, SIGKILL);
		waitpid(self->pid, &status, 0);
	}
	if (self->base[0])
		nftw(self->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(self->big);
}

/* One GET on @fd: expects the file @want of @len bytes, byte for byte. */
static bool get_ok(struct __test_metadata *_metadata, int fd, const char *path,
		   const void *want, long long len)
{
	char req[256];
	long long got;
	uint8_t *b;
	bool ok;

	snprintf(req, sizeof(req), "GET %s\n", path);
	if (send_str(fd, req))
		return false;
	got = read_head(fd);
	EXPECT_EQ(len, got) TH_LOG("GET %s", path);
	if (got != len)
		return false;
	b = read_body(fd, len);
	EXPECT_NE(NULL, b) TH_LOG("GET %s: short body", path);
	if (!b)
		return false;
	ok = !len || !memcmp(b, want, len);
	EXPECT_TRUE(ok) TH_LOG("GET %s: body differs", path);
	free(b);
	return ok;
}

/* One GET on @fd that must fail with exactly @err. */
static void get_err(struct __test_metadata *_metadata, int fd, const char *path, int err)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s\n", path);
	ASSERT_EQ(0, send_str(fd, req));
	EXPECT_EQ(-err, read_head(fd)) TH_LOG("GET %s", path);
}

/* Small, empty, nested and big files, several times (hot) on one connection. */
TEST_F_TIMEOUT(tokio, files_byte_for_byte, 120)
{
	int fd = connect_port();

	ASSERT_LE(0, fd);
	for (int round = 0; round < 3; round++) {
		EXPECT_TRUE(get_ok(_metadata, fd, "small.txt", small_txt, strlen(small_txt)));
		EXPECT_TRUE(get_ok(_metadata, fd, "big.bin", self->big, BIG_SIZE));
		EXPECT_TRUE(get_ok(_metadata, fd, "empty.txt", "", 0));
		EXPECT_TRUE(get_ok(_metadata, fd, "sub/inner.txt", inner_txt, strlen(inner_txt)));
		EXPECT_TRUE(get_ok(_metadata, fd, "/sub/../small.txt", small_txt, strlen(small_txt)));
	}
	close(fd);
}

/* Pipelined: three requests in one segment, three answers in order. */
TEST_F_TIMEOUT(tokio, pipelined, 60)
{
	int fd = connect_port();
	uint8_t *b;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_str(fd, "GET small.txt\nGET missing\nGET sub/inner.txt\n"));
	ASSERT_EQ((long long)strlen(small_txt), read_head(fd));
	b = read_body(fd, strlen(small_txt));
	ASSERT_NE(NULL, b);
	EXPECT_EQ(0, memcmp(b, small_txt, strlen(small_txt)));
	free(b);
	EXPECT_EQ(-ENOENT, read_head(fd));
	ASSERT_EQ((long long)strlen(inner_txt), read_head(fd));
	b = read_body(fd, strlen(inner_txt));
	ASSERT_NE(NULL, b);
	EXPECT_EQ(0, memcmp(b, inner_txt, strlen(inner_txt)));
	free(b);
	close(fd);
}

/*
 * Errors carry the exact errno, and nothing outside the root is served:
 * "..", absolute paths and links resolve inside it. The connection goes
 * on after each.
 */
TEST_F_TIMEOUT(tokio, errors_and_traversal, 60)
{
	char p[256];
	int fd = connect_port();

	ASSERT_LE(0, fd);
	get_err(_metadata, fd, "missing.txt", ENOENT);
	get_err(_metadata, fd, "../secret.txt", ENOENT);
	get_err(_metadata, fd, "sub/../../secret.txt", ENOENT);
	snprintf(p, sizeof(p), "%s/secret.txt", self->base);
	get_err(_metadata, fd, p, ENOENT);
	get_err(_metadata, fd, "up", ENOENT);
	get_err(_metadata, fd, "abs", ENOENT);
	get_err(_metadata, fd, "sub", EISDIR);
	get_err(_metadata, fd, "small.txt/x", ENOTDIR);
	get_err(_metadata, fd, "/proc/self/root/etc", ENOENT);
	/* Not a GET: EINVAL, and the connection still serves. */
	ASSERT_EQ(0, send_str(fd, "PUT small.txt\n"));
	EXPECT_EQ(-EINVAL, read_head(fd));
	EXPECT_TRUE(get_ok(_metadata, fd, "small.txt", small_txt, strlen(small_txt)));
	close(fd);
}

/*
 * Many connections at once, each asking for the big file and a small one
 * before any answer is read: the tasks' ops are in flight together on one
 * context, SENDFILEs parked on full sockets.
 */
TEST_F_TIMEOUT(tokio, concurrent_connections, 120)
{
	int fd[NCONN];

	for (int i = 0; i < NCONN; i++) {
		fd[i] = connect_port();
		ASSERT_LE(0, fd[i]);
		ASSERT_EQ(0, send_str(fd[i], i & 1 ? "GET small.txt\nGET big.bin\n"
					     : "GET big.bin\nGET small.txt\n"));
	}
	for (int i = NCONN - 1; i >= 0; i--) {
		for (int k = 0; k < 2; k++) {
			bool big = (i & 1) == k;
			long long len = big ? BIG_SIZE : (long long)strlen(small_txt);
			uint8_t *b;

			ASSERT_EQ(len, read_head(fd[i])) TH_LOG("connection %d answer %d", i, k);
			b = read_body(fd[i], len);
			ASSERT_NE(NULL, b) TH_LOG("connection %d answer %d", i, k);
			EXPECT_EQ(0, memcmp(b, big ? (void *)self->big : (void *)small_txt, len))
				TH_LOG("connection %d answer %d", i, k);
			free(b);
		}
		close(fd[i]);
	}
}

/* A client that goes away mid-body does not disturb the next ones. */
TEST_F_TIMEOUT(tokio, client_vanishes_mid_body, 60)
{
	int rcv = 4096;

	for (int i = 0; i < 4; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
		char head[32];

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ASSERT_LE(0, fd);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		ASSERT_EQ(0, connect(fd, (void *)&a, sizeof(a)));
		ASSERT_EQ(0, send_str(fd, "GET big.bin\n"));
		snprintf(head, sizeof(head), "OK %d\n", BIG_SIZE);
		{
			char got[32] = "";

			ASSERT_EQ(strlen(head), read_all_within(fd, got, strlen(head), IO_MS));
			EXPECT_EQ(0, memcmp(got, head, strlen(head)));
		}
		close(fd);
	}
	{
		int fd = connect_port();

		ASSERT_LE(0, fd);
		EXPECT_TRUE(get_ok(_metadata, fd, "big.bin", self->big, BIG_SIZE));
		EXPECT_TRUE(get_ok(_metadata, fd, "small.txt", small_txt, strlen(small_txt)));
		close(fd);
	}
}

/*
 * The crate's liveness checks, client/kaio/examples/tokio_check.rs
 * ($KAIO_TOKIO_CHECK, or /bin/kaio-tokio-check), against this module: a
 * completion reaches its task whichever futures are being polled, and the
 * cancelled requests of dropped futures never wedge the ring. It prints
 * TAP; each line is echoed here with "# ". It must exit 0 with its plan
 * "1..N" and N "ok" lines.
 */
FIXTURE(tokio_check) {
	int unused;
};

FIXTURE_SETUP(tokio_check)
{
}

FIXTURE_TEARDOWN(tokio_check)
{
}

TEST_F_TIMEOUT(tokio_check, liveness, 120)
{
	const char *prog = getenv("KAIO_TOKIO_CHECK");
	int p[2], status, plan = -1, ok = 0, bad = 0;
	char line[512];
	FILE *f;
	pid_t pid;

	if (!prog || !*prog)
		prog = "/bin/kaio-tokio-check";
	if (access(prog, X_OK))
		SKIP(return, "%s missing: the Rust example was not built", prog);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(prog, "kaio-tokio-check", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		printf("# %s\n", line);
		if (!strncmp(line, "1..0", 4))
			plan = 0;
		else if (sscanf(line, "1..%d", &plan) == 1)
			;
		else if (!strncmp(line, "ok ", 3))
			ok++;
		else if (!strncmp(line, "not ok ", 7))
			bad++;
	}
	fflush(stdout);
	fclose(f);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (plan == 0 && WIFEXITED(status) && !WEXITSTATUS(status))
		SKIP(return, "kaio-tokio-check skipped (the module lacks SEND/RECV)");
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("exit status %#x", status);
	EXPECT_LT(0, plan);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(plan, ok);
}

TEST_HARNESS_MAIN
