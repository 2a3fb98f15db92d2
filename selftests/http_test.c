// SPDX-License-Identifier: GPL-2.0
/*
 * `kaio serve`, the CLI's HTTP/1.1 static file server on kaio, seen from
 * the wire: each case starts /bin/kaio serve on a fresh directory in /tmp
 * (one worker, --idle 3) and talks to it with a small client of its own.
 * Bodies are compared byte for byte with the files, status lines and the
 * fields that matter (Content-Length, Content-Range, Content-Type,
 * Last-Modified, Connection, Allow) exactly; traversal attempts must never
 * return the bytes of a file outside the directory; a client that does
 * not read, one that goes away mid-body and idle connections must not
 * disturb the others; SIGTERM ends the server with status 0 (checked after
 * every case).
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
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define PORT		18080
#define BIG_SIZE	(1 << 20)
#define BIG_SEED	77
#define HUGE_SIZE	(16 << 20)
#define SECRET		"TOP-SECRET-OUTSIDE-THE-ROOT"
/* 1994-11-06 08:49:37 UTC, RFC 7231's example date. */
#define MTIME		784111777
#define MTIME_STR	"Sun, 06 Nov 1994 08:49:37 GMT"
#define IO_MS		30000

static const char small_txt[] = "Hello from kaio serve.\nSecond line.\n";
static const char index_html[] = "<!doctype html><title>kaio</title><p>index</p>\n";
static const char data_json[] = "{\"kaio\": [1, 2, 3]}\n";
static const char inner_css[] = "body { color: black; }\n";

/* The CLI: $KAIO_CLI, or /bin/kaio as the guest has it. */
static const char *cli(void)
{
	const char *p = getenv("KAIO_CLI");

	return p && *p ? p : "/bin/kaio";
}

/* ---- the client ---------------------------------------------------- */

struct resp {
	int status;
	char head[16384];	/* status line and fields, NUL-terminated */
	long long clen;		/* Content-Length, or -1 */
	unsigned char *body;
	size_t body_len;
};

/* A connection with its own read buffer (responses may be pipelined). */
struct conn {
	int fd;
	size_t have;
	unsigned char buf[65536];
};

static int conn_open(struct conn *c, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct timeval tv = { .tv_sec = IO_MS / 1000 };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->have = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (rcvbuf)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (void *)&a, sizeof(a))) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			return -1;
		p = (const char *)p + k;
		n -= k;
	}
	return 0;
}

static int send_str(struct conn *c, const char *s)
{
	return send_all(c->fd, s, strlen(s));
}

/* More bytes into the buffer; 0 at EOF, -1 on error or timeout. */
static ssize_t fill(struct conn *c)
{
	ssize_t k;

	if (c->have == sizeof(c->buf))
		return -1;
	k = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
	if (k > 0)
		c->have += k;
	return k < 0 ? -1 : k;
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->have - n);
	c->have -= n;
}

/* Value of field @name of @r (case-insensitive name), or NULL. */
static const char *field(const struct resp *r, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	const char *l = strstr(r->head, "\r\n");

	while (l && l[2]) {
		const char *s = l + 2, *e = strstr(s, "\r\n");

		if (!e)
			break;
		if ((size_t)(e - s) > n && !strncasecmp(s, name, n) && s[n] == ':') {
			const char *v = s + n + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = e - v;
			if (len >= size)
				len = size - 1;
			memcpy(out, v, len);
			out[len] = 0;
			return out;
		}
		l = e;
	}
	return NULL;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/*
 * Reads one response: the header, then Content-Length bytes of body
 * (none for a HEAD request, @head). Returns 0, or -1 if the stream ended
 * or failed first.
 */
static int read_resp(struct conn *c, struct resp *r, bool head)
{
	unsigned char *end;
	size_t hlen;
	char v[64];

	memset(r, 0, sizeof(*r));
	r->clen = -1;
	while (!(end = memmem(c->buf, c->have, "\r\n\r\n", 4)))
		if (fill(c) <= 0)
			return -1;
	hlen = end + 4 - c->buf;
	if (hlen >= sizeof(r->head))
		return -1;
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = 0;
	consume(c, hlen);
	if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		return -1;
	if (field(r, "Content-Length", v, sizeof(v)))
		r->clen = atoll(v);
	if (head || r->clen <= 0)
		return 0;
	r->body = malloc(r->clen);
	if (!r->body)
		return -1;
	while (r->body_len < (size_t)r->clen) {
		size_t k;

		if (!c->have && fill(c) <= 0)
			return -1;
		k = c->have < r->clen - r->body_len ? c->have : r->clen - r->body_len;
		memcpy(r->body + r->body_len, c->buf, k);
		r->body_len += k;
		consume(c, k);
	}
	return 0;
}

/*
 * Whether the server ends the connection within @ms: 1 for EOF (or a
 * reset), 0 if bytes came instead, -1 if it stayed open.
 */
static int closed_within(struct conn *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char b;
	ssize_t k;

	if (c->have)
		return 0;
	if (poll(&p, 1, ms) != 1)
		return -1;
	k = recv(c->fd, &b, 1, MSG_DONTWAIT);
	if (k == 0 || (k < 0 && errno == ECONNRESET))
		return 1;
	return k > 0 ? 0 : -1;
}

/* One request on a fresh connection; returns its response (and closes). */
static int one(const char *req, struct resp *r, bool head)
{
	struct conn *c = malloc(sizeof(*c));
	int ret = -1;

	if (c && !conn_open(c, 0) && !send_str(c, req))
		ret = read_resp(c, r, head);
	if (c)
		conn_close(c);
	free(c);
	return ret;
}

/* "GET @path HTTP/1.1" with Host, and @extra fields (each ending in CRLF). */
static char *get(const char *method, const char *path, const char *extra)
{
	static char b[4][4096];
	static int i;
	char *s = b[i++ % 4];

	snprintf(s, sizeof(b[0]), "%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n",
		 method, path, extra ? extra : "");
	return s;
}

/* ---- the served directory and the server --------------------------- */

static uint8_t *big_bytes(void)
{
	uint8_t *b = malloc(BIG_SIZE);

	for (size_t i = 0; b && i < BIG_SIZE; i++)
		b[i] = kaio_pattern(BIG_SEED, i);
	return b;
}

/* huge.bin: 16 copies of big.bin's bytes, each starting with its index. */
static void huge_chunk(uint8_t *dst, const uint8_t *big, uint64_t k)
{
	memcpy(dst, big, BIG_SIZE);
	memcpy(dst, &k, sizeof(k));
}

static int put(const char *dir, const char *name, const void *data, size_t len)
{
	char p[512];
	int fd;
	struct timespec ts[2] = { { MTIME, 0 }, { MTIME, 0 } };

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (len && write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	if (futimens(fd, ts)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

FIXTURE(http) {
	char base[64];		/* /tmp/http_test.XXXXXX */
	char www[96];		/* base/www: the served directory */
	char log[96];		/* the server's stderr */
	uint8_t *big;
	pid_t pid;
};

/*
 * Starts the server on @dir (@workers workers, --idle 3, and the option
 * @opt with @val if not NULL); waits until it accepts.
 */
static int start(struct __test_metadata *_metadata, FIXTURE_DATA(http) *self,
		 const char *dir, const char *workers, const char *opt, const char *val)
{
	char addr[32];
	long long end = now_ms() + 30000;
	struct conn c;
	int status;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", PORT);
	self->pid = fork();
	if (self->pid < 0)
		return -1;
	if (!self->pid) {
		int fd = open(self->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		sigset_t none;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(cli(), "kaio", "serve", dir, "--listen", addr, "--workers", workers,
		      "--idle", "3", opt, val, (char *)NULL);
		_exit(127);
	}
	while (now_ms() < end) {
		if (!conn_open(&c, 0)) {
			conn_close(&c);
			return 0;
		}
		if (waitpid(self->pid, &status, WNOHANG) == self->pid) {
			char l[512] = "";

			read_str(self->log, l, sizeof(l));
			TH_LOG("kaio serve exited (status %#x): %s", status, l);
			self->pid = 0;
			return -1;
		}
		usleep(20000);
	}
	return -1;
}

/* SIGTERM; returns the exit status (-1 if it did not exit within 20 s). */
static int stop(FIXTURE_DATA(http) *self)
{
	int status;

	if (self->pid <= 0)
		return -1;
	kill(self->pid, SIGTERM);
	if (waitpid_within(self->pid, &status, 20000) != self->pid) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, &status, 0);
		self->pid = 0;
		return -1;
	}
	self->pid = 0;
	return status;
}

FIXTURE_SETUP(http)
{
	struct kaio_version v = { 0 };
	uint64_t want = KAIO_FEAT_SOCKET | KAIO_FEAT_STATX | KAIO_FEAT_IN_ROOT;
	char p[256], l[512] = "", expect[256];
	int fd;

	signal(SIGPIPE, SIG_IGN);
	if (access(cli(), X_OK))
		SKIP(return, "%s missing: no kaio CLI in this guest", cli());
	fd = open(KAIO_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, KAIO_IOC_VERSION, &v) || (v.features & want) != want)
		SKIP(return, "the module lacks SEND/RECV, STATX or IN_ROOT (features %#llx)",
		     (unsigned long long)v.features);
	close(fd);

	strcpy(self->base, "/tmp/http_test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->base));
	snprintf(self->www, sizeof(self->www), "%s/www", self->base);
	snprintf(self->log, sizeof(self->log), "%s/serve.log", self->base);
	ASSERT_EQ(0, mkdir(self->www, 0755));
	self->big = big_bytes();
	ASSERT_NE(NULL, self->big);
	ASSERT_EQ(0, put(self->www, "small.txt", small_txt, strlen(small_txt)));
	ASSERT_EQ(0, put(self->www, "index.html", index_html, strlen(index_html)));
	ASSERT_EQ(0, put(self->www, "data.json", data_json, strlen(data_json)));
	ASSERT_EQ(0, put(self->www, "empty.txt", "", 0));
	ASSERT_EQ(0, put(self->www, "big.bin", self->big, BIG_SIZE));
	snprintf(p, sizeof(p), "%s/sub", self->www);
	ASSERT_EQ(0, mkdir(p, 0755));
	ASSERT_EQ(0, put(self->www, "sub/inner.css", inner_css, strlen(inner_css)));
	ASSERT_EQ(0, put(self->base, "secret.txt", SECRET "\n", strlen(SECRET) + 1));
	/* Symbolic links: inside (followed), and out (must stay inside). */
	snprintf(p, sizeof(p), "%s/alias.txt", self->www);
	ASSERT_EQ(0, symlink("small.txt", p));
	snprintf(p, sizeof(p), "%s/link_rel", self->www);
	ASSERT_EQ(0, symlink("../secret.txt", p));
	snprintf(p, sizeof(p), "%s/link_deep", self->www);
	ASSERT_EQ(0, symlink("sub/../../../../secret.txt", p));
	snprintf(p, sizeof(p), "%s/link_abs", self->www);
	snprintf(l, sizeof(l), "%s/secret.txt", self->base);
	ASSERT_EQ(0, symlink(l, p));
	snprintf(p, sizeof(p), "%s/up", self->www);
	ASSERT_EQ(0, symlink("..", p));
	ASSERT_EQ(0, start(_metadata, self, self->www, "1", NULL, NULL));
	snprintf(expect, sizeof(expect), "kaio serve: %s on 127.0.0.1:%d, 1 workers",
		 self->www, PORT);
	l[0] = 0;
	read_str(self->log, l, sizeof(l));
	EXPECT_NE(NULL, strstr(l, expect)) TH_LOG("startup line: %s", l);
}

FIXTURE_TEARDOWN(http)
{
	if (self->pid > 0) {
		int status = stop(self);

		EXPECT_EQ(0, status) TH_LOG("kaio serve did not exit 0 on SIGTERM (status %#x)", status);
	}
	if (self->base[0])
		nftw(self->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(self->big);
}

/* A response's status, Content-Length and body, and a field, exactly. */
/* Whether @r's body is exactly @len bytes equal to @b. */
static bool body_is(const struct resp *r, const void *b, size_t len)
{
	return r->body_len == len && (!len || !memcmp(b, r->body, len));
}

#define EXPECT_HDR(r, st_, len_) do {						\
		EXPECT_EQ(st_, (r)->status) TH_LOG("%s", (r)->head);		\
		EXPECT_EQ((long long)(len_), (r)->clen);			\
	} while (0)
#define EXPECT_RESP(r, st_, b_, len_) do {					\
		EXPECT_HDR(r, st_, len_);					\
		EXPECT_TRUE(body_is(r, b_, len_)) TH_LOG("body of %zu bytes differs", (r)->body_len); \
	} while (0)
#define EXPECT_FIELD(r, name, want) do {					\
		char __v[256];							\
		const char *__f = field(r, name, __v, sizeof(__v));		\
		EXPECT_NE(NULL, __f) TH_LOG("no %s in %s", name, (r)->head);	\
		if (__f)							\
			EXPECT_STREQ(want, __f);				\
	} while (0)
#define EXPECT_NO_FIELD(r, name) do {						\
		char __v[256];							\
		EXPECT_EQ(NULL, field(r, name, __v, sizeof(__v))) TH_LOG("%s", (r)->head); \
	} while (0)

/* GET of small files: body, Content-Type by extension, Last-Modified. */
TEST_F(http, get_small_files)
{
	static const struct { const char *path, *body, *type; } f[] = {
		{ "/small.txt", small_txt, "text/plain; charset=utf-8" },
		{ "/index.html", index_html, "text/html; charset=utf-8" },
		{ "/data.json", data_json, "application/json" },
		{ "/sub/inner.css", inner_css, "text/css" },
		{ "/alias.txt", small_txt, "text/plain; charset=utf-8" },	/* symlink inside */
		{ "/sub/../small.txt?x=1", NULL, NULL },			/* '..': 400 */
		{ "/s%6dall.txt?q=../..", small_txt, "text/plain; charset=utf-8" },
		{ "//sub//./inner.css", inner_css, "text/css" },
		{ "/empty.txt", "", "text/plain; charset=utf-8" },
	};
	struct resp r;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		ASSERT_EQ(0, one(get("GET", f[i].path, NULL), &r, false)) TH_LOG("%s", f[i].path);
		if (!f[i].body) {
			EXPECT_EQ(400, r.status);
			resp_free(&r);
			continue;
		}
		EXPECT_RESP(&r, 200, f[i].body, strlen(f[i].body));
		EXPECT_FIELD(&r, "Content-Type", f[i].type);
		EXPECT_FIELD(&r, "Last-Modified", MTIME_STR);
		EXPECT_FIELD(&r, "Accept-Ranges", "bytes");
		EXPECT_NO_FIELD(&r, "Connection");
		EXPECT_NE(NULL, field(&r, "Date", (char[64]){ 0 }, 64));
		resp_free(&r);
	}
}

/* GET of 1 MiB: every byte; and twice more (the page cache is hot). */
TEST_F(http, get_1mib)
{
	struct resp r;

	for (int i = 0; i < 3; i++) {
		if (i == 0)
			kaio_drop_caches("3");
		ASSERT_EQ(0, one(get("GET", "/big.bin", NULL), &r, false));
		EXPECT_RESP(&r, 200, self->big, BIG_SIZE);
		EXPECT_FIELD(&r, "Content-Type", "application/octet-stream");
		resp_free(&r);
	}
}

/*
 * Keep-alive: HTTP/1.1 keeps the connection by default, "Connection:
 * close" ends it after the answer; HTTP/1.0 ends it unless asked to
 * keep it.
 */
TEST_F(http, keep_alive)
{
	struct conn *c = malloc(sizeof(*c));
	struct resp r;

	ASSERT_EQ(0, conn_open(c, 0));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, send_str(c, get("GET", i == 1 ? "/big.bin" : "/small.txt", NULL)));
		ASSERT_EQ(0, read_resp(c, &r, false));
		if (i == 1) {
			EXPECT_RESP(&r, 200, self->big, BIG_SIZE);
		} else {
			EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
		}
		resp_free(&r);
	}
	ASSERT_EQ(0, send_str(c, get("GET", "/data.json", "Connection: close\r\n")));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, data_json, strlen(data_json));
	EXPECT_FIELD(&r, "Connection", "close");
	resp_free(&r);
	EXPECT_EQ(1, closed_within(c, 10000));
	conn_close(c);

	/* HTTP/1.0 without keep-alive: closed after the answer. */
	ASSERT_EQ(0, conn_open(c, 0));
	ASSERT_EQ(0, send_str(c, "GET /small.txt HTTP/1.0\r\n\r\n"));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	EXPECT_FIELD(&r, "Connection", "close");
	resp_free(&r);
	EXPECT_EQ(1, closed_within(c, 10000));
	conn_close(c);

	/* HTTP/1.0 with keep-alive: kept, and said so. */
	ASSERT_EQ(0, conn_open(c, 0));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, send_str(c, "GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
		ASSERT_EQ(0, read_resp(c, &r, false));
		EXPECT_RESP(&r, 200, index_html, strlen(index_html));
		EXPECT_FIELD(&r, "Connection", "keep-alive");
		resp_free(&r);
	}
	EXPECT_EQ(-1, closed_within(c, 300));
	conn_close(c);
	free(c);
}

/*
 * Pipelining: three requests in one write, answered in order; then two
 * more with the second header split over two writes.
 */
TEST_F(http, pipelined)
{
	struct conn *c = malloc(sizeof(*c));
	char req[4096];
	struct resp r;

	ASSERT_EQ(0, conn_open(c, 0));
	snprintf(req, sizeof(req), "%s%s%s", get("GET", "/small.txt", NULL),
		 get("GET", "/big.bin", NULL), get("HEAD", "/index.html", NULL));
	ASSERT_EQ(0, send_str(c, req));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	resp_free(&r);
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, self->big, BIG_SIZE);
	resp_free(&r);
	ASSERT_EQ(0, read_resp(c, &r, true));
	EXPECT_HDR(&r, 200, strlen(index_html));
	EXPECT_FIELD(&r, "Content-Type", "text/html; charset=utf-8");

	snprintf(req, sizeof(req), "%s%s", get("GET", "/data.json", NULL),
		 get("GET", "/sub/inner.css", "Connection: close\r\n"));
	ASSERT_EQ(0, send_all(c->fd, req, strlen(req) - 20));
	usleep(200 * 1000);
	ASSERT_EQ(0, send_str(c, req + strlen(req) - 20));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, data_json, strlen(data_json));
	resp_free(&r);
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, inner_css, strlen(inner_css));
	resp_free(&r);
	EXPECT_EQ(1, closed_within(c, 10000));
	conn_close(c);

	/* Two requests, then the client shuts its side: both answered. */
	ASSERT_EQ(0, conn_open(c, 0));
	snprintf(req, sizeof(req), "%s%s", get("GET", "/index.html", NULL), get("GET", "/big.bin", NULL));
	ASSERT_EQ(0, send_str(c, req));
	ASSERT_EQ(0, shutdown(c->fd, SHUT_WR));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, index_html, strlen(index_html));
	resp_free(&r);
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, self->big, BIG_SIZE);
	resp_free(&r);
	EXPECT_EQ(1, closed_within(c, 10000));
	conn_close(c);
	free(c);
}

/* HEAD: the GET's header, no body; the connection stays in step. */
TEST_F(http, head)
{
	struct conn *c = malloc(sizeof(*c));
	struct resp r;

	ASSERT_EQ(0, conn_open(c, 0));
	ASSERT_EQ(0, send_str(c, get("HEAD", "/big.bin", NULL)));
	ASSERT_EQ(0, read_resp(c, &r, true));
	EXPECT_HDR(&r, 200, BIG_SIZE);
	EXPECT_FIELD(&r, "Content-Type", "application/octet-stream");
	EXPECT_FIELD(&r, "Last-Modified", MTIME_STR);
	/* Range is for GET only: HEAD ignores it. */
	ASSERT_EQ(0, send_str(c, get("HEAD", "/small.txt", "Range: bytes=0-1\r\n")));
	ASSERT_EQ(0, read_resp(c, &r, true));
	EXPECT_HDR(&r, 200, strlen(small_txt));
	ASSERT_EQ(0, send_str(c, get("HEAD", "/nope", NULL)));
	ASSERT_EQ(0, read_resp(c, &r, true));
	EXPECT_HDR(&r, 404, strlen("404 Not Found\n"));
	/* Had any body come, this would read it as a status line. */
	ASSERT_EQ(0, send_str(c, get("GET", "/small.txt", NULL)));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	resp_free(&r);
	EXPECT_EQ(0, c->have);
	conn_close(c);
	free(c);
}

/* Single byte ranges: 206 with the exact bytes and Content-Range. */
TEST_F(http, range_206)
{
	static const struct { const char *spec; long long first, last; } t[] = {
		{ "bytes=0-0", 0, 0 },
		{ "bytes=1000-1999", 1000, 1999 },
		{ "bytes=1048000-", 1048000, BIG_SIZE - 1 },
		{ "bytes=-100", BIG_SIZE - 100, BIG_SIZE - 1 },
		{ "bytes=4095-4096", 4095, 4096 },
		{ "bytes=1048000-2000000", 1048000, BIG_SIZE - 1 },
		{ "bytes=-2000000", 0, BIG_SIZE - 1 },
	};
	char extra[128], want[128];
	struct resp r;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		long long n = t[i].last - t[i].first + 1;

		snprintf(extra, sizeof(extra), "Range: %s\r\n", t[i].spec);
		ASSERT_EQ(0, one(get("GET", "/big.bin", extra), &r, false)) TH_LOG("%s", t[i].spec);
		EXPECT_RESP(&r, 206, self->big + t[i].first, n);
		snprintf(want, sizeof(want), "bytes %lld-%lld/%d", t[i].first, t[i].last, BIG_SIZE);
		EXPECT_FIELD(&r, "Content-Range", want);
		resp_free(&r);
	}
	/* Ignored: several ranges, another unit, last < first: the whole file. */
	for (int i = 0; i < 3; i++) {
		static const char *const ign[] = { "bytes=0-1,5-6", "items=0-1", "bytes=9-5" };

		snprintf(extra, sizeof(extra), "Range: %s\r\n", ign[i]);
		ASSERT_EQ(0, one(get("GET", "/small.txt", extra), &r, false));
		EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
		EXPECT_NO_FIELD(&r, "Content-Range");
		resp_free(&r);
	}
}

/* Unsatisfiable ranges: 416 with "bytes * /size"; the connection goes on. */
TEST_F(http, range_416)
{
	struct conn *c = malloc(sizeof(*c));
	struct resp r;
	char want[64];

	ASSERT_EQ(0, conn_open(c, 0));
	ASSERT_EQ(0, send_str(c, get("GET", "/big.bin", "Range: bytes=1048576-\r\n")));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_HDR(&r, 416, 0);
	snprintf(want, sizeof(want), "bytes */%d", BIG_SIZE);
	EXPECT_FIELD(&r, "Content-Range", want);
	ASSERT_EQ(0, send_str(c, get("GET", "/big.bin", "Range: bytes=-0\r\n")));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_HDR(&r, 416, 0);
	EXPECT_FIELD(&r, "Content-Range", want);
	ASSERT_EQ(0, send_str(c, get("GET", "/empty.txt", "Range: bytes=0-\r\n")));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_HDR(&r, 416, 0);
	EXPECT_FIELD(&r, "Content-Range", "bytes */0");
	ASSERT_EQ(0, send_str(c, get("GET", "/small.txt", "Range: bytes=5-9\r\n")));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 206, small_txt + 5, 5);
	resp_free(&r);
	conn_close(c);
	free(c);
}

/* 404 for what is not there, 403 for directories; connection kept. */
TEST_F(http, not_found_and_forbidden)
{
	static const struct { const char *path; int status; } t[] = {
		{ "/nope.txt", 404 }, { "/sub/nope", 404 }, { "/nope/deeper", 404 },
		{ "/small.txt/", 404 },		/* ENOTDIR */
		{ "/small.txt/x", 404 },
		{ "/", 403 }, { "/sub", 403 }, { "/sub/", 403 }, { "/up", 403 },
		{ "/small.txt", 200 },
	};
	struct conn *c = malloc(sizeof(*c));
	struct resp r;
	char body[64];

	ASSERT_EQ(0, conn_open(c, 0));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ASSERT_EQ(0, send_str(c, get("GET", t[i].path, NULL)));
		ASSERT_EQ(0, read_resp(c, &r, false)) TH_LOG("%s", t[i].path);
		EXPECT_EQ(t[i].status, r.status) TH_LOG("%s: %s", t[i].path, r.head);
		snprintf(body, sizeof(body), "%d %s\n", t[i].status,
			 t[i].status == 404 ? "Not Found" : "Forbidden");
		if (t[i].status != 200) {
			EXPECT_RESP(&r, t[i].status, body, strlen(body));
		}
		resp_free(&r);
	}
	conn_close(c);
	free(c);
}

/* Other methods: 405 with Allow; the connection goes on. */
TEST_F(http, method_not_allowed)
{
	static const char *const m[] = { "POST", "PUT", "DELETE", "OPTIONS", "get" };
	struct conn *c = malloc(sizeof(*c));
	struct resp r;

	ASSERT_EQ(0, conn_open(c, 0));
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		ASSERT_EQ(0, send_str(c, get(m[i], "/small.txt", NULL)));
		ASSERT_EQ(0, read_resp(c, &r, false));
		EXPECT_RESP(&r, 405, "405 Method Not Allowed\n", 23);
		EXPECT_FIELD(&r, "Allow", "GET, HEAD");
		resp_free(&r);
	}
	ASSERT_EQ(0, send_str(c, get("GET", "/small.txt", NULL)));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	resp_free(&r);
	/* With a body the server does not read: answered, then closed. */
	ASSERT_EQ(0, send_str(c, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 405, "405 Method Not Allowed\n", 23);
	EXPECT_FIELD(&r, "Connection", "close");
	resp_free(&r);
	EXPECT_EQ(1, closed_within(c, 10000));
	conn_close(c);
	free(c);
}

/* Malformed requests: 400 (505 for HTTP/2.0), then the connection ends. */
TEST_F(http, bad_requests)
{
	static const struct { const char *req; int status; } t[] = {
		{ "GARBAGE\r\n\r\n", 400 },
		{ "GET /small.txt\r\n\r\n", 400 },
		{ "GET small.txt HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET /small.txt% HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET /small.txt%00.html HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET /small.txt HTTP/1.1\r\n\r\n", 400 },		/* no Host */
		{ "GET /small.txt HTTP/1.1\r\nHost: h\r\nBad Field: x\r\n\r\n", 400 },
		{ "GET /small.txt HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400 },
		{ "GET /small.txt HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n", 400 },
		{ "GET /small.txt HTTP/9.9\r\nHost: h\r\n\r\n", 505 },
		{ "GET /small.txt FTP/1.0\r\n\r\n", 400 },
	};
	struct conn *c = malloc(sizeof(*c));
	struct resp r;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ASSERT_EQ(0, conn_open(c, 0));
		ASSERT_EQ(0, send_str(c, t[i].req));
		ASSERT_EQ(0, read_resp(c, &r, false)) TH_LOG("%s", t[i].req);
		EXPECT_EQ(t[i].status, r.status) TH_LOG("%s -> %s", t[i].req, r.head);
		EXPECT_FIELD(&r, "Connection", "close");
		resp_free(&r);
		EXPECT_EQ(1, closed_within(c, 10000)) TH_LOG("%s", t[i].req);
		conn_close(c);
	}
	free(c);
}

/*
 * Ways out of the directory: '..' in any spelling is refused (400);
 * symbolic links resolve inside it (404: the outside file is not there).
 * No answer may hold the outside file's bytes.
 */
TEST_F(http, traversal)
{
	static const struct { const char *path; int status; } t[] = {
		{ "/../secret.txt", 400 },
		{ "/%2e%2e/secret.txt", 400 },
		{ "/%2E%2E/secret.txt", 400 },
		{ "/sub/%2F../../secret.txt", 400 },
		{ "/sub/..%2F..%2Fsecret.txt", 400 },
		{ "/sub%2F..%2F..%2Fsecret.txt", 400 },
		{ "/./../secret.txt", 400 },
		{ "/sub/../../secret.txt", 400 },
		{ "http://localhost/../secret.txt", 400 },
		{ "/link_rel", 404 },		/* -> ../secret.txt */
		{ "/link_deep", 404 },		/* -> sub/../../../../secret.txt */
		{ "/link_abs", 404 },		/* -> /tmp/http_test.X/secret.txt */
		{ "/up/secret.txt", 404 },	/* up -> .. */
		{ "/up/up/up/secret.txt", 404 },
		{ "//tmp/secret.txt", 404 },
		{ "/secret.txt", 404 },
	};
	struct resp r;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ASSERT_EQ(0, one(get("GET", t[i].path, NULL), &r, false)) TH_LOG("%s", t[i].path);
		EXPECT_EQ(t[i].status, r.status) TH_LOG("%s: %s", t[i].path, r.head);
		EXPECT_EQ(NULL, memmem(r.head, strlen(r.head), SECRET, strlen(SECRET)));
		if (r.body) {
			EXPECT_EQ(NULL, memmem(r.body, r.body_len, SECRET, strlen(SECRET)))
				TH_LOG("%s returned the outside file", t[i].path);
		}
		EXPECT_NE((long long)strlen(SECRET) + 1, r.clen);
		resp_free(&r);
	}
}

/*
 * A header larger than the 8 KiB buffer: 414 when even the request line
 * does not fit, 431 when the fields do not; then the connection ends
 * (after the answer, which the client can read).
 */
TEST_F(http, request_too_large)
{
	struct conn *c = malloc(sizeof(*c));
	size_t n = 20000;
	char *req = malloc(n + 128);
	struct resp r;

	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', n);
	strcpy(req + 5 + n, " HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_EQ(0, conn_open(c, 0));
	ASSERT_EQ(0, send_str(c, req));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 414, "414 URI Too Long\n", 17);
	EXPECT_FIELD(&r, "Connection", "close");
	resp_free(&r);
	EXPECT_EQ(1, closed_within(c, 10000));
	conn_close(c);

	strcpy(req, "GET /small.txt HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(req + strlen(req), 'b', n);
	strcpy(req + strlen("GET /small.txt HTTP/1.1\r\nHost: h\r\nX-Big: ") + n, "\r\n\r\n");
	ASSERT_EQ(0, conn_open(c, 0));
	ASSERT_EQ(0, send_str(c, req));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 431, "431 Request Header Fields Too Large\n", 36);
	resp_free(&r);
	EXPECT_EQ(1, closed_within(c, 10000));
	conn_close(c);

	/* Just under the buffer (8 KiB with the request line): served. */
	n = 8192 - strlen("GET /small.txt HTTP/1.1\r\nHost: h\r\nX-Big: ") - 4;
	strcpy(req, "GET /small.txt HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(req + strlen(req), 'b', n);
	strcpy(req + strlen("GET /small.txt HTTP/1.1\r\nHost: h\r\nX-Big: ") + n, "\r\n\r\n");
	ASSERT_EQ(8192, strlen(req));
	ASSERT_EQ(0, conn_open(c, 0));
	ASSERT_EQ(0, send_str(c, req));
	ASSERT_EQ(0, read_resp(c, &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	resp_free(&r);
	conn_close(c);
	free(req);
	free(c);
}

/* Writes huge.bin (HUGE_SIZE) into the served directory. */
static int put_huge(FIXTURE_DATA(http) *self)
{
	char p[256];
	uint8_t *chunk = malloc(BIG_SIZE);
	int fd, ret = 0;

	snprintf(p, sizeof(p), "%s/huge.bin", self->www);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !chunk)
		return -1;
	for (uint64_t k = 0; k < HUGE_SIZE / BIG_SIZE; k++) {
		huge_chunk(chunk, self->big, k);
		if (write(fd, chunk, BIG_SIZE) != BIG_SIZE)
			ret = -1;
	}
	free(chunk);
	close(fd);
	return ret;
}

/* Reads the body of huge.bin from @c (header already read) and checks it. */
static long long read_huge(struct conn *c, const uint8_t *big)
{
	uint8_t *chunk = malloc(BIG_SIZE), *got = malloc(BIG_SIZE);
	long long bad = -1;

	for (uint64_t k = 0; k < HUGE_SIZE / BIG_SIZE && bad < 0; k++) {
		size_t n = 0;

		huge_chunk(chunk, big, k);
		while (n < BIG_SIZE) {
			size_t m;

			if (!c->have && fill(c) <= 0) {
				bad = k * BIG_SIZE + n;
				break;
			}
			m = c->have < BIG_SIZE - n ? c->have : BIG_SIZE - n;
			memcpy(got + n, c->buf, m);
			consume(c, m);
			n += m;
		}
		if (bad < 0 && memcmp(got, chunk, BIG_SIZE))
			bad = k * BIG_SIZE;
	}
	free(chunk);
	free(got);
	return bad;
}

/*
 * A client that does not read a 16 MiB file: its transfer parks in the
 * kernel on the full socket; another client is served meanwhile; then
 * the first reads everything, exact.
 */
TEST_F_TIMEOUT(http, slow_reader_does_not_block_others, 120)
{
	struct conn *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	long long parks = kaio_stat("sendfile_out_parks"), t0;
	struct resp r;

	ASSERT_EQ(0, put_huge(self));
	ASSERT_EQ(0, conn_open(a, 16384));
	ASSERT_EQ(0, send_str(a, get("GET", "/huge.bin", NULL)));
	usleep(500 * 1000);
	t0 = now_ms();
	ASSERT_EQ(0, conn_open(b, 0));
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(0, send_str(b, get("GET", i & 1 ? "/big.bin" : "/small.txt", NULL)));
		ASSERT_EQ(0, read_resp(b, &r, false));
		if (i & 1) {
			EXPECT_RESP(&r, 200, self->big, BIG_SIZE);
		} else {
			EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
		}
		resp_free(&r);
	}
	TH_LOG("other client served in %lld ms while the first does not read", now_ms() - t0);
	if (parks >= 0) {
		EXPECT_LT(parks, kaio_stat("sendfile_out_parks"));
	}
	conn_close(b);
	/* Now the slow client reads it all. */
	ASSERT_EQ(0, read_resp(a, &r, true));
	EXPECT_EQ(200, r.status);
	EXPECT_EQ(HUGE_SIZE, r.clen);
	EXPECT_EQ(-1, read_huge(a, self->big));
	/* Its connection is still good. */
	ASSERT_EQ(0, send_str(a, get("GET", "/small.txt", NULL)));
	ASSERT_EQ(0, read_resp(a, &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	resp_free(&r);
	conn_close(a);
	free(a);
	free(b);
}

/*
 * Clients that go away mid-body (close with unread data: a reset; a
 * reset by SO_LINGER 0; a close before any byte): the server ends those
 * connections and serves the next client.
 */
TEST_F_TIMEOUT(http, client_disconnects_mid_body, 120)
{
	struct conn *a = malloc(sizeof(*a));
	struct resp r;
	char buf[65536];

	ASSERT_EQ(0, put_huge(self));
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(0, conn_open(a, 16384));
		ASSERT_EQ(0, send_str(a, get("GET", "/huge.bin", NULL)));
		if (i % 3 != 2) {
			size_t got = 0;

			while (got < 200000) {
				ssize_t k = recv(a->fd, buf, sizeof(buf), 0);

				ASSERT_LT(0, k);
				got += k;
			}
		}
		if (i % 3 == 1) {
			struct linger l = { 1, 0 };

			setsockopt(a->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		conn_close(a);
		ASSERT_EQ(0, one(get("GET", "/small.txt", NULL), &r, false)) TH_LOG("round %d", i);
		EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
		resp_free(&r);
	}
	/* Mid-header too. */
	ASSERT_EQ(0, conn_open(a, 0));
	ASSERT_EQ(0, send_str(a, "GET /small.txt HTTP/1.1\r\nHo"));
	conn_close(a);
	ASSERT_EQ(0, one(get("GET", "/big.bin", NULL), &r, false));
	EXPECT_RESP(&r, 200, self->big, BIG_SIZE);
	resp_free(&r);
	free(a);
}

/*
 * Idle connections end after --idle (3 s): before a first request, in the
 * middle of a header, and between requests.
 */
TEST_F(http, idle_timeout)
{
	struct conn *c = calloc(3, sizeof(*c));
	struct resp r;
	long long t0;

	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, conn_open(&c[i], 0));
	}
	t0 = now_ms();
	ASSERT_EQ(0, send_str(&c[1], "GET /small.txt HTTP/1.1\r\n"));
	ASSERT_EQ(0, send_str(&c[2], get("GET", "/small.txt", NULL)));
	ASSERT_EQ(0, read_resp(&c[2], &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	resp_free(&r);
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(-1, closed_within(&c[i], 300)) TH_LOG("connection %d", i);
	}
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(1, closed_within(&c[i], 15000)) TH_LOG("connection %d", i);
		if (i == 0) {
			TH_LOG("first idle connection closed after %lld ms", now_ms() - t0);
			EXPECT_LE(2500, now_ms() - t0);
		}
		conn_close(&c[i]);
	}
	free(c);
}

/*
 * SIGTERM with connections idle, mid-header and parked on a client that
 * does not read: exit status 0, every connection ended, nothing listening.
 */
TEST_F_TIMEOUT(http, sigterm_exits_0, 120)
{
	struct conn *c = calloc(3, sizeof(*c));
	int status;
	long long t0;

	ASSERT_EQ(0, put_huge(self));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, conn_open(&c[i], 16384));
	}
	ASSERT_EQ(0, send_str(&c[1], "GET /small.txt HTTP/1.1\r\n"));
	ASSERT_EQ(0, send_str(&c[2], get("GET", "/huge.bin", NULL)));
	usleep(500 * 1000);
	t0 = now_ms();
	status = stop(self);
	EXPECT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
	TH_LOG("exited in %lld ms", now_ms() - t0);
	for (int i = 0; i < 2; i++) {
		EXPECT_EQ(1, closed_within(&c[i], 5000)) TH_LOG("connection %d", i);
		conn_close(&c[i]);
	}
	/* The parked one: its bytes, then the end (EOF or reset), no hang. */
	for (;;) {
		ssize_t k = recv(c[2].fd, c[2].buf, sizeof(c[2].buf), 0);

		if (k <= 0) {
			EXPECT_TRUE(k == 0 || errno == ECONNRESET) TH_LOG("recv: %zd %m", k);
			break;
		}
	}
	conn_close(&c[2]);
	EXPECT_NE(0, conn_open(&c[0], 0));
	EXPECT_EQ(ECONNREFUSED, errno);
	free(c);
}

/*
 * --max-conn 2: a third connection waits in the listen backlog, unserved,
 * until one of the first two ends; then it is served.
 */
TEST_F(http, max_conn)
{
	struct conn *c = calloc(3, sizeof(*c));
	struct resp r;

	ASSERT_EQ(0, stop(self));
	ASSERT_EQ(0, start(_metadata, self, self->www, "1", "--max-conn", "2"));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, conn_open(&c[i], 0));
		ASSERT_EQ(0, send_str(&c[i], get("GET", "/small.txt", NULL)));
		ASSERT_EQ(0, read_resp(&c[i], &r, false));
		EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
		resp_free(&r);
	}
	ASSERT_EQ(0, conn_open(&c[2], 0));
	ASSERT_EQ(0, send_str(&c[2], get("GET", "/index.html", NULL)));
	EXPECT_EQ(-1, closed_within(&c[2], 1000));
	conn_close(&c[0]);
	ASSERT_EQ(0, read_resp(&c[2], &r, false));
	EXPECT_RESP(&r, 200, index_html, strlen(index_html));
	resp_free(&r);
	/* The second one was served all along. */
	ASSERT_EQ(0, send_str(&c[1], get("GET", "/data.json", NULL)));
	ASSERT_EQ(0, read_resp(&c[1], &r, false));
	EXPECT_RESP(&r, 200, data_json, strlen(data_json));
	resp_free(&r);
	conn_close(&c[1]);
	conn_close(&c[2]);
	free(c);
}

/*
 * Files on the ext4 scratch disk with the page cache, dentries and inodes
 * dropped: the lookups miss and the data is cold. Every byte arrives; the
 * data came from the disk without a kaio worker waiting for it.
 */
TEST_F_TIMEOUT(http, cold_files_on_disk, 120)
{
	long long waits, disk;
	char dir[128], p[256];
	struct resp r;

	if (access(KAIO_SCRATCH, W_OK))
		SKIP(return, "no scratch disk at %s", KAIO_SCRATCH);
	snprintf(dir, sizeof(dir), "%s/http_test.%d", KAIO_SCRATCH, getpid());
	ASSERT_EQ(0, mkdir(dir, 0755));
	snprintf(p, sizeof(p), "%s/a", dir);
	ASSERT_EQ(0, mkdir(p, 0755));
	snprintf(p, sizeof(p), "%s/a/b", dir);
	ASSERT_EQ(0, mkdir(p, 0755));
	ASSERT_EQ(0, put(dir, "a/b/big.bin", self->big, BIG_SIZE));
	ASSERT_EQ(0, put(dir, "a/small.txt", small_txt, strlen(small_txt)));
	ASSERT_EQ(0, stop(self));
	ASSERT_EQ(0, start(_metadata, self, dir, "1", NULL, NULL));
	kaio_drop_caches("3");
	waits = kaio_stat("worker_disk_waits");
	disk = kaio_stat("sendfile_chunks_disk");
	ASSERT_EQ(0, one(get("GET", "/a/b/big.bin", NULL), &r, false));
	EXPECT_RESP(&r, 200, self->big, BIG_SIZE);
	EXPECT_FIELD(&r, "Last-Modified", MTIME_STR);
	resp_free(&r);
	ASSERT_EQ(0, one(get("GET", "/a/small.txt", NULL), &r, false));
	EXPECT_RESP(&r, 200, small_txt, strlen(small_txt));
	resp_free(&r);
	ASSERT_EQ(0, one(get("GET", "/a/b/nope", NULL), &r, false));
	EXPECT_EQ(404, r.status);
	resp_free(&r);
	TH_LOG("sendfile_chunks_disk +%lld, worker_disk_waits +%lld",
	       kaio_stat("sendfile_chunks_disk") - disk, kaio_stat("worker_disk_waits") - waits);
	if (disk >= 0) {
		EXPECT_LT(disk, kaio_stat("sendfile_chunks_disk"));
		EXPECT_EQ(waits, kaio_stat("worker_disk_waits"));
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Two workers, 8 client processes at once, each on one kept-alive
 * connection: 24 requests of every kind (small, 1 MiB, ranges, 404,
 * pipelined pairs), every answer checked.
 */
TEST_F_TIMEOUT(http, concurrent_clients_two_workers, 300)
{
	pid_t kids[8];
	int bad = 0;

	ASSERT_EQ(0, stop(self));
	ASSERT_EQ(0, start(_metadata, self, self->www, "2", NULL, NULL));
	for (int k = 0; k < 8; k++) {
		kids[k] = fork();
		ASSERT_LE(0, kids[k]);
		if (kids[k])
			continue;
		struct conn *c = malloc(sizeof(*c));
		struct resp r;
		char req[1024];
		int fails = 0;

		if (!c || conn_open(c, 0))
			_exit(100);
		for (int i = 0; i < 24; i++) {
			int kind = (i + k) % 6;
			bool ok;

			memset(&r, 0, sizeof(r));
			switch (kind) {
			case 0:
			case 4:
				ok = !send_str(c, get("GET", "/small.txt", NULL)) && !read_resp(c, &r, false) &&
				     r.status == 200 && body_is(&r, small_txt, strlen(small_txt));
				break;
			case 1:
				ok = !send_str(c, get("GET", "/big.bin", NULL)) && !read_resp(c, &r, false) &&
				     r.status == 200 && body_is(&r, self->big, BIG_SIZE);
				break;
			case 2:
				snprintf(req, sizeof(req), "Range: bytes=%d-%d\r\n", 1000 * i, 1000 * i + 4999);
				ok = !send_str(c, get("GET", "/big.bin", req)) && !read_resp(c, &r, false) &&
				     r.status == 206 && body_is(&r, self->big + 1000 * i, 5000);
				break;
			case 3:
				ok = !send_str(c, get("GET", "/nope", NULL)) && !read_resp(c, &r, false) &&
				     r.status == 404;
				break;
			default:
				snprintf(req, sizeof(req), "%s%s", get("GET", "/data.json", NULL),
					 get("HEAD", "/index.html", NULL));
				ok = !send_str(c, req) && !read_resp(c, &r, false) && r.status == 200 &&
				     body_is(&r, data_json, strlen(data_json));
				resp_free(&r);
				ok = ok && !read_resp(c, &r, true) && r.status == 200 &&
				     r.clen == (long long)strlen(index_html);
				break;
			}
			resp_free(&r);
			if (!ok) {
				fprintf(stderr, "# client %d request %d (kind %d) failed: %s\n", k, i, kind, r.head);
				fails++;
				break;
			}
		}
		conn_close(c);
		_exit(fails);
	}
	for (int k = 0; k < 8; k++) {
		int status;

		ASSERT_EQ(kids[k], waitpid_within(kids[k], &status, 240000));
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	}
	EXPECT_EQ(0, bad);
}

TEST_HARNESS_MAIN
