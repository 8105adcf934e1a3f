/*
 * endpoint.c - what the endpoints of one run share: the files they name
 * (an output must not be an input or another output), and the stop pipe
 * that wakes any wait when SIGINT or SIGTERM arrives.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

void fs_check_output_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return;		/* not there yet: it cannot be an input */
	fs_unclaim(fs_claim_fd(fd, path, 1));
	close(fd);
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
