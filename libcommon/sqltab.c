/*
 * sqltab.c - a table read from SQLite, row by row, as text: the
 * `sqlite:FILE?table=NAME` sources of fs-limit's limits and fs-join's
 * lookup tables (fs.h: fs_sqlite_table).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"

int fs_sqlite_table(const char *src, unsigned maxcols,
		    int (*row)(void *arg, uint64_t line, unsigned nc,
			       const char *const *f, const size_t *fl),
		    void *arg, char *why, size_t whyn, int *io)
{
	const char *q = strstr(src, "?table=");
	char *file, sql[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const char **f = NULL;
	size_t *fl = NULL;
	uint64_t nrow = 0;
	struct stat sb;
	int rc = 0, sr = SQLITE_DONE, nc = 0;

	if (strncmp(src, "sqlite:", 7) != 0 || !q || !q[7] ||
	    strchr(q + 7, '"') || strlen(q + 7) > 128) {
		snprintf(why, whyn, "want sqlite:FILE?table=NAME");
		return -1;
	}
	file = fs_xmalloc((size_t)(q - src) - 7 + 1);
	memcpy(file, src + 7, (size_t)(q - src) - 7);
	file[q - src - 7] = '\0';
	snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", q + 7);
	if (stat(file, &sb) != 0 ||
	    sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		*io = 1;
		snprintf(why, whyn, "%s", db ? sqlite3_errmsg(db) :
			 strerror(errno));
		rc = -1;
	} else if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, whyn, "%s", sqlite3_errmsg(db));
		rc = -1;
	} else if ((nc = sqlite3_column_count(st)) > (int)maxcols) {
		snprintf(why, whyn, "row 0: %d columns, at most %u", nc,
			 maxcols);
		rc = -1;
	} else {
		f = fs_xmalloc((size_t)(nc ? nc : 1) * sizeof(*f));
		fl = fs_xmalloc((size_t)(nc ? nc : 1) * sizeof(*fl));
		for (int i = 0; i < nc; i++) {
			f[i] = sqlite3_column_name(st, i);
			fl[i] = strlen(f[i]);
		}
		rc = row(arg, 0, (unsigned)nc, f, fl);
		while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
			for (int i = 0; i < nc; i++) {
				f[i] = (const char *)sqlite3_column_text(st,
									 i);
				fl[i] = (size_t)sqlite3_column_bytes(st, i);
				if (!f[i])
					f[i] = "", fl[i] = 0;
			}
			rc = row(arg, ++nrow, (unsigned)nc, f, fl);
		}
		if (rc == 0 && sr != SQLITE_DONE) {
			snprintf(why, whyn, "%s", sqlite3_errmsg(db));
			rc = -1;
		}
	}
	free(f);
	free(fl);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(file);
	return rc;
}
