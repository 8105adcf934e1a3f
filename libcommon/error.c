/*
 * error.c - the one family of error helpers: every message starts with
 * the program name and goes to stderr as one line.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "fs.h"

const char *fs_progname = "finstream";
volatile sig_atomic_t fs_stop;
volatile sig_atomic_t fs_stop_asked;
int fs_stop_defer;

static void vreport(const char *fmt, va_list ap, int errnum)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fflush(stdout);
	if (errnum)
		fprintf(stderr, "%s: %s: %s\n", fs_progname, msg,
			strerror(errnum));
	else
		fprintf(stderr, "%s: %s\n", fs_progname, msg);
}

/* Set in a forked child: fs_die ends it without the parent's atexit. */
static int quick;

void fs_exit_quick(void)
{
	quick = 1;
}

static _Noreturn void end(int status)
{
	if (quick)
		_exit(status);
	exit(status);
}

void fs_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap, 0);
	va_end(ap);
	end(status);
}

void fs_die_errno(int status, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vreport(fmt, ap, e);
	va_end(ap);
	end(status);
}

void fs_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap, 0);
	va_end(ap);
}

int fs_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap, 0);
	va_end(ap);
	return -1;
}

void fs_bug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: BUG: ", fs_progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

void fs_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap, 0);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n",
		fs_progname);
	exit(FS_EXIT_USAGE);
}

void fs_stdout_done(void)
{
	int e = 0;

	if (fflush(stdout) != 0)
		e = errno;
	else if (ferror(stdout))
		e = errno ? errno : EIO;
	if (e == EPIPE)
		exit(FS_EXIT_OK);
	if (e) {
		errno = e;
		fs_die_errno(FS_EXIT_FAIL, "cannot write standard output");
	}
}
