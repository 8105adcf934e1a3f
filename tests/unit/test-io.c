/*
 * test-io.c - the frame reader and writer, the schema table and the
 * SCHEMA record codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs.h"

/* A memfd holding n bytes of p, positioned at 0. */
static int mem_fd(const void *p, size_t n)
{
	int fd = memfd_create("t", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Write count TXN frames through a writer into a memfd; return the fd. */
static int txn_stream(int count)
{
	int fd = memfd_create("w", 0);
	struct fs_writer *w = fs_writer_fd(fd, "mem");

	for (int i = 0; i < count; i++) {
		struct fs_hdr *h = fs_write_reserve(w, FS_T_TXN,
						    sizeof(struct fs_txn));
		struct fs_txn *t = fs_body(h);

		h->ts_event = 1000 + i;
		h->seq = i;
		t->account = 7 + i;
		t->amount = 1234 * FS_FIX_SCALE / 100;
	}
	assert_int_equal(fs_writer_frames(w), count);
	fs_writer_flush(w);
	assert_int_equal(fs_writer_bytes(w), count * 88);
	fs_writer_close(w);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void test_round_trip(void **state)
{
	int fd = txn_stream(50000);
	struct fs_reader *r = fs_reader_fd(fd, "mem");
	const struct fs_hdr *h;
	int n = 0, rc;

	(void)state;
	while ((rc = fs_read(r, &h)) > 0) {
		const struct fs_txn *t = fs_body(h);

		assert_int_equal(h->len, 84);
		assert_int_equal(h->type, FS_T_TXN);
		assert_int_equal(h->seq, n);
		assert_int_equal(t->account, 7 + n);
		assert_true(((uintptr_t)h & 7) == 0);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 50000);
	assert_int_equal(fs_reader_offset(r), 50000 * 88);
	fs_reader_close(r);
	close(fd);
}

/* fs_reader_peek: the frames after the last read, while buffered. */
static void test_peek(void **state)
{
	int fd = txn_stream(3);
	struct fs_reader *r = fs_reader_fd(fd, "mem");
	const struct fs_hdr *h, *p;

	(void)state;
	assert_int_equal(fs_read(r, &h), 1);
	assert_int_equal(h->seq, 0);
	p = fs_reader_peek(r, 1);
	assert_non_null(p);
	assert_int_equal(p->seq, 1);
	p = fs_reader_peek(r, 2);
	assert_non_null(p);
	assert_int_equal(p->seq, 2);
	assert_null(fs_reader_peek(r, 3));	/* past the end */
	assert_int_equal(fs_read(r, &h), 1);
	assert_int_equal(h->seq, 1);		/* peeking read nothing */
	assert_int_equal(fs_reader_peek(r, 1)->seq, 2);
	assert_int_equal(fs_read(r, &h), 1);
	assert_null(fs_reader_peek(r, 1));
	assert_int_equal(fs_read(r, &h), 0);
	fs_reader_close(r);
	close(fd);
}

/* Feed bytes; expect `good` frames, then the given return code. */
static void expect(const void *p, size_t n, int good, int last)
{
	int fd = mem_fd(p, n);
	struct fs_reader *r = fs_reader_fd(fd, "mem");
	const struct fs_hdr *h;
	int k = 0, rc;

	while ((rc = fs_read(r, &h)) > 0)
		k++;
	assert_int_equal(k, good);
	assert_int_equal(rc, last);
	assert_int_equal(fs_read(r, &h), last);	/* sticky */
	fs_reader_close(r);
	close(fd);
}

static void test_bad_frames(void **state)
{
	unsigned char buf[88 * 3];
	int fd = txn_stream(3);

	(void)state;
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	expect(buf, sizeof(buf), 3, 0);
	expect(buf, sizeof(buf) - 1, 2, -1);	/* truncated body */
	expect(buf, 88 * 2 + 3, 2, -1);		/* truncated length */
	memset(buf + 88, 0xff, 4);		/* len 0xFFFFFFFF */
	expect(buf, sizeof(buf), 1, -1);
	memset(buf + 88, 0, 4);			/* len 0 */
	expect(buf, sizeof(buf), 1, -1);
	buf[88] = 36 + 3;			/* not a multiple of 8 */
	expect(buf, sizeof(buf), 1, -1);
	buf[88] = 84;
	buf[88 + 6] = 9;			/* version 9 */
	expect(buf, sizeof(buf), 1, -1);
	expect("", 0, 0, 0);			/* empty input */
}

/*
 * A file given back with fs_unclaim (closed) no longer clashes: a new
 * file may reuse its inode number (tmpfs does at once).  Clashes
 * themselves end the process (exit 2): tests/cli/0900-endpoints.bats.
 */
static void test_claims(void **state)
{
	int a = memfd_create("a", 0), b = memfd_create("b", 0), c1, c2;

	(void)state;
	c1 = fs_claim_fd(a, "a", 1);
	assert_true(c1 >= 0);
	c2 = fs_claim_fd(b, "b", 0);	/* another file: no clash */
	assert_true(c2 >= 0 && c2 != c1);
	fs_unclaim(c1);
	assert_int_equal(fs_claim_fd(a, "a", 0), c1);	/* slot reused */
	fs_unclaim(c1);
	fs_unclaim(c2);
	assert_int_equal(fs_claim_fd(0 + a, "a", 0) >= 0, 1);
	close(a);
	close(b);
}

static void test_schema_table(void **state)
{
	const struct fs_type *t = fs_type_by_name("txn");
	const struct fs_field *f;

	(void)state;
	assert_non_null(t);
	assert_int_equal(t->id, FS_T_TXN);
	assert_ptr_equal(fs_type_by_id(FS_T_TXN), t);
	f = fs_field_by_name(t, "amount");
	assert_non_null(f);
	assert_int_equal(f->kind, FS_K_FIX);
	assert_int_equal(f->off, 40 + 24);
	assert_true(f->flags & FS_FLD_REQ);
	assert_non_null(fs_field_by_name(t, "ts_event"));
	assert_null(fs_field_by_name(t, "nope"));
	assert_null(fs_type_by_name("nope"));
	assert_int_equal(fs_type_by_name("barrier")->id, FS_T_BARRIER);
	for (const struct fs_type *ty = fs_types; ty->name; ty++)
		for (unsigned i = 0; i < ty->nfields; i++) {
			const struct fs_field *g = &ty->fields[i];

			if (ty->body_size)
				assert_true(g->off + g->size <=
					    FS_HDR_SIZE + ty->body_size);
			assert_int_equal(fs_kind_by_name(
				fs_kind_name(g->kind)), g->kind);
		}
}

static void test_schema_codec(void **state)
{
	char why[128];
	const char *names[] = { "window_start", "count", "sum_amount" };
	uint8_t kinds[] = { FS_K_TS, FS_K_I64, FS_K_FIX };
	struct fs_schema *s = fs_schema_new(FS_T_AGG, 9, 3, names, kinds);
	int fd = memfd_create("s", 0);
	struct fs_writer *w = fs_writer_fd(fd, "mem");
	struct fs_reader *r;
	const struct fs_hdr *h;
	struct fs_schema *d;

	(void)state;
	fs_write_schema(w, s, 5);
	fs_writer_close(w);
	lseek(fd, 0, SEEK_SET);
	r = fs_reader_fd(fd, "mem");
	assert_int_equal(fs_read(r, &h), 1);
	assert_true(h->flags & FS_F_CONTROL);
	d = fs_schema_decode(h, why, sizeof(why));
	assert_non_null(d);
	assert_int_equal(d->for_type, FS_T_AGG);
	assert_int_equal(d->schema_id, 9);
	assert_int_equal(d->ncols, 3);
	assert_int_equal(d->nfields, 7);
	assert_string_equal(d->fields[6].name, "sum_amount");
	assert_int_equal(d->fields[6].kind, FS_K_FIX);
	assert_int_equal(d->fields[6].off, 40 + 8 + 16);
	assert_string_equal(d->fields[0].name, "ts_event");
	fs_schema_free(d);
	fs_schema_free(s);
	fs_reader_close(r);
	close(fd);
}

int tool_main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_peek),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_schema_table),
		cmocka_unit_test(test_schema_codec),
		cmocka_unit_test(test_claims),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
