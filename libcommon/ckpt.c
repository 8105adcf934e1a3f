/*
 * ckpt.c - the checkpoint store: one SQLite file in WAL mode per job,
 * shared by the processes of a pipeline (fs-checkpoint(5)).  A source
 * records its input positions for checkpoint n, each stateful stage its
 * snapshot for n, a sink its committed length; the sink marks n
 * complete.  A restart restores the latest complete checkpoint.
 *
 * Every write is one short transaction; SQLite's busy timeout makes
 * the processes of a pipeline take turns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fs.h"

#define BUSY_MS 10000		/* how long a writer waits for another */
#define FORMAT "1"		/* the store's format, in meta */

struct fs_ckpt {
	sqlite3 *db;
	char *path;
	char *job;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta ("
	" key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS checkpoints ("
	" job TEXT NOT NULL, id INTEGER NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('pending', 'complete')),"
	" started_ns INTEGER NOT NULL, completed_ns INTEGER,"
	" PRIMARY KEY (job, id));"
	"CREATE TABLE IF NOT EXISTS positions ("
	" job TEXT NOT NULL, id INTEGER NOT NULL, source TEXT NOT NULL,"
	" partition INTEGER NOT NULL, position INTEGER NOT NULL,"
	" PRIMARY KEY (job, id, source, partition));"
	"CREATE TABLE IF NOT EXISTS snapshots ("
	" job TEXT NOT NULL, id INTEGER NOT NULL, stage TEXT NOT NULL,"
	" partition INTEGER NOT NULL, state BLOB NOT NULL,"
	" PRIMARY KEY (job, id, stage, partition));"
	"CREATE TABLE IF NOT EXISTS sinks ("
	" job TEXT NOT NULL, id INTEGER NOT NULL, sink TEXT NOT NULL,"
	" length INTEGER NOT NULL,"
	" PRIMARY KEY (job, id, sink));"
	"CREATE TABLE IF NOT EXISTS stops ("
	" job TEXT PRIMARY KEY, requested_ns INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS pending ("
	" job TEXT NOT NULL, id INTEGER NOT NULL, part TEXT NOT NULL,"
	" PRIMARY KEY (job, id, part));"
	"INSERT OR IGNORE INTO meta VALUES ('format', '" FORMAT "');";

/* Die naming the store and SQLite's reason; exit 1 (I/O). */
static _Noreturn void ckpt_die(const struct fs_ckpt *c, const char *what)
{
	fs_die(FS_EXIT_FAIL, "checkpoint store '%s': %s: %s", c->path, what,
	       sqlite3_errmsg(c->db));
}

/* The store's format must be ours: exit 3 for another file. */
static void check_format(struct fs_ckpt *c)
{
	sqlite3_stmt *st;
	int ok;

	if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = "
			       "'format'", -1, &st, NULL) != SQLITE_OK)
		ckpt_die(c, "cannot read its format");
	ok = sqlite3_step(st) == SQLITE_ROW &&
	     !strcmp((const char *)sqlite3_column_text(st, 0), FORMAT);
	sqlite3_finalize(st);
	if (!ok)
		fs_die(FS_EXIT_DATA, "checkpoint store '%s': not format "
		       FORMAT " (another program's database?)", c->path);
}

/* A database with tables of its own and no meta is not ours to touch. */
static int foreign(struct fs_ckpt *c)
{
	sqlite3_stmt *st;
	int n = 0, meta = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT count(*), "
			       "sum(name = 'meta') FROM sqlite_master "
			       "WHERE type = 'table'", -1, &st,
			       NULL) != SQLITE_OK) {
		if (sqlite3_errcode(c->db) == SQLITE_NOTADB)
			fs_die(FS_EXIT_DATA, "checkpoint store '%s': not a "
			       "checkpoint store: %s", c->path,
			       sqlite3_errmsg(c->db));
		ckpt_die(c, "cannot read its tables");
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int(st, 0);
		meta = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	return n > 0 && !meta;
}

/*
 * sqlite3_exec, retried while another process holds the lock: the
 * stages of a pipeline open one new store at once, and switching it to
 * WAL does not wait through the busy handler.
 */
static int exec_busy(struct fs_ckpt *c, const char *sql)
{
	int64_t until = fs_mono_ns() + (int64_t)BUSY_MS * 1000000;
	int rc;

	while ((rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL)) ==
	       SQLITE_BUSY && fs_mono_ns() < until)
		fs_sleep_until(fs_mono_ns() + 2000000);
	return rc;
}

struct fs_ckpt *fs_ckpt_open(const char *path, const char *job)
{
	struct fs_ckpt *c = fs_xcalloc(1, sizeof(*c));

	c->path = fs_xstrdup(path);
	c->job = fs_xstrdup(job ? job : "");
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		ckpt_die(c, "cannot open");
	sqlite3_busy_timeout(c->db, BUSY_MS);
	if (foreign(c))
		fs_die(FS_EXIT_DATA, "checkpoint store '%s': not a checkpoint "
		       "store: another program's database (it has tables, "
		       "but no 'meta')", c->path);
	if (exec_busy(c, "PRAGMA page_size = 65536;"
		      "PRAGMA journal_mode = WAL;"
		      "PRAGMA synchronous = FULL;") != SQLITE_OK)
		ckpt_die(c, "cannot use it");
	if (exec_busy(c, schema_sql) != SQLITE_OK)
		ckpt_die(c, "cannot create its tables");
	check_format(c);
	return c;
}

void fs_ckpt_close(struct fs_ckpt *c)
{
	if (!c)
		return;
	sqlite3_close(c->db);
	free(c->path);
	free(c->job);
	free(c);
}

const char *fs_ckpt_job(const struct fs_ckpt *c)
{
	return c->job;
}

/*
 * Run sql with the job and id bound to ?1 and ?2, then what bind()
 * binds from ?3 on; one step.  Dies on failure (what names it).
 */
static void run(struct fs_ckpt *c, const char *what, const char *sql,
		int64_t id, void (*bind)(sqlite3_stmt *, const void *),
		const void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		ckpt_die(c, what);
	sqlite3_bind_text(st, 1, c->job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	if (bind)
		bind(st, arg);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ckpt_die(c, what);
}

/* Checkpoint id as pending, if it is not there yet. */
static void begin(struct fs_ckpt *c, int64_t id)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO checkpoints "
			       "(job, id, status, started_ns) VALUES "
			       "(?1, ?2, 'pending', ?3)", -1, &st,
			       NULL) != SQLITE_OK)
		ckpt_die(c, "cannot begin a checkpoint");
	sqlite3_bind_text(st, 1, c->job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, fs_now_ns());
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		ckpt_die(c, "cannot begin a checkpoint");
	}
	sqlite3_finalize(st);
}

struct pos_arg {
	const char *name;
	int64_t part, value;
	const void *blob;
	size_t n;
};

static void bind_pos(sqlite3_stmt *st, const void *p)
{
	const struct pos_arg *a = p;

	sqlite3_bind_text(st, 3, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, a->part);
	if (a->blob)
		sqlite3_bind_blob64(st, 5, a->n ? a->blob : "", a->n,
				    SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 5, a->value);
}

/* Put one row of table (name, partition, value or blob) for id. */
static void put(struct fs_ckpt *c, int64_t id, const char *sql,
		const struct pos_arg *a, const char *what)
{
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		ckpt_die(c, what);
	begin(c, id);
	run(c, what, sql, id, bind_pos, a);
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ckpt_die(c, what);
}

void fs_ckpt_put_position(struct fs_ckpt *c, int64_t id, const char *source,
			  int64_t partition, int64_t position)
{
	struct pos_arg a = { source, partition, position, NULL, 0 };

	put(c, id, "INSERT OR REPLACE INTO positions VALUES "
	    "(?1, ?2, ?3, ?4, ?5)", &a, "cannot record a source position");
}

void fs_ckpt_put_positions(struct fs_ckpt *c, int64_t id, const char *source,
			   size_t n, const int64_t *partition,
			   const int64_t *position)
{
	const char *what = "cannot record a source position";

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		ckpt_die(c, what);
	begin(c, id);
	for (size_t i = 0; i < n; i++) {
		struct pos_arg a = { source, partition[i], position[i], NULL,
				     0 };

		run(c, what, "INSERT OR REPLACE INTO positions VALUES "
		    "(?1, ?2, ?3, ?4, ?5)", id, bind_pos, &a);
	}
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ckpt_die(c, what);
}

/*
 * Snapshots of SIDE_MIN bytes or more live in files beside the store
 * (STORE.snapshots/NAME), written and synced before their row is put,
 * so that a large snapshot does not hold the store's write lock, which
 * every process of the pipeline takes, while it is written (nor is it
 * written twice, to the WAL and then the database).  The row's state is
 * then a reference, the text "FSREF1 LENGTH NAME".  Reading resolves
 * it; pruning and restoring remove the files of the rows they delete;
 * an export holds the snapshots themselves.
 */
#define SIDE_MIN (1 << 20)
#define REF_MAGIC "FSREF1 "
#define SNAP_BYTES(col) "CASE WHEN CAST(substr(" col ", 1, 7) AS TEXT) = " \
	"'FSREF1 ' THEN CAST(CAST(substr(" col ", 8, 20) AS TEXT) AS " \
	"INTEGER) ELSE length(" col ") END"

static char *side_path(const struct fs_ckpt *c, const char *name)
{
	size_t n = strlen(c->path) + strlen(name) + 16;
	char *p = fs_xmalloc(n);

	snprintf(p, n, "%s.snapshots%s%s", c->path, *name ? "/" : "", name);
	return p;
}

/*
 * A page-aligned state (snapbuf.h's large buffers) goes to the file with
 * O_DIRECT up to its last whole page: no copy into the page cache, which
 * was a quarter of a snapshot's CPU time.  Where the file system will
 * not (tmpfs), or for the rest, plain writes.  Returns the bytes written.
 */
static size_t direct_write(int fd, const void *state, size_t n)
{
	size_t whole = n & ~(size_t)4095, off = 0;
	int fl = fcntl(fd, F_GETFL);

	if ((uintptr_t)state % 4096 != 0 || whole < ((size_t)1 << 20) ||
	    fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0)
		return 0;
	while (off < whole) {
		ssize_t k = write(fd, (const char *)state + off, whole - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || (size_t)k % 4096 != 0)
			break;	/* the rest as plain writes, from here */
		off += (size_t)k;
	}
	if (fcntl(fd, F_SETFL, fl) != 0 || lseek(fd, (off_t)off, SEEK_SET) !=
	    (off_t)off)
		fs_die_errno(FS_EXIT_FAIL, "cannot write a snapshot file");
	return off;
}

/* Write n bytes of state to a new file of the side directory, synced. */
static void side_write(struct fs_ckpt *c, const char *name, const void *state,
		       size_t n)
{
	char *dir = side_path(c, ""), *path = side_path(c, name), *tmp;
	size_t len = strlen(path) + 32, off = 0;
	int fd;

	tmp = fs_xmalloc(len);
	snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		fs_die_errno(FS_EXIT_FAIL, "checkpoint store '%s': cannot "
			     "make '%s'", c->path, dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fs_die_errno(FS_EXIT_FAIL, "checkpoint store '%s': cannot "
			     "create '%s'", c->path, tmp);
	off = direct_write(fd, state, n);
	while (off < n) {
		ssize_t k = write(fd, (const char *)state + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int e = k < 0 ? errno : ENOSPC;

			unlink(tmp);
			errno = e;
			fs_die_errno(FS_EXIT_FAIL, "checkpoint store '%s': "
				     "cannot write '%s'", c->path, tmp);
		}
		off += (size_t)k;
	}
	if (fdatasync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
		fs_die_errno(FS_EXIT_FAIL, "checkpoint store '%s': cannot "
			     "write '%s'", c->path, path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(tmp);
	free(path);
	free(dir);
}

void fs_ckpt_put_snapshot(struct fs_ckpt *c, int64_t id, const char *stage,
			  int64_t partition, const void *state, size_t n)
{
	struct pos_arg a = { stage, partition, 0, state, n };
	char name[64], ref[96];

	if (n >= SIDE_MIN) {
		size_t lj = strlen(c->job);
		char *k = fs_xmalloc(lj + strlen(stage) + 2);

		memcpy(k, c->job, lj + 1);
		memcpy(k + lj + 1, stage, strlen(stage) + 1);
		snprintf(name, sizeof(name), "%016llx-%lld-%lld.snap",
			 (unsigned long long)fs_hash64(k, lj + 1 +
						       strlen(stage)),
			 (long long)id, (long long)partition);
		free(k);
		side_write(c, name, state, n);
		snprintf(ref, sizeof(ref), REF_MAGIC "%zu %s", n, name);
		a.blob = ref;
		a.n = strlen(ref);
	}
	put(c, id, "INSERT OR REPLACE INTO snapshots VALUES "
	    "(?1, ?2, ?3, ?4, ?5)", &a, "cannot write a snapshot");
}

/*
 * The snapshot a row's state holds: itself, or the file it names (a
 * new buffer in *blob, its length in *n).  A file that is gone or of
 * another length is bad data (exit 3).
 */
static void resolve(struct fs_ckpt *c, void **blob, size_t *n)
{
	char name[80], *path;
	unsigned long long len;
	struct stat st;
	void *p;
	int fd;
	size_t off = 0;

	if (*n < 8 || *n > 90 || memcmp(*blob, REF_MAGIC, 7) != 0)
		return;
	memcpy(name, (char *)*blob + 7, *n - 7);
	name[*n - 7] = 0;
	{
		char file[80];

		if (sscanf(name, "%llu %79s", &len, file) != 2 ||
		    strchr(file, '/'))
			fs_die(FS_EXIT_DATA, "checkpoint store '%s': a bad "
			       "snapshot reference", c->path);
		path = side_path(c, file);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || (unsigned long long)st.st_size
	    != len)
		fs_die(FS_EXIT_DATA, "checkpoint store '%s': snapshot file '%s'"
		       " %s", c->path, path, fd < 0 ? "is missing" :
		       "has another length than the store says");
	p = fs_xmalloc(len ? len : 1);
	while (off < len) {
		ssize_t k = read(fd, (char *)p + off, len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			fs_die_errno(FS_EXIT_FAIL, "checkpoint store '%s': "
				     "cannot read '%s'", c->path, path);
		off += (size_t)k;
	}
	close(fd);
	free(path);
	free(*blob);
	*blob = p;
	*n = len;
}

/* Remove the side files of the snapshots of the checkpoints in gone. */
static char **gone_files(struct fs_ckpt *c)
{
	sqlite3_stmt *st;
	char **v = NULL;
	size_t n = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT CAST(substr(state, 8) AS TEXT)"
			       " FROM snapshots WHERE job = ?1 AND id IN "
			       "temp.gone AND CAST(substr(state, 1, 7) AS "
			       "TEXT) = 'FSREF1 '", -1, &st, NULL) != SQLITE_OK)
		ckpt_die(c, "cannot find snapshot files");
	sqlite3_bind_text(st, 1, c->job, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		const char *sp = t ? strchr(t, ' ') : NULL;

		if (!sp || strchr(sp + 1, '/'))
			continue;
		v = fs_xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = side_path(c, sp + 1);
		v[n] = NULL;
	}
	sqlite3_finalize(st);
	return v;
}

void fs_ckpt_put_sink(struct fs_ckpt *c, int64_t id, const char *sink,
		      int64_t length)
{
	struct pos_arg a = { sink, 0, length, NULL, 0 };

	put(c, id, "INSERT OR REPLACE INTO sinks (job, id, sink, length) "
	    "VALUES (?1, ?2, ?3, ?5)", &a, "cannot record a sink length");
}

static void bind_now(sqlite3_stmt *st, const void *p)
{
	(void)p;
	sqlite3_bind_int64(st, 3, fs_now_ns());
}

void fs_ckpt_put_pending(struct fs_ckpt *c, int64_t id, const char *part)
{
	struct pos_arg a = { part, 0, 0, NULL, 0 };

	put(c, id, "INSERT OR REPLACE INTO pending (job, id, part) "
	    "VALUES (?1, ?2, ?3)", &a, "cannot record a pending snapshot");
}

/* Complete id when its sink has committed and no part is pending. */
static const char try_sql[] =
	"UPDATE checkpoints SET status = 'complete', completed_ns = ?3 "
	"WHERE job = ?1 AND id = ?2 AND status = 'pending' AND EXISTS "
	"(SELECT 1 FROM sinks s WHERE s.job = ?1 AND s.id = ?2 AND "
	"s.length >= 0) AND NOT EXISTS (SELECT 1 FROM pending p WHERE "
	"p.job = ?1 AND p.id = ?2)";

/*
 * sql (run's binding) in a write transaction of its own; the rows it
 * changed.
 */
static int run_tx(struct fs_ckpt *c, const char *what, const char *sql,
		  int64_t id, void (*bind)(sqlite3_stmt *, const void *),
		  const void *arg)
{
	int n;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		ckpt_die(c, what);
	run(c, what, sql, id, bind, arg);
	n = sqlite3_changes(c->db);
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ckpt_die(c, what);
	return n;
}

int fs_ckpt_try_complete(struct fs_ckpt *c, int64_t id)
{
	return run_tx(c, "cannot complete a checkpoint", try_sql, id,
		      bind_now, NULL) > 0;
}

static void bind_part(sqlite3_stmt *st, const void *p)
{
	sqlite3_bind_text(st, 3, p, -1, SQLITE_STATIC);
}

void fs_ckpt_part_done(struct fs_ckpt *c, int64_t id, const char *part)
{
	run_tx(c, "cannot record a snapshot", "DELETE FROM pending WHERE "
	       "job = ?1 AND id = ?2 AND part = ?3", id, bind_part, part);
}

void fs_ckpt_complete(struct fs_ckpt *c, int64_t id)
{
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		ckpt_die(c, "cannot complete a checkpoint");
	begin(c, id);
	run(c, "cannot complete a checkpoint", "UPDATE checkpoints SET "
	    "status = 'complete', completed_ns = ?3 WHERE job = ?1 AND "
	    "id = ?2 AND status = 'pending'", id, bind_now, NULL);
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ckpt_die(c, "cannot complete a checkpoint");
}

/*
 * One integer (or, with n, a blob copied into a new buffer at *blob)
 * from sql for id and the name and partition in a; 0 when found, -1
 * when there is no such row.
 */
static int get(struct fs_ckpt *c, int64_t id, const char *sql,
	       const struct pos_arg *a, int64_t *v, void **blob, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		ckpt_die(c, "cannot read a checkpoint");
	sqlite3_bind_text(st, 1, c->job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	if (a) {
		sqlite3_bind_text(st, 3, a->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, a->part);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && blob) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		*blob = fs_xmalloc(len ? len : 1);
		if (len)
			memcpy(*blob, sqlite3_column_blob(st, 0), len);
		*n = len;
	} else if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ckpt_die(c, "cannot read a checkpoint");
	return rc == SQLITE_ROW ? 0 : -1;
}

int64_t fs_ckpt_latest(struct fs_ckpt *c)
{
	int64_t id = 0;

	if (get(c, 0, "SELECT max(id) FROM checkpoints WHERE job = ?1 AND "
		"status = 'complete' AND ?2 = 0 HAVING max(id) IS NOT NULL",
		NULL, &id, NULL, NULL) < 0)
		return 0;
	return id;
}

int fs_ckpt_get_position(struct fs_ckpt *c, int64_t id, const char *source,
			 int64_t partition, int64_t *position)
{
	struct pos_arg a = { source, partition, 0, NULL, 0 };

	return get(c, id, "SELECT position FROM positions WHERE job = ?1 "
		   "AND id = ?2 AND source = ?3 AND partition = ?4", &a,
		   position, NULL, NULL);
}

void *fs_ckpt_get_snapshot(struct fs_ckpt *c, int64_t id, const char *stage,
			   int64_t partition, size_t *n)
{
	struct pos_arg a = { stage, partition, 0, NULL, 0 };
	void *blob = NULL;

	if (get(c, id, "SELECT state FROM snapshots WHERE job = ?1 AND "
		"id = ?2 AND stage = ?3 AND partition = ?4", &a, NULL, &blob,
		n) < 0)
		return NULL;
	resolve(c, &blob, n);
	return blob;
}

int64_t *fs_ckpt_snapshot_parts(struct fs_ckpt *c, int64_t id,
				const char *stage, size_t *n)
{
	sqlite3_stmt *st;
	int64_t *v = NULL;
	size_t cap = 0;
	int rc;

	*n = 0;
	if (sqlite3_prepare_v2(c->db, "SELECT partition FROM snapshots WHERE "
			       "job = ?1 AND id = ?2 AND stage = ?3 ORDER BY "
			       "partition >= 0, abs(partition)", -1, &st,
			       NULL) != SQLITE_OK)
		ckpt_die(c, "cannot read a checkpoint");
	sqlite3_bind_text(st, 1, c->job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_text(st, 3, stage, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = fs_xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		ckpt_die(c, "cannot read a checkpoint");
	return v;
}

int fs_ckpt_get_sink(struct fs_ckpt *c, int64_t id, const char *sink,
		     int64_t *length)
{
	struct pos_arg a = { sink, 0, 0, NULL, 0 };

	return get(c, id, "SELECT length FROM sinks WHERE job = ?1 AND "
		   "id = ?2 AND sink = ?3 AND ?4 = 0", &a, length, NULL,
		   NULL);
}

void fs_ckpt_list(struct fs_ckpt *c, int all_jobs,
		  void (*fn)(const struct fs_ckpt_info *, void *), void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db,
	    "SELECT c.job, c.id, c.status, c.started_ns, c.completed_ns,"
	    " (SELECT count(*) FROM positions p WHERE p.job = c.job AND"
	    "  p.id = c.id),"
	    " (SELECT count(*) FROM snapshots s WHERE s.job = c.job AND"
	    "  s.id = c.id),"
	    " (SELECT coalesce(sum(" SNAP_BYTES("s.state") "), 0)"
	    "  FROM snapshots s"
	    "  WHERE s.job = c.job AND s.id = c.id),"
	    " (SELECT count(*) FROM sinks k WHERE k.job = c.job AND"
	    "  k.id = c.id)"
	    " FROM checkpoints c WHERE ?1 OR c.job = ?2"
	    " ORDER BY c.job, c.id", -1, &st, NULL) != SQLITE_OK)
		ckpt_die(c, "cannot list checkpoints");
	sqlite3_bind_int(st, 1, all_jobs);
	sqlite3_bind_text(st, 2, c->job, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fs_ckpt_info i = {
			.job = (const char *)sqlite3_column_text(st, 0),
			.id = sqlite3_column_int64(st, 1),
			.complete = !strcmp((const char *)
					    sqlite3_column_text(st, 2),
					    "complete"),
			.started_ns = sqlite3_column_int64(st, 3),
			.completed_ns = sqlite3_column_int64(st, 4),
			.npositions = sqlite3_column_int64(st, 5),
			.nsnapshots = sqlite3_column_int64(st, 6),
			.snapshot_bytes = sqlite3_column_int64(st, 7),
			.nsinks = sqlite3_column_int64(st, 8),
		};

		fn(&i, arg);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		ckpt_die(c, "cannot list checkpoints");
}

void fs_ckpt_parts(struct fs_ckpt *c, int64_t id,
		   void (*fn)(const struct fs_ckpt_part *, void *), void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db,
	    "SELECT 'position', source, partition, position FROM positions"
	    " WHERE job = ?1 AND id = ?2"
	    " UNION ALL SELECT 'snapshot', stage, partition, "
	    SNAP_BYTES("state")
	    " FROM snapshots WHERE job = ?1 AND id = ?2"
	    " UNION ALL SELECT 'sink', sink, 0, length FROM sinks"
	    " WHERE job = ?1 AND id = ?2 ORDER BY 1, 2, 3", -1, &st,
	    NULL) != SQLITE_OK)
		ckpt_die(c, "cannot read a checkpoint");
	sqlite3_bind_text(st, 1, c->job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fs_ckpt_part p = {
			.kind = (const char *)sqlite3_column_text(st, 0),
			.name = (const char *)sqlite3_column_text(st, 1),
			.partition = sqlite3_column_int64(st, 2),
			.value = sqlite3_column_int64(st, 3),
		};

		fn(&p, arg);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		ckpt_die(c, "cannot read a checkpoint");
}

/*
 * Delete the job's checkpoints whose ids match cond (SQL over the
 * checkpoints table, "id > 5"), with their rows in every table.
 * Returns how many checkpoints went.
 */
static int64_t delete_where(struct fs_ckpt *c, const char *what,
			    const char *cond)
{
	char *sql = sqlite3_mprintf(
		"CREATE TEMP TABLE IF NOT EXISTS gone (id INTEGER);"
		"DELETE FROM gone;"
		"INSERT INTO gone SELECT id FROM checkpoints"
		" WHERE job = %Q AND (%s);", c->job, cond);
	char *del = sqlite3_mprintf(
		"DELETE FROM positions WHERE job = %Q AND id IN gone;"
		"DELETE FROM snapshots WHERE job = %Q AND id IN gone;"
		"DELETE FROM sinks WHERE job = %Q AND id IN gone;"
		"DELETE FROM pending WHERE job = %Q AND id IN gone;"
		"DELETE FROM checkpoints WHERE job = %Q AND id IN gone;",
		c->job, c->job, c->job, c->job, c->job);
	char **files;
	int64_t n;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK || sqlite3_exec(c->db, sql, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		ckpt_die(c, what);
	}
	files = gone_files(c);
	if (sqlite3_exec(c->db, del, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		ckpt_die(c, what);
	}
	n = sqlite3_changes(c->db);	/* the checkpoints rows */
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		ckpt_die(c, what);
	}
	for (size_t i = 0; files && files[i]; i++) {
		(void)unlink(files[i]);
		free(files[i]);
	}
	free(files);
	sqlite3_free(sql);
	sqlite3_free(del);
	return n;
}

int64_t fs_ckpt_prune(struct fs_ckpt *c, int64_t keep)
{
	char *cond;
	int64_t n;

	/*
	 * Older than the keep-th newest complete one; pending ones older
	 * than the newest complete one (they will never complete).
	 */
	cond = sqlite3_mprintf("id < coalesce((SELECT id FROM checkpoints "
			       "WHERE job = %Q AND status = 'complete' "
			       "ORDER BY id DESC LIMIT 1 OFFSET %lld), 0) OR "
			       "(status = 'pending' AND id < %lld)", c->job,
			       (long long)(keep - 1),
			       (long long)fs_ckpt_latest(c));
	n = delete_where(c, "cannot prune", cond);
	sqlite3_free(cond);
	return n;
}

int fs_ckpt_restore(struct fs_ckpt *c, int64_t id, int64_t *removed)
{
	char cond[64];
	int64_t v;

	if (get(c, id, "SELECT 1 FROM checkpoints WHERE job = ?1 AND "
		"id = ?2 AND status = 'complete'", NULL, &v, NULL, NULL) < 0)
		return -1;
	/* the newer ones, complete or not: a savepoint goes back */
	snprintf(cond, sizeof(cond), "id > %lld", (long long)id);
	*removed = delete_where(c, "cannot restore", cond);
	return 0;
}

/* An export holds its snapshots, not references to this store's files. */
static void inline_refs(struct fs_ckpt *c, const char *path, int64_t id)
{
	struct fs_ckpt *x = fs_ckpt_open(path, c->job);
	sqlite3_stmt *st, *up;

	if (sqlite3_prepare_v2(x->db, "SELECT stage, partition FROM snapshots"
			       " WHERE job = ?1 AND id = ?2", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(x->db, "UPDATE snapshots SET "
			       "state = ?5 WHERE job = ?1 AND id = ?2 AND "
			       "stage = ?3 AND partition = ?4", -1, &up,
			       NULL) != SQLITE_OK)
		ckpt_die(x, "cannot export");
	sqlite3_bind_text(st, 1, c->job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *stage = (const char *)sqlite3_column_text(st, 0);
		int64_t part = sqlite3_column_int64(st, 1);
		size_t n;
		void *b = fs_ckpt_get_snapshot(c, id, stage, part, &n);

		sqlite3_bind_text(up, 1, c->job, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 2, id);
		sqlite3_bind_text(up, 3, stage, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 4, part);
		sqlite3_bind_blob64(up, 5, b ? b : "", b ? n : 0,
				    SQLITE_TRANSIENT);
		if (sqlite3_step(up) != SQLITE_DONE)
			ckpt_die(x, "cannot export");
		sqlite3_reset(up);
		free(b);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	fs_ckpt_close(x);
}

/* "partition IN (...)" for a set of n partitions, or "1" for all. */
static char *part_cond(const int64_t *set, size_t n)
{
	char *cond;

	if (!set)
		return sqlite3_mprintf("1");
	cond = sqlite3_mprintf("partition IN (");
	for (size_t i = 0; i < n && cond; i++) {
		char *t = sqlite3_mprintf("%s%s%lld", cond, i ? "," : "",
					  (long long)set[i]);

		sqlite3_free(cond);
		cond = t;
	}
	if (cond) {
		char *t = sqlite3_mprintf("%s)", cond);

		sqlite3_free(cond);
		cond = t;
	}
	if (!cond)
		fs_die(FS_EXIT_FAIL, "out of memory");
	return cond;
}

int fs_ckpt_export(struct fs_ckpt *c, int64_t id, const char *path,
		   const int64_t *set, size_t nset)
{
	struct fs_ckpt *x;
	char *sql, *cond;
	int64_t v;

	if (get(c, id, "SELECT 1 FROM checkpoints WHERE job = ?1 AND "
		"id = ?2 AND status = 'complete'", NULL, &v, NULL, NULL) < 0)
		return -1;
	x = fs_ckpt_open(path, c->job);		/* a store of its own */
	fs_ckpt_close(x);
	cond = part_cond(set, nset);
	sql = sqlite3_mprintf(
		"ATTACH %Q AS x;"
		"BEGIN IMMEDIATE;"
		"INSERT INTO x.checkpoints SELECT * FROM checkpoints"
		" WHERE job = %Q AND id = %lld;"
		"INSERT INTO x.positions SELECT * FROM positions"
		" WHERE job = %Q AND id = %lld AND %s;"
		"INSERT INTO x.snapshots SELECT * FROM snapshots"
		" WHERE job = %Q AND id = %lld AND (partition < 0 OR %s);"
		"INSERT INTO x.sinks SELECT * FROM sinks"
		" WHERE job = %Q AND id = %lld;"
		"COMMIT; DETACH x;", path, c->job, (long long)id, c->job,
		(long long)id, cond, c->job, (long long)id, cond, c->job,
		(long long)id);
	sqlite3_free(cond);
	if (!sql || sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_free(sql);
		ckpt_die(c, "cannot export");
	}
	sqlite3_free(sql);
	inline_refs(c, path, id);
	return 0;
}

/* Run sql (sqlite3_mprintf'd, freed here) on c; die naming what. */
static void exec_free(struct fs_ckpt *c, const char *what, char *sql)
{
	int rc;

	if (!sql)
		fs_die(FS_EXIT_FAIL, "out of memory");
	rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		char *e = fs_xstrdup(sqlite3_errmsg(c->db));

		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		fs_die(FS_EXIT_FAIL, "checkpoint store '%s': %s: %s", c->path,
		       what, e);
	}
}

/* The first column of sql's first row as text (a new string), or NULL. */
static char *text_of(struct fs_ckpt *c, char *sql)
{
	sqlite3_stmt *st;
	char *v = NULL;

	if (!sql || sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) !=
	    SQLITE_OK) {
		sqlite3_free(sql);
		ckpt_die(c, "cannot merge checkpoints");
	}
	sqlite3_free(sql);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = fs_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

/* Rows of export k that collide with what the merge holds so far. */
static const char conflict_sql[] =
	"SELECT 'partition ' || p.partition || ' of source ''' || p.source "
	"|| ''' is in an export before it (a partition has one reader)' "
	"FROM temp.mpos p WHERE p.k = %d AND EXISTS (SELECT 1 FROM positions "
	"q WHERE q.job = %Q AND q.id = %lld AND q.source = p.source AND "
	"q.partition = p.partition) "
	"UNION ALL "
	"SELECT 'key group ' || p.partition || ' of stage ''' || p.stage || "
	"''' is in an export before it (a key group has one owner)' "
	"FROM temp.msnap p WHERE p.k = %d AND p.partition >= 0 AND EXISTS "
	"(SELECT 1 FROM snapshots q WHERE q.job = %Q AND q.id = %lld AND "
	"q.stage = p.stage AND q.partition = p.partition) "
	"UNION ALL "
	"SELECT 'sink ''' || p.sink || ''' has another length in an export "
	"before it' FROM temp.msink p WHERE p.k = %d AND EXISTS (SELECT 1 "
	"FROM sinks q WHERE q.job = %Q AND q.id = %lld AND q.sink = p.sink "
	"AND q.length != p.length) LIMIT 1";

/* Export k's rows into checkpoint (job, id); instance rows renumbered. */
static const char merge_sql[] =
	"CREATE TEMP TABLE off AS SELECT stage, count(*) AS n FROM snapshots "
	"WHERE job = %Q AND id = %lld AND partition < 0 GROUP BY stage;"
	"INSERT INTO positions SELECT %Q, %lld, source, partition, position "
	"FROM temp.mpos WHERE k = %d;"
	"INSERT INTO snapshots SELECT %Q, %lld, p.stage, CASE WHEN "
	"p.partition < 0 THEN p.partition - ifnull((SELECT n FROM temp.off o "
	"WHERE o.stage = p.stage), 0) ELSE p.partition END, p.state FROM "
	"temp.msnap p WHERE p.k = %d;"
	"INSERT OR IGNORE INTO sinks SELECT %Q, %lld, sink, length FROM "
	"temp.msink WHERE k = %d;"
	"DROP TABLE temp.off;";

/*
 * Export k's latest complete checkpoint into the temporary tables (an
 * attached database cannot be detached inside the merge's transaction).
 */
static const char copy_sql[] =
	"ATTACH %Q AS x;"
	"CREATE TEMP TABLE IF NOT EXISTS mpos (k, source, partition, "
	"position);"
	"CREATE TEMP TABLE IF NOT EXISTS msnap (k, stage, partition, state);"
	"CREATE TEMP TABLE IF NOT EXISTS msink (k, sink, length);"
	"CREATE TEMP TABLE src AS SELECT job, max(id) AS id FROM "
	"x.checkpoints WHERE status = 'complete';"
	"INSERT INTO temp.mpos SELECT %d, p.source, p.partition, p.position "
	"FROM x.positions p, temp.src s WHERE p.job = s.job AND p.id = s.id;"
	"INSERT INTO temp.msnap SELECT %d, p.stage, p.partition, p.state "
	"FROM x.snapshots p, temp.src s WHERE p.job = s.job AND p.id = s.id;"
	"INSERT INTO temp.msink SELECT %d, p.sink, p.length FROM x.sinks p, "
	"temp.src s WHERE p.job = s.job AND p.id = s.id;"
	"DROP TABLE temp.src; DETACH x;";

static const char drop_sql[] = "DROP TABLE IF EXISTS temp.mpos;"
	"DROP TABLE IF EXISTS temp.msnap; DROP TABLE IF EXISTS temp.msink;";

int64_t fs_ckpt_merge(struct fs_ckpt *c, const char *const *paths,
		      size_t n)
{
	int64_t id = 0, v;
	long long j = 0, mx = 0;
	char *t;

	exec_free(c, "cannot merge checkpoints", sqlite3_mprintf(drop_sql));
	/* the new id: past every export's and the job's own */
	for (size_t i = 0; i < n; i++) {
		struct fs_ckpt *x = fs_ckpt_open(paths[i], NULL);

		t = text_of(x, sqlite3_mprintf("SELECT count(DISTINCT job) "
			"|| ' ' || ifnull(max(id), 0) FROM checkpoints WHERE "
			"status = 'complete'"));
		if (!t || sscanf(t, "%lld %lld", &j, &mx) != 2 || j != 1)
			fs_die(FS_EXIT_DATA, "cannot merge '%s': it holds %s "
			       "complete checkpoint, want one job's (made by "
			       "fs-checkpoint export)", paths[i],
			       j > 1 ? "several jobs'" : "no");
		free(t);
		id = mx > id ? mx : id;
		fs_ckpt_close(x);
		exec_free(c, "cannot read an export", sqlite3_mprintf(
			copy_sql, paths[i], (int)i, (int)i, (int)i));
	}
	if (get(c, 0, "SELECT max(id) FROM checkpoints WHERE job = ?1 AND "
		"?2 = 0 HAVING max(id) IS NOT NULL", NULL, &v, NULL,
		NULL) == 0 && v >= id)
		id = v + 1;
	exec_free(c, "cannot merge checkpoints", sqlite3_mprintf(
		"BEGIN IMMEDIATE;"
		"INSERT INTO checkpoints VALUES (%Q, %lld, 'complete', %lld, "
		"%lld);", c->job, (long long)id, (long long)fs_now_ns(),
		(long long)fs_now_ns()));
	for (size_t i = 0; i < n; i++) {
		const char *job = c->job;
		long long ll = (long long)id;
		int k = (int)i;

		t = text_of(c, sqlite3_mprintf(conflict_sql, k, job, ll, k,
					       job, ll, k, job, ll));
		if (t) {
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			fs_die(FS_EXIT_DATA, "cannot merge '%s' into "
			       "checkpoint store '%s': %s", paths[i], c->path,
			       t);
		}
		exec_free(c, "cannot merge checkpoints", sqlite3_mprintf(
			merge_sql, job, ll, job, ll, k, job, ll, k, job, ll,
			k));
	}
	exec_free(c, "cannot merge checkpoints", sqlite3_mprintf("COMMIT"));
	exec_free(c, "cannot merge checkpoints", sqlite3_mprintf(drop_sql));
	return id;
}

int64_t fs_ckpt_import(struct fs_ckpt *c, const char *path)
{
	struct fs_ckpt *x = fs_ckpt_open(path, NULL);	/* checks format */
	char *sql;
	int64_t n;

	fs_ckpt_close(x);
	sql = sqlite3_mprintf(
		"ATTACH %Q AS x;"
		"BEGIN IMMEDIATE;"
		"INSERT INTO checkpoints SELECT * FROM x.checkpoints;"
		"INSERT INTO positions SELECT * FROM x.positions;"
		"INSERT INTO snapshots SELECT * FROM x.snapshots;"
		"INSERT INTO sinks SELECT * FROM x.sinks;"
		"COMMIT;", path);
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_free(sql);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_exec(c->db, "DETACH x", NULL, NULL, NULL);
		ckpt_die(c, "cannot import (a checkpoint of the same job and "
			 "id is there already?)");
	}
	sqlite3_free(sql);
	if (get(c, 0, "SELECT count(*) FROM x.checkpoints WHERE ?1 = ?1 "
		"AND ?2 = 0", NULL, &n, NULL, NULL) < 0)
		n = 0;
	sqlite3_exec(c->db, "DETACH x", NULL, NULL, NULL);
	return n;
}

void fs_ckpt_request_stop(struct fs_ckpt *c)
{
	/* ?2, the id run() binds, is the time of the request */
	run(c, "cannot request a stop", "INSERT OR REPLACE INTO stops "
	    "VALUES (?1, ?2)", fs_now_ns(), NULL, NULL);
}

int fs_ckpt_stop_requested(struct fs_ckpt *c)
{
	int64_t v;

	return get(c, 0, "SELECT 1 FROM stops WHERE job = ?1 AND ?2 = 0",
		   NULL, &v, NULL, NULL) == 0;
}

void fs_ckpt_clear_stop(struct fs_ckpt *c)
{
	run(c, "cannot clear a stop request", "DELETE FROM stops WHERE "
	    "job = ?1 AND ?2 = ?2", 0, NULL, NULL);
}
