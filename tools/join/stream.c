/*
 * stream.c - fs-join's two-input joins: --temporal and --within.
 */
#include "join.h"

int stream_main(struct jopts *o)
{
	(void)o;
	fs_die(FS_EXIT_USAGE, "not yet");
}
