/*
 * archive-seek.c - for bench/archive.sh: time to the first record of
 * [FROM, TO) in an fs-archive directory through libcommon's reader, as
 * fs-replay reads it: list the segments (names only), open the first
 * whose name overlaps, seek by its index, read to the first record in
 * range.  Prints the milliseconds, the segment number, and the record's
 * ts_event.
 *
 *	archive-seek DIR FROM_NS TO_NS
 */
#include <inttypes.h>
#include <stdlib.h>

#include "fs.h"
#include "fsarchive.h"

int tool_main(int argc, char **argv)
{
	struct fs_arc_list l;
	char err[700];
	int64_t from, to, t0 = fs_mono_ns();
	const struct fs_hdr *h;

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
