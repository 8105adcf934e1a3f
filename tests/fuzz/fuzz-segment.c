/*
 * fuzz-segment.c - libFuzzer harness for the fs-archive segment reader
 * (libcommon/fsarchive.c): any bytes as a sealed segment must give its
 * records or a clean error, never a crash, hang or overread; the same
 * bytes go through the manifest parser, and through the libzstd walk
 * verify uses to find the first unreadable record.
 */
// FUZZ_SOURCES:
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs.h"
#include "fsarchive.h"

int tool_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0);
	struct fs_arc_reader *r;
	struct fs_arc_manifest m;
	const struct fs_hdr *h;
	char path[64], err[700];
	uint64_t sum = 0, off;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = fs_arc_open(path, err, sizeof(err));
	if (r) {
		fs_arc_seek_time(r, (int64_t)size << 20);
		while (fs_arc_next(r, &h) > 0)
			sum += h->seq;
		fs_arc_close(r);
	}
	fs_arc_readable(path, &off);
	fs_arc_manifest_parse((const char *)data, size, &m, err,
			      sizeof(err));
	close(fd);
	return (int)(sum & 0);
}
