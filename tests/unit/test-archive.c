/*
 * test-archive.c - unit tests of the segment writer and reader
 * (libcommon/fsarchive.c) as fs-replay uses them: records with event
 * times out of order written into segments, listed by name, picked by
 * time range, opened, and sought by time, by seq and by record number
 * with the index; a seek never skips a record at or after its target;
 * a damaged segment's records before the damage salvaged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs.h"
#include "fsarchive.h"

#define NREC 5000
#define SEC 1000000000LL

static char dir[64];

/* Record i: ts_event jitters back up to 4 s, seq i, key i % 97. */
static void frame(int i, uint64_t *buf)
{
	struct fs_hdr *h = (struct fs_hdr *)buf;

	memset(buf, 0, 48);
	h->len = 44;
	h->type = FS_T_JSON;
	h->version = FS_FORMAT_VERSION;
	h->ts_event = 1000 * SEC + i * (SEC / 100) - (i % 5) * SEC;
	h->seq = (uint64_t)i;
	h->key = (uint64_t)(i % 97);
}

static int setup(void **state)
{
	struct fs_arc_wopts o = { .segment_ns = 20 * SEC };
	struct fs_arc_writer *w;
	uint64_t buf[6];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-archive-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	w = fs_arc_writer_open(dir, &o);
	for (int i = 0; i < NREC; i++) {
		frame(i, buf);
		fs_arc_append(w, (const struct fs_hdr *)buf);
	}
	fs_arc_writer_close(w);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Every record, in order, across the segments: all there, once. */
static void test_all(void **state)
{
	struct fs_arc_list l;
	char err[700];
	int next = 0;

	(void)state;
	assert_int_equal(fs_arc_list(dir, &l, err, sizeof(err)), 0);
	assert_true(l.n >= 2);
	assert_int_equal(l.nopen, 0);
	for (size_t i = 0; i < l.n; i++) {
		struct fs_arc_reader *r = fs_arc_open(l.seg[i].path, err,
						      sizeof(err));
		const struct fs_arc_manifest *m;
		const struct fs_hdr *h;

		assert_non_null(r);
		m = fs_arc_manifest(r);
		assert_int_equal(m->segment, l.seg[i].no);
		assert_int_equal(m->segment, i + 1);
		assert_true(m->min_ts == l.seg[i].min_ts);
		assert_true(m->max_ts == l.seg[i].max_ts);
		while (fs_arc_next(r, &h) == 1) {
			assert_int_equal(h->seq, next);
			next++;
		}
		assert_int_equal(fs_arc_end(r), 0);
		fs_arc_close(r);
	}
	assert_int_equal(next, NREC);
	fs_arc_list_free(&l);
}

/*
 * For targets T across the range: pick the segments whose names
 * overlap [T, T + 3 s), seek each by time, and find every record of
 * the range that a full scan finds.
 */
static void test_seek_time(void **state)
{
	struct fs_arc_list l;
	char err[700];
	uint64_t buf[6];

	(void)state;
	assert_int_equal(fs_arc_list(dir, &l, err, sizeof(err)), 0);
	for (int64_t t = 995 * SEC; t < 1060 * SEC; t += 7 * SEC / 3) {
		int64_t to = t + 3 * SEC;
		int want = 0, got = 0;

		for (int i = 0; i < NREC; i++) {
			frame(i, buf);
			want += ((struct fs_hdr *)buf)->ts_event >= t &&
				((struct fs_hdr *)buf)->ts_event < to;
		}
		for (size_t i = 0; i < l.n; i++) {
			struct fs_arc_reader *r;
			const struct fs_hdr *h;

			if (!fs_arc_overlaps(&l.seg[i], t, to))
				continue;
			r = fs_arc_open(l.seg[i].path, err, sizeof(err));
			assert_non_null(r);
			assert_int_equal(fs_arc_seek_time(r, t), 0);
			assert_int_equal(fs_arc_record(r) %
					 FS_ARC_INDEX_EVERY, 0);
			while (fs_arc_next(r, &h) == 1)
				got += h->ts_event >= t && h->ts_event < to;
			fs_arc_close(r);
		}
		assert_int_equal(got, want);
	}
	fs_arc_list_free(&l);
}

/* A seek by seq lands on the block holding it, in the right segment. */
static void test_seek_seq(void **state)
{
	struct fs_arc_list l;
	char err[700];

	(void)state;
	assert_int_equal(fs_arc_list(dir, &l, err, sizeof(err)), 0);
	for (uint64_t s = 0; s < NREC; s += 611) {
		int found = 0;

		for (size_t i = 0; i < l.n && !found; i++) {
			struct fs_arc_reader *r = fs_arc_open(l.seg[i].path,
							      err,
							      sizeof(err));
			const struct fs_arc_manifest *m = fs_arc_manifest(r);
			const struct fs_hdr *h;
			uint64_t first;

			if (s < m->min_seq || s > m->max_seq) {
				fs_arc_close(r);
				continue;
			}
			assert_int_equal(fs_arc_seek_seq(r, s), 0);
			first = fs_arc_record(r);
			assert_true(s - m->first_seq - first <
				    FS_ARC_INDEX_EVERY);
			while (!found && fs_arc_next(r, &h) == 1)
				found = h->seq == s;
			fs_arc_close(r);
		}
		assert_true(found);
	}
	fs_arc_list_free(&l);
}

/*
 * A seek by record number lands on it exactly (fs-replay's resume),
 * at block edges too, forward from a record already read; the number
 * of records is the end; past it an error.
 */
static void test_seek_record(void **state)
{
	static const uint64_t at[] = { 0, 1, 1023, 1024, 1025, 2047, 2049 };
	struct fs_arc_list l;
	char err[700];

	(void)state;
	assert_int_equal(fs_arc_list(dir, &l, err, sizeof(err)), 0);
	for (size_t i = 0; i < l.n; i++) {
		struct fs_arc_reader *r;
		const struct fs_arc_manifest *m;
		const struct fs_hdr *h;
		uint64_t n;

		r = fs_arc_open(l.seg[i].path, err, sizeof(err));
		assert_non_null(r);
		m = fs_arc_manifest(r);
		n = m->records;
		for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
			if (at[k] >= n || (k && at[k] <= at[k - 1] + 1))
				continue;
			assert_int_equal(fs_arc_seek_record(r, at[k]), 0);
			assert_int_equal(fs_arc_record(r), at[k]);
			assert_int_equal(fs_arc_next(r, &h), 1);
			assert_int_equal(h->seq, m->first_seq + at[k]);
		}
		assert_int_equal(fs_arc_seek_record(r, n), 0);
		assert_int_equal(fs_arc_next(r, &h), 0);
		assert_int_equal(fs_arc_seek_record(r, n + 1), -1);
		fs_arc_close(r);
	}
	fs_arc_list_free(&l);
}

/*
 * A segment cut short (at 60%, in its frames; 40000 records, so many
 * zstd blocks): fs_arc_salvage gives the bytes of frames.fsr from an
 * offset to where libzstd stops decoding whole records
 * (fs_arc_readable's count), whole frames in order.
 */
static void test_salvage(void **state)
{
	struct fs_arc_wopts o = { 0 };
	struct fs_arc_writer *w;
	struct fs_arc_list l;
	char err[700], sub[128];
	uint64_t buf[6], good, off = 0, seq = 1;
	int64_t n, len;
	void *b;
	FILE *f;
	long size;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/big", dir);
	w = fs_arc_writer_open(sub, &o);
	for (int i = 0; i < 40000; i++) {
		frame(i, buf);
		fs_arc_append(w, (const struct fs_hdr *)buf);
	}
	fs_arc_writer_close(w);
	assert_int_equal(fs_arc_list(sub, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	f = fopen(l.seg[0].path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	assert_int_equal(truncate(l.seg[0].path, size * 6 / 10), 0);
	n = fs_arc_readable(l.seg[0].path, &good);
	assert_true(n > 1 && n < 40000);
	assert_int_equal(good, (uint64_t)n * 48);
	len = fs_arc_salvage(l.seg[0].path, 48, &b);
	assert_non_null(b);
	assert_int_equal(len, (int64_t)(good - 48));
	while (off < (uint64_t)len) {
		const struct fs_hdr *h = (const void *)((char *)b + off);

		assert_int_equal(h->len, 44);
		assert_int_equal(h->seq, seq++);
		off += 48;
	}
	assert_int_equal(off, (uint64_t)len);
	free(b);
	/* from past the last record decoded: none */
	assert_int_equal(fs_arc_salvage(l.seg[0].path, good, &b), 0);
	assert_null(b);
	fs_arc_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_seek_time),
		cmocka_unit_test(test_seek_seq),
		cmocka_unit_test(test_seek_record),
		cmocka_unit_test(test_salvage),
	};

	fs_progname = "test-archive";
	return cmocka_run_group_tests(tests, setup, teardown);
}
