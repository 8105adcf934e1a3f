/*
 * endpoint.c - what the endpoints of one run share: the files they name
 * (an output must not be an input or another output), and the stop pipe
 * that wakes any wait when SIGINT or SIGTERM arrives.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

#define CLAIMS_MAX 32

/* A regular file some endpoint of this run has open. */
struct claim {
	int used;
	dev_t dev;
	ino_t ino;
	int output;
	char name[96];
};

static struct claim claims[CLAIMS_MAX];
static size_t nclaims;

#define OUTS_MAX 16

/* The output paths of this run, by name: some are made or replaced later. */
static struct {
	char *canon;
	char name[96];
} outs[OUTS_MAX];
static size_t nouts;
static int stop_rd = -1;	/* read end of the stop pipe, or -1 */

int fs_claim_fd(int fd, const char *name, int output)
{
	struct stat st;
	size_t i;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;	/* pipes, terminals, devices: no clash */
	for (i = 0; i < nclaims; i++) {
		const struct claim *c = &claims[i];

		if (!c->used || c->dev != st.st_dev || c->ino != st.st_ino ||
		    (!output && !c->output))
			continue;
		fs_die(FS_EXIT_USAGE, "refusing to use '%s' as %s: it is the "
		       "same file as the %s '%s'", name,
		       output ? "an output" : "an input",
		       c->output ? "output" : "input", c->name);
	}
	for (i = 0; i < nclaims && claims[i].used; i++)
		;
	if (i == CLAIMS_MAX)
		return -1;
	if (i == nclaims)
		nclaims++;
	claims[i].used = 1;
	claims[i].dev = st.st_dev;
	claims[i].ino = st.st_ino;
	claims[i].output = output;
	snprintf(claims[i].name, sizeof(claims[i].name), "%s", name);
	return (int)i;
}

void fs_unclaim(int claim)
{
	if (claim >= 0 && (size_t)claim < nclaims)
		claims[claim].used = 0;
}

/*
 * path made absolute and free of symlinks in its folder (the file itself
 * may not exist yet), into buf; -1 when its folder does not exist.
 */
static int canon(const char *path, char *buf, size_t size)
{
	char dir[PATH_MAX], rdir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base;

	if (realpath(path, rdir))
		return snprintf(buf, size, "%s", rdir) < (int)size ? 0 : -1;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
			  path) >= (int)sizeof(dir))
		return -1;
	base = slash ? slash + 1 : path;
	if (!realpath(dir, rdir))
		return -1;
	if (snprintf(buf, size, "%s/%s", strcmp(rdir, "/") ? rdir : "",
		     base) >= (int)size)
		return -1;
	return 0;
}

void fs_note_output_path(const char *path)
{
	char c[PATH_MAX];
	struct stat st;
	size_t i;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return;		/* /dev/null, a FIFO: no file to lose */
	if (canon(path, c, sizeof(c)) < 0)
		return;
	for (i = 0; i < nouts; i++)
		if (!strcmp(outs[i].canon, c))
			fs_die(FS_EXIT_USAGE, "refusing to use '%s' as an "
			       "output: it is the same file as the output "
			       "'%s'", path, outs[i].name);
	if (nouts == OUTS_MAX)
		return;
	outs[nouts].canon = fs_xstrdup(c);
	snprintf(outs[nouts].name, sizeof(outs[nouts].name), "%s", path);
	nouts++;
}

void fs_check_output_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0) {	/* there already: it may be an input */
		fs_unclaim(fs_claim_fd(fd, path, 1));
		close(fd);
	}
	fs_note_output_path(path);
}

void fs_stop_pipe_set(int fd)
{
	stop_rd = fd;
}

int fs_poll_in(int fd, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = stop_rd, .events = POLLIN },
	};
	int n;

	for (;;) {
		if (fs_stop)
			return -1;
		n = poll(p, 2, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;	/* fs_stop is checked above */
		if (n < 0)
			return 1;	/* let the read report it */
		if (fs_stop || p[1].revents)
			return -1;
		return n > 0;
	}
}

int fs_sleep_until(int64_t mono_ns)
{
	for (;;) {
		int64_t left = mono_ns - fs_mono_ns();
		struct timespec ts;
		struct pollfd p = { .fd = stop_rd, .events = POLLIN };

		if (fs_stop)
			return -1;
		if (left <= 0)
			return 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		if (ppoll(&p, 1, &ts, NULL) > 0 || fs_stop)
			return -1;
	}
}
