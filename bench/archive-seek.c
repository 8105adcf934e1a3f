/*
 * archive-seek.c - for bench/archive.sh.  First: the time to the first
 * record of
 * [FROM, TO) in an fs-archive directory through libcommon's reader, as
 * fs-replay reads it: list the segments (names only), open the first
 * whose name overlaps, seek by its index, read to the first record in
 * range.  Prints the milliseconds, the segment number, and the record's
 * ts_event.
 *
 *	archive-seek DIR FROM_NS TO_NS
 *
 * Then the hashing fs-archive write does, alone: for each frame of FILE
 * (read whole into memory first) its leaf hash into a block tree of
 * 1024 leaves whose roots go into the segment's tree, as
 * libcommon/fsarchive.c absorb() does.  Prints the CPU seconds.
 *
 *	archive-seek --hash FILE
 */
#include <time.h>
#include <inttypes.h>
#include <stdlib.h>

#include "fs.h"
#include "fsarchive.h"

static int hash_only(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct fs_mt tree, block;
	uint8_t h[FS_MT_HASH];
	struct timespec a, b;
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot read '%s'", path);
	rewind(f);
	buf = fs_xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		fs_die_errno(FS_EXIT_FAIL, "cannot read '%s'", path);
	fclose(f);
	fs_mt_init(&tree);
	fs_mt_init(&block);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	for (long off = 0; off + 4 <= n;) {
		uint32_t len;

		memcpy(&len, buf + off, 4);
		fs_mt_leaf(buf + off, len + 4, h);
		fs_mt_push(&block, h);
		if (block.n == FS_ARC_INDEX_EVERY) {
			fs_mt_root(&block, h);
			fs_mt_push_subtree(&tree, h, FS_ARC_INDEX_LOG);
			fs_mt_init(&block);
		}
		off += len + 4;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	printf("%.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	free(buf);
	return 0;
}

int tool_main(int argc, char **argv)
{
	struct fs_arc_list l;
	char err[700];
	int64_t from, to, t0 = fs_mono_ns();
	const struct fs_hdr *h;

	if (argc == 3 && !strcmp(argv[1], "--hash"))
		return hash_only(argv[2]);
	if (argc != 4 || fs_parse_i64(argv[2], (size_t)-1, INT64_MIN,
				      INT64_MAX, &from) ||
	    fs_parse_i64(argv[3], (size_t)-1, INT64_MIN, INT64_MAX, &to))
		fs_usage_error("usage: archive-seek DIR FROM_NS TO_NS");
	if (fs_arc_list(argv[1], &l, err, sizeof(err)))
		fs_die(FS_EXIT_FAIL, "%s", err);
	for (size_t i = 0; i < l.n; i++) {
		struct fs_arc_reader *r;

		if (!fs_arc_overlaps(&l.seg[i], from, to))
			continue;
		r = fs_arc_open(l.seg[i].path, err, sizeof(err));
		if (!r)
			fs_die(FS_EXIT_DATA, "%s", err);
		if (fs_arc_seek_time(r, from))
			fs_die(FS_EXIT_DATA, "%s", fs_arc_error(r));
		while (fs_arc_next(r, &h) == 1)
			if (h->ts_event >= from && h->ts_event < to) {
				printf("%.2f ms segment %" PRIu64 " ts_event "
				       "%" PRId64 "\n",
				       (fs_mono_ns() - t0) / 1e6,
				       l.seg[i].no, h->ts_event);
				fs_arc_close(r);
				fs_arc_list_free(&l);
				return 0;
			}
		fs_arc_close(r);
	}
	fs_arc_list_free(&l);
	fs_die(FS_EXIT_DATA, "no record in range");
}
