/*
 * main.c - libcommon owns main(): it makes sure fds 0-2 are open (so a
 * file we open never lands on 1 or 2 by accident), names the program,
 * sets the signal policy and hands over to the tool's tool_main().
 *
 * main is weak so that libFuzzer harnesses, which bring their own main,
 * link against libcommon unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

static int stop_wr = -1;	/* write end of the stop pipe */

/* Set fs_stop and wake whatever waits in fs_poll_in/fs_sleep_until. */
static void on_stop(int sig)
{
	int e = errno;

	(void)sig;
	if (fs_stop_defer && !fs_stop_asked) {	/* drain first (io.c) */
		fs_stop_asked = 1;
		errno = e;
		return;
	}
	fs_stop = 1;
	if (stop_wr >= 0)
		(void)!write(stop_wr, "", 1);
	errno = e;
}

/*
 * The self-pipe that makes a signal wake a poll: a signal that lands
 * between a tool's check of fs_stop and its poll still ends the wait.
 */
static void stop_pipe(void)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
		return;		/* waits still end on EINTR */
	stop_wr = fds[1];
	fs_stop_pipe_set(fds[0]);
}

/* Open /dev/null on any of fds 0-2 that is closed; die if we cannot. */
static void check_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			continue;
		int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (n != fd)
			_exit(FS_EXIT_FAIL);
	}
}

__attribute__((weak)) int main(int argc, char **argv)
{
	struct sigaction sa;
	const char *slash;

	check_fds();
	if (argc > 0 && argv[0]) {
		slash = strrchr(argv[0], '/');
		fs_progname = slash ? slash + 1 : argv[0];
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	stop_pipe();
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return tool_main(argc, argv);
}
