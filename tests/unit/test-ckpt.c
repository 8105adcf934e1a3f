/*
 * test-ckpt.c - the checkpoint store (libcommon/ckpt.c): positions,
 * snapshots and sink lengths round-trip per job and checkpoint; only a
 * completed checkpoint is the latest; prune, restore, export and
 * import; two processes writing one store at once lose nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs.h"

static char dir[] = "/tmp/fs-test-ckpt.XXXXXX";

static const char *path(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

/* Checkpoint id of job: a position, a snapshot of n bytes, a sink. */
static void fill(struct fs_ckpt *c, int64_t id, size_t n, int complete)
{
	unsigned char *b = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 7 + id);
	fs_ckpt_put_position(c, id, "in.fsr", 0, 1000 * id);
	fs_ckpt_put_position(c, id, "kafka://b/txn", 3, 77 + id);
	fs_ckpt_put_snapshot(c, id, "fs-window", 3, b, n);
	fs_ckpt_put_sink(c, id, "out.fsr", 88 * id);
	if (complete)
		fs_ckpt_complete(c, id);
	free(b);
}

static void test_round_trip(void **state)
{
	struct fs_ckpt *c = fs_ckpt_open(path("a.db"), "fraud");
	struct fs_ckpt *other = fs_ckpt_open(path("a.db"), "other");
	int64_t v;
	size_t n;
	unsigned char *b;

	(void)state;
	assert_int_equal(fs_ckpt_latest(c), 0);
	fill(c, 1, 100000, 1);
	fill(c, 2, 0, 0);		/* pending: not the latest */
	assert_int_equal(fs_ckpt_latest(c), 1);
	assert_int_equal(fs_ckpt_latest(other), 0);	/* per job */
	assert_int_equal(fs_ckpt_get_position(c, 1, "kafka://b/txn", 3, &v),
			 0);
	assert_int_equal(v, 78);
	assert_int_equal(fs_ckpt_get_position(c, 1, "kafka://b/txn", 4, &v),
			 -1);
	assert_int_equal(fs_ckpt_get_sink(c, 1, "out.fsr", &v), 0);
	assert_int_equal(v, 88);
	b = fs_ckpt_get_snapshot(c, 1, "fs-window", 3, &n);
	assert_non_null(b);
	assert_int_equal(n, 100000);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(b[i], (unsigned char)(i * 7 + 1));
	free(b);
	b = fs_ckpt_get_snapshot(c, 2, "fs-window", 3, &n);	/* empty */
	assert_non_null(b);
	assert_int_equal(n, 0);
	free(b);
	assert_null(fs_ckpt_get_snapshot(c, 1, "fs-score-gpu", 3, &n));
	fs_ckpt_complete(c, 2);
	assert_int_equal(fs_ckpt_latest(c), 2);
	fs_ckpt_close(other);
	fs_ckpt_close(c);
}

struct count {
	int n, complete;
	int64_t last;
};

static void count_info(const struct fs_ckpt_info *i, void *arg)
{
	struct count *k = arg;

	k->n++;
	k->complete += i->complete;
	k->last = i->id;
}

static void test_prune_restore(void **state)
{
	struct fs_ckpt *c = fs_ckpt_open(path("p.db"), "j");
	struct count k = { 0 };
	int64_t removed;

	(void)state;
	for (int64_t id = 1; id <= 6; id++)
		fill(c, id, 10, id != 3 && id != 6);	/* 3, 6 pending */
	assert_int_equal(fs_ckpt_prune(c, 2), 3);	/* 1, 2, 3 go */
	fs_ckpt_list(c, 0, count_info, &k);
	assert_int_equal(k.n, 3);			/* 4, 5, 6 */
	assert_int_equal(k.complete, 2);
	assert_int_equal(fs_ckpt_restore(c, 6, &removed), -1); /* pending */
	assert_int_equal(fs_ckpt_restore(c, 4, &removed), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(fs_ckpt_latest(c), 4);
	assert_null(fs_ckpt_get_snapshot(c, 5, "fs-window", 3, &(size_t){0}));
	fs_ckpt_close(c);
}

static void test_export_import(void **state)
{
	struct fs_ckpt *c = fs_ckpt_open(path("e.db"), "j"), *d;
	int64_t v;

	(void)state;
	fill(c, 7, 500, 1);
	fill(c, 8, 10, 0);
	assert_int_equal(fs_ckpt_export(c, 8, path("x.db"), NULL, 0), -1);
	assert_int_equal(fs_ckpt_export(c, 7, path("x.db"), NULL, 0), 0);
	fs_ckpt_close(c);
	d = fs_ckpt_open(path("fresh.db"), "j");
	assert_int_equal(fs_ckpt_import(d, path("x.db")), 1);
	assert_int_equal(fs_ckpt_latest(d), 7);
	assert_int_equal(fs_ckpt_get_sink(d, 7, "out.fsr", &v), 0);
	assert_int_equal(v, 88 * 7);
	fs_ckpt_close(d);
}

/*
 * Rescaling: an export of some partitions keeps their positions and key
 * groups and every instance row; a merge of two exports unites them into
 * one new checkpoint, instance rows renumbered -1, -2.
 */
static void test_split_merge(void **state)
{
	struct fs_ckpt *c = fs_ckpt_open(path("s.db"), "j"), *m;
	const int64_t low[] = { 0, 1 }, high[] = { 2, 3 };
	char *lo = fs_xstrdup(path("lo.db")), *hi = fs_xstrdup(path("hi.db"));
	const char *both[] = { lo, hi };
	int64_t v, id;
	size_t n;
	void *b;

	(void)state;
	for (int64_t p = 0; p < 4; p++) {
		fs_ckpt_put_position(c, 5, "kafka:txn", p, 100 + p);
		fs_ckpt_put_snapshot(c, 5, "fs-window", p, "g", 1);
	}
	fs_ckpt_put_snapshot(c, 5, "fs-window", FS_CKPT_INSTANCE, "i", 1);
	fs_ckpt_put_sink(c, 5, "out.fsr", 42);
	fs_ckpt_complete(c, 5);
	assert_int_equal(fs_ckpt_export(c, 5, both[0], low, 2), 0);
	assert_int_equal(fs_ckpt_export(c, 5, both[1], high, 2), 0);
	fs_ckpt_close(c);
	m = fs_ckpt_open(path("m.db"), "k");
	id = fs_ckpt_merge(m, both, 2);
	assert_int_equal(id, 5);
	assert_int_equal(fs_ckpt_latest(m), 5);
	for (int64_t p = 0; p < 4; p++) {
		assert_int_equal(fs_ckpt_get_position(m, 5, "kafka:txn", p, &v),
				 0);
		assert_int_equal(v, 100 + p);
	}
	free(fs_ckpt_snapshot_parts(m, 5, "fs-window", &n));
	assert_int_equal(n, 6);		/* -1, -2, 0, 1, 2, 3 */
	b = fs_ckpt_get_snapshot(m, 5, "fs-window", -2, &n);
	assert_non_null(b);
	free(b);
	assert_int_equal(fs_ckpt_get_sink(m, 5, "out.fsr", &v), 0);
	assert_int_equal(v, 42);
	/* the same again: past the job's own, so a new id */
	assert_int_equal(fs_ckpt_merge(m, both, 1), 6);
	fs_ckpt_close(m);
	free(lo);
	free(hi);
}

/* Two processes put 200 checkpoints each into one store at once. */
static void test_two_writers(void **state)
{
	pid_t pid[2];
	struct fs_ckpt *c;
	struct count k = { 0 };
	int st;

	(void)state;
	fs_ckpt_close(fs_ckpt_open(path("w.db"), "j"));	/* made once */
	for (int p = 0; p < 2; p++) {
		pid[p] = fork();
		assert_true(pid[p] >= 0);
		if (!pid[p]) {
			struct fs_ckpt *w = fs_ckpt_open(path("w.db"), "j");

			for (int64_t i = 0; i < 200; i++)
				fill(w, 1 + 2 * i + p, 64, 1);
			fs_ckpt_close(w);
			_exit(0);
		}
	}
	for (int p = 0; p < 2; p++) {
		assert_int_equal(waitpid(pid[p], &st, 0), pid[p]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	c = fs_ckpt_open(path("w.db"), "j");
	fs_ckpt_list(c, 0, count_info, &k);
	assert_int_equal(k.n, 400);
	assert_int_equal(k.complete, 400);
	assert_int_equal(fs_ckpt_latest(c), 400);
	fs_ckpt_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_prune_restore),
		cmocka_unit_test(test_export_import),
		cmocka_unit_test(test_split_merge),
		cmocka_unit_test(test_two_writers),
	};
	int rc;
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
