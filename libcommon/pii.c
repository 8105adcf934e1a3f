/*
 * pii.c - PII field encryption (AES-256-GCM, NIST SP 800-38D) and the
 * crypto-shredding key store (SQLite, WAL).  Contracts in pii.h; the
 * encrypted record layout in fs-record(5), Encrypted records.
 *
 * Hot path: a seal or an open looks its subject (or key id) up in an
 * open-addressing table of unwrapped keys; only a subject or key id
 * first seen by the handle costs a query, and new subjects are inserted
 * in batched transactions.
 *
 * Nonces: 8 bytes drawn by RAND_bytes when the handle opens (and again
 * each 2^32 seals), then a 32-bit counter, little-endian.  Within a
 * handle a nonce never repeats; two handles share a prefix with
 * probability 2^-64, well inside SP 800-38D section 8's bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "fs.h"
#include "pii.h"

#define BUSY_MS 10000
#define BATCH_SUBJECTS 65536
#define WRAPPED_LEN (12 + 32 + 16)
#define MAX_PII 8		/* PII fields of one type */

static const char check_aad[] = "finstream pii check";

/* ---- AES-256-GCM through EVP ---- */

struct fs_gcm {
	EVP_CIPHER_CTX *enc, *dec;
};

struct fs_gcm *fs_gcm_new(void)
{
	struct fs_gcm *g = fs_xcalloc(1, sizeof(*g));

	g->enc = EVP_CIPHER_CTX_new();
	g->dec = EVP_CIPHER_CTX_new();
	if (!g->enc || !g->dec ||
	    EVP_EncryptInit_ex(g->enc, EVP_aes_256_gcm(), NULL, NULL,
			       NULL) != 1 ||
	    EVP_DecryptInit_ex(g->dec, EVP_aes_256_gcm(), NULL, NULL,
			       NULL) != 1) {
		fs_gcm_free(g);
		return NULL;
	}
	return g;
}

void fs_gcm_free(struct fs_gcm *g)
{
	if (!g)
		return;
	EVP_CIPHER_CTX_free(g->enc);	/* cleanses the key schedule */
	EVP_CIPHER_CTX_free(g->dec);
	free(g);
}

/* Feed n bytes of AAD (any n, 0 too). */
static int gcm_aad(EVP_CIPHER_CTX *c, const void *p, size_t n)
{
	int outl;

	if (!n)
		return 1;
	if (n > INT32_MAX)
		return 0;
	return EVP_CipherUpdate(c, NULL, &outl, p, (int)n) == 1;
}

/* Encrypt or decrypt n bytes; GCM gives out exactly n bytes at once. */
static int gcm_crypt(EVP_CIPHER_CTX *c, const void *in, void *out, size_t n)
{
	int outl;

	if (!n)
		return 1;
	if (n > INT32_MAX)
		return 0;
	return EVP_CipherUpdate(c, out, &outl, in, (int)n) == 1 &&
	       (size_t)outl == n;
}

int fs_gcm_encrypt(struct fs_gcm *g, const uint8_t key[32],
		   const uint8_t iv[12], const void *aad1, size_t aad1len,
		   const void *aad2, size_t aad2len, const void *pt,
		   size_t plen, void *ct, uint8_t tag[16])
{
	int outl;

	if (EVP_EncryptInit_ex(g->enc, NULL, NULL, key, iv) != 1 ||
	    !gcm_aad(g->enc, aad1, aad1len) ||
	    !gcm_aad(g->enc, aad2, aad2len) ||
	    !gcm_crypt(g->enc, pt, ct, plen) ||
	    EVP_EncryptFinal_ex(g->enc, NULL, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(g->enc, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		return FS_PII_EIO;
	return 0;
}

int fs_gcm_decrypt(struct fs_gcm *g, const uint8_t key[32],
		   const uint8_t iv[12], const void *aad1, size_t aad1len,
		   const void *aad2, size_t aad2len, const void *ct,
		   size_t clen, void *pt, const uint8_t tag[16])
{
	int outl;

	if (EVP_DecryptInit_ex(g->dec, NULL, NULL, key, iv) != 1 ||
	    !gcm_aad(g->dec, aad1, aad1len) ||
	    !gcm_aad(g->dec, aad2, aad2len) ||
	    !gcm_crypt(g->dec, ct, pt, clen) ||
	    EVP_CIPHER_CTX_ctrl(g->dec, EVP_CTRL_GCM_SET_TAG, 16,
				(void *)tag) != 1)
		return FS_PII_EIO;
	if (EVP_DecryptFinal_ex(g->dec, NULL, &outl) != 1) {
		OPENSSL_cleanse(pt, clen);
		return FS_PII_ETAMPER;
	}
	return 0;
}

/* ---- PII fields of the built-in types, from the schema table ---- */

struct pii_type {
	uint8_t n;		/* PII fields; 0: the type is not sealed */
	uint8_t text;		/* the last is a FS_K_TEXT field */
	int16_t subject;	/* frame offset of the subject; -1: key */
	uint16_t off[MAX_PII];	/* frame offsets */
	uint16_t size[MAX_PII];
};

static struct pii_type pii_types[FS_TYPE_SLOTS];
static int pii_types_ready;

static void pii_types_init(void)
{
	if (pii_types_ready)
		return;
	for (const struct fs_type *t = fs_types; t->name; t++) {
		int slot = fs_type_slot(t->id);
		struct pii_type *p;

		if (slot < 0 || (t->id & 0x100))
			continue;
		p = &pii_types[slot];
		p->subject = -1;
		for (unsigned i = 0; i < t->nfields; i++) {
			const struct fs_field *f = &t->fields[i];

			if (!(f->flags & FS_FLD_PII))
				continue;
			if (p->n == MAX_PII || p->text)
				fs_bug("pii: type %s: too many PII fields, "
				       "or one after its text", t->name);
			if (f->kind == FS_K_TEXT)
				p->text = 1;
			else if ((f->flags & FS_FLD_KEY) && f->size == 8 &&
				 p->subject < 0)
				p->subject = (int16_t)f->off;
			p->off[p->n] = f->off;
			p->size[p->n] = f->size;
			p->n++;
		}
	}
	pii_types_ready = 1;
}

static const struct pii_type *pii_type(const struct fs_hdr *h)
{
	int slot = fs_type_slot(h->type);

	pii_types_init();
	if (slot < 0 || (h->flags & FS_F_CONTROL) || !pii_types[slot].n)
		return NULL;
	return &pii_types[slot];
}

int fs_pii_type_has_pii(unsigned type)
{
	int slot = fs_type_slot(type);

	pii_types_init();
	return slot >= 0 && pii_types[slot].n > 0;
}

static uint64_t load_u64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void store_u64(void *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* The subject of plain record h of type p (its body is long enough). */
static uint64_t subject_of(const struct fs_hdr *h, const struct pii_type *p)
{
	if (p->subject < 0)
		return h->key;
	return load_u64((const char *)h + p->subject);
}

uint64_t fs_pii_subject(const struct fs_hdr *h)
{
	const struct pii_type *p = pii_type(h);

	if (!p || (size_t)p->subject + 8 > fs_frame_size(h))
		return h->key;
	return subject_of(h, p);
}

/* ---- the cache of keys: open addressing, linear probing ---- */

enum { E_EMPTY = 0, E_LIVE, E_GONE };

struct ent {
	uint64_t id;		/* subject or key id: the table's key */
	uint64_t other;		/* key id or subject */
	uint8_t state;		/* E_*; E_GONE: erased, or none in store */
	uint8_t key[32];
};

struct table {
	struct ent *e;
	size_t mask, used;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The entry of id, or the empty slot where it would go. */
static struct ent *tab_find(struct table *t, uint64_t id)
{
	size_t i = mix64(id) & t->mask;

	while (t->e[i].state != E_EMPTY && t->e[i].id != id)
		i = (i + 1) & t->mask;
	return &t->e[i];
}

static void tab_init(struct table *t, size_t n)
{
	t->e = fs_xcalloc(n, sizeof(*t->e));
	t->mask = n - 1;
	t->used = 0;
}

static void tab_free(struct table *t)
{
	if (!t->e)
		return;
	OPENSSL_cleanse(t->e, (t->mask + 1) * sizeof(*t->e));
	free(t->e);
	t->e = NULL;
}

/* Room for one more entry: doubles the table at half full. */
static void tab_reserve(struct table *t)
{
	struct table n;

	if (2 * (t->used + 1) <= t->mask + 1)
		return;
	tab_init(&n, 2 * (t->mask + 1));
	for (size_t i = 0; i <= t->mask; i++)
		if (t->e[i].state != E_EMPTY) {
			*tab_find(&n, t->e[i].id) = t->e[i];
			n.used++;
		}
	tab_free(t);
	*t = n;
}

/* Insert or update id's entry; returns it. */
static struct ent *tab_put(struct table *t, uint64_t id, uint64_t other,
			   int state, const uint8_t key[32])
{
	struct ent *e;

	tab_reserve(t);
	e = tab_find(t, id);
	if (e->state == E_EMPTY)
		t->used++;
	e->id = id;
	e->other = other;
	e->state = (uint8_t)state;
	if (key)
		memcpy(e->key, key, 32);
	else
		OPENSSL_cleanse(e->key, 32);
	return e;
}

/* ---- the store ---- */

struct fs_pii {
	sqlite3 *db;
	char *path;
	uint8_t master[32];
	struct fs_gcm *gcm;
	struct table by_subject, by_key_id;
	int in_txn;
	unsigned txn_new;	/* subjects inserted in the transaction */
	int64_t txn_start;
	unsigned ops;		/* seals and opens, for tick() */
	int64_t tick_ns;
	int64_t data_version;	/* PRAGMA data_version at the last tick */
	uint8_t nonce_prefix[8];
	uint32_t nonce_ctr;
	sqlite3_stmt *st[4];	/* enum stmt_id, prepared once */
	char why[512];
};

/* The statements of the key lookups and inserts (one query each). */
enum stmt_id { ST_BY_SUBJECT, ST_BY_KEY_ID, ST_INSERT, ST_ERASED };
static const char *const stmt_sql[] = {
	"SELECT key_id, wrapped FROM pii_subjects WHERE subject = ?1",
	"SELECT subject, wrapped FROM pii_subjects WHERE key_id = ?1",
	"INSERT INTO pii_subjects (subject, key_id, wrapped, created_ns) "
	"VALUES (?1, ?2, ?3, ?4)",
	"SELECT 1 FROM pii_erased WHERE key_id = ?1",
};

static int fail(struct fs_pii *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set s->why from fmt; return err. */
static int fail(struct fs_pii *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return err;
}

/* An SQLite failure: what, the store's name, SQLite's message. */
static int db_fail(struct fs_pii *s, const char *what)
{
	int rc = sqlite3_errcode(s->db);

	return fail(s, rc == SQLITE_NOTADB ? FS_PII_EFORMAT : FS_PII_EIO,
		    "key store '%s': %s: %s", s->path, what,
		    sqlite3_errmsg(s->db));
}

const char *fs_pii_why(const struct fs_pii *s)
{
	return s->why;
}

int fs_pii_exit(int err)
{
	switch (err) {
	case FS_PII_ENOSTORE:
		return FS_EXIT_UNAVAIL;
	case FS_PII_EMASTER: case FS_PII_ENOSUBJECT: case FS_PII_ETAMPER:
	case FS_PII_EFORMAT: case FS_PII_EUNKNOWN:
		return FS_EXIT_DATA;
	case FS_PII_ENOKEY:
		return FS_EXIT_USAGE;
	default:
		return err < 0 ? FS_EXIT_FAIL : FS_EXIT_OK;
	}
}

/* 64 hex digits at p into key; 0 or -1. */
static int unhex32(const char *p, size_t n, uint8_t key[32])
{
	if (n != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int a = fs_hexval((unsigned char)p[2 * i]);
		int b = fs_hexval((unsigned char)p[2 * i + 1]);

		if (a < 0 || b < 0)
			return -1;
		key[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

/* Read up to n bytes of fd (short only at its end); -1 on error. */
static ssize_t read_most(int fd, char *buf, size_t n)
{
	size_t at = 0;
	ssize_t r;

	while (at < n) {
		r = read(fd, buf + at, n - at);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		at += (size_t)r;
	}
	return (ssize_t)at;
}

int fs_pii_master_key(const char *file, uint8_t key[32], char *why,
		      size_t whylen)
{
	char buf[66];
	ssize_t n;
	int fd, r;
	const char *env;

	if (!file) {
		env = getenv("FS_MASTER_KEY");
		if (!env || !*env) {
			snprintf(why, whylen, "no master key: give "
				 "--master-key-file or set FS_MASTER_KEY");
			return FS_PII_ENOKEY;
		}
		if (unhex32(env, strlen(env), key) < 0) {
			snprintf(why, whylen, "FS_MASTER_KEY: not 64 hex "
				 "digits");
			return FS_PII_ENOKEY;
		}
		return 0;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "cannot open master key file '%s': %s",
			 file, strerror(errno));
		return FS_PII_ENOKEY;
	}
	n = read_most(fd, buf, sizeof(buf));	/* 66: one too many */
	close(fd);
	if (n == 32) {
		memcpy(key, buf, 32);
		r = 0;
	} else if (n == 65 && buf[64] == '\n') {
		r = unhex32(buf, 64, key);
	} else {
		r = n == 64 ? unhex32(buf, 64, key) : -1;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (r < 0) {
		snprintf(why, whylen, "master key file '%s': not 32 bytes, "
			 "nor 64 hex digits", file);
		return FS_PII_ENOKEY;
	}
	return 0;
}

/* Run sql (no rows); 0 or an error. */
static int db_exec(struct fs_pii *s, const char *sql, const char *what)
{
	int64_t until = fs_mono_ns() + (int64_t)BUSY_MS * 1000000;
	int rc;

	while ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) ==
	       SQLITE_BUSY && fs_mono_ns() < until)
		fs_sleep_until(fs_mono_ns() + 2000000);
	return rc == SQLITE_OK ? 0 : db_fail(s, what);
}

/* Wrap or unwrap a subject key under the master key (pii.h). */
static int wrap_key(struct fs_pii *s, uint64_t key_id, uint64_t subject,
		    const uint8_t key[32], uint8_t out[WRAPPED_LEN])
{
	uint8_t aad[16];

	store_u64(aad, key_id);
	store_u64(aad + 8, subject);
	if (RAND_bytes(out, 12) != 1)
		return fail(s, FS_PII_EIO, "RAND_bytes failed");
	return fs_gcm_encrypt(s->gcm, s->master, out, aad, 16, NULL, 0, key,
			      32, out + 12, out + 44);
}

static int unwrap_key(struct fs_pii *s, uint64_t key_id, uint64_t subject,
		      const void *w, size_t n, uint8_t key[32])
{
	uint8_t aad[16];
	const uint8_t *p = w;

	store_u64(aad, key_id);
	store_u64(aad + 8, subject);
	if (n != WRAPPED_LEN ||
	    fs_gcm_decrypt(s->gcm, s->master, p, aad, 16, NULL, 0, p + 12, 32,
			   key, p + 44) != 0)
		return fail(s, FS_PII_EFORMAT, "key store '%s': the key of "
			    "subject %llu does not unwrap (a damaged row)",
			    s->path, (unsigned long long)subject);
	return 0;
}

/* Make or check the master key's check value (pii.h). */
static int check_master(struct fs_pii *s, int create)
{
	sqlite3_stmt *st;
	uint8_t v[12 + 32 + 16], zero[32] = { 0 }, out[32];
	int rc, r;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM pii_meta WHERE "
			       "name = 'check'", -1, &st, NULL) != SQLITE_OK)
		return sqlite3_errcode(s->db) == SQLITE_ERROR ?
		       fail(s, FS_PII_EFORMAT, "key store '%s': not a key "
			    "store (no pii_meta table)", s->path) :
		       db_fail(s, "cannot read it");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r = sqlite3_column_bytes(st, 0) == (int)sizeof(v) ? 0 : -1;
		if (!r)
			memcpy(v, sqlite3_column_blob(st, 0), sizeof(v));
		sqlite3_finalize(st);
		if (r < 0)
			return fail(s, FS_PII_EFORMAT, "key store '%s': a "
				    "malformed check value", s->path);
		r = fs_gcm_decrypt(s->gcm, s->master, v, check_aad,
				   sizeof(check_aad) - 1, NULL, 0, v + 12, 32,
				   out, v + 44);
		if (r == FS_PII_ETAMPER || (!r && memcmp(out, zero, 32)))
			return fail(s, FS_PII_EMASTER, "key store '%s': wrong "
				    "master key", s->path);
		return r ? fail(s, r, "key store '%s': cannot check the "
				"master key", s->path) : 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, "cannot read its check value");
	if (!create)
		return fail(s, FS_PII_EFORMAT, "key store '%s': not a key "
			    "store (no check value)", s->path);
	if (RAND_bytes(v, 12) != 1 ||
	    fs_gcm_encrypt(s->gcm, s->master, v, check_aad,
			   sizeof(check_aad) - 1, NULL, 0, zero, 32, v + 12,
			   v + 44) != 0)
		return fail(s, FS_PII_EIO, "cannot make a check value");
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO pii_meta "
			       "(name, value) VALUES ('check', ?1), "
			       "('version', 1)", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, "cannot write its check value");
	sqlite3_bind_blob(st, 1, v, sizeof(v), SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, "cannot write its check value");
	/* Another process may have made the store first: check again. */
	return check_master(s, 0);
}

/* A SQLite file with tables, none of them ours. */
static int foreign(struct fs_pii *s)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*), sum(name = "
			       "'pii_meta') FROM sqlite_master WHERE type = "
			       "'table'", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "cannot read it");
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0) > 0 &&
		    sqlite3_column_int(st, 1) == 0;
	sqlite3_finalize(st);
	return n ? fail(s, FS_PII_EFORMAT, "key store '%s': not a key "
			"store: another program's database", s->path) : 0;
}

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS pii_meta ("
	" name TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS pii_subjects ("
	" subject INTEGER PRIMARY KEY,"
	" key_id INTEGER NOT NULL UNIQUE,"
	" wrapped BLOB NOT NULL,"
	" created_ns INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS pii_erased ("
	" key_id INTEGER PRIMARY KEY, erased_ns INTEGER NOT NULL);";

/* PRAGMA data_version: changes when another connection commits. */
static int64_t data_version(struct fs_pii *s)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, "cannot read its version");
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v >= 0 ? v : db_fail(s, "cannot read its version");
}

static int store_setup(struct fs_pii *s, int flags)
{
	int r;

	sqlite3_busy_timeout(s->db, BUSY_MS);
	if ((r = foreign(s)) < 0)
		return r;
	if ((r = db_exec(s, "PRAGMA journal_mode = WAL;"
			 "PRAGMA synchronous = FULL;"
			 "PRAGMA secure_delete = ON;"
			 "PRAGMA cache_size = -65536;",
			 "cannot use it")) < 0)
		return r;
	if ((r = db_exec(s, schema_sql, "cannot create its tables")) < 0)
		return r;
	s->gcm = fs_gcm_new();
	if (!s->gcm)
		return fail(s, FS_PII_EIO, "cannot set up AES-256-GCM");
	if ((r = check_master(s, flags & FS_PII_CREATE)) < 0)
		return r;
	if (RAND_bytes(s->nonce_prefix, 8) != 1)
		return fail(s, FS_PII_EIO, "RAND_bytes failed");
	tab_init(&s->by_subject, 1024);
	tab_init(&s->by_key_id, 1024);
	s->tick_ns = fs_mono_ns();
	if ((s->data_version = data_version(s)) < 0)
		return (int)s->data_version;
	return 0;
}

static void store_free(struct fs_pii *s)
{
	for (int i = 0; i < 4; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db)
		sqlite3_close(s->db);
	fs_gcm_free(s->gcm);
	tab_free(&s->by_subject);
	tab_free(&s->by_key_id);
	OPENSSL_cleanse(s->master, sizeof(s->master));
	free(s->path);
	free(s);
}

/*
 * A new store is made mode 0600 (SQLite gives its -wal and -shm files
 * the same); an existing file is left as it is.
 */
static int make_private(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	close(fd);
	return 0;
}

struct fs_pii *fs_pii_store_open(const char *path, const uint8_t master[32],
				 int flags, int *err, char *why,
				 size_t whylen)
{
	struct fs_pii *s = fs_xcalloc(1, sizeof(*s));
	struct stat sb;
	int r, oflags = SQLITE_OPEN_READWRITE;

	s->path = fs_xstrdup(path);
	memcpy(s->master, master, 32);
	if (flags & FS_PII_CREATE)
		oflags |= SQLITE_OPEN_CREATE;
	if (!(flags & FS_PII_CREATE) && stat(path, &sb) != 0) {
		r = fail(s, errno == ENOENT ? FS_PII_ENOSTORE : FS_PII_EIO,
			 "key store '%s': cannot open: %s", path,
			 strerror(errno));
	} else if ((flags & FS_PII_CREATE) && make_private(path) < 0) {
		r = fail(s, FS_PII_EIO, "key store '%s': cannot create: %s",
			 path, strerror(errno));
	} else if (sqlite3_open_v2(path, &s->db, oflags, NULL) != SQLITE_OK) {
		r = db_fail(s, "cannot open");
	} else {
		r = store_setup(s, flags);
	}
	if (r < 0) {
		*err = r;
		snprintf(why, whylen, "%s", s->why);
		store_free(s);
		return NULL;
	}
	*err = 0;
	return s;
}

int fs_pii_flush(struct fs_pii *s)
{
	int r;

	if (!s->in_txn)
		return 0;
	r = db_exec(s, "COMMIT", "cannot commit new keys");
	if (r < 0)
		return r;
	s->in_txn = 0;
	s->txn_new = 0;
	return 0;
}

void fs_pii_store_close(struct fs_pii *s)
{
	if (!s)
		return;
	if (fs_pii_flush(s) < 0)
		fs_warn("%s", s->why);
	store_free(s);
}

/* Statement id, prepared at its first use; NULL on failure. */
static sqlite3_stmt *stmt(struct fs_pii *s, enum stmt_id id)
{
	if (!s->st[id] &&
	    sqlite3_prepare_v3(s->db, stmt_sql[id], -1,
			       SQLITE_PREPARE_PERSISTENT, &s->st[id],
			       NULL) != SQLITE_OK)
		return NULL;
	return s->st[id];
}

/*
 * Look subject's row up: 1 and its key id and key, 0 when there is
 * none, or an error.
 */
static int row_by_subject(struct fs_pii *s, uint64_t subject,
			  uint64_t *key_id, uint8_t key[32])
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (!(st = stmt(s, ST_BY_SUBJECT)))
		return db_fail(s, "cannot read keys");
	sqlite3_bind_int64(st, 1, (int64_t)subject);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*key_id = (uint64_t)sqlite3_column_int64(st, 0);
		r = unwrap_key(s, *key_id, subject,
			       sqlite3_column_blob(st, 1),
			       (size_t)sqlite3_column_bytes(st, 1), key);
		r = r < 0 ? r : 1;
	} else if (rc != SQLITE_DONE) {
		r = db_fail(s, "cannot read keys");
	}
	sqlite3_reset(st);
	return r;
}

/* As row_by_subject, by key id. */
static int row_by_key_id(struct fs_pii *s, uint64_t key_id,
			 uint64_t *subject, uint8_t key[32])
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (!(st = stmt(s, ST_BY_KEY_ID)))
		return db_fail(s, "cannot read keys");
	sqlite3_bind_int64(st, 1, (int64_t)key_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*subject = (uint64_t)sqlite3_column_int64(st, 0);
		r = unwrap_key(s, key_id, *subject,
			       sqlite3_column_blob(st, 1),
			       (size_t)sqlite3_column_bytes(st, 1), key);
		r = r < 0 ? r : 1;
	} else if (rc != SQLITE_DONE) {
		r = db_fail(s, "cannot read keys");
	}
	sqlite3_reset(st);
	return r;
}

/*
 * Insert a new key for subject (in the open transaction); 1 when
 * inserted, 0 when the key id was taken (draw again), or an error.
 */
static int insert_key(struct fs_pii *s, uint64_t subject, uint64_t key_id,
		      const uint8_t key[32])
{
	uint8_t w[WRAPPED_LEN];
	sqlite3_stmt *st;
	int rc, r;

	if ((r = wrap_key(s, key_id, subject, key, w)) < 0)
		return r;
	if (!(st = stmt(s, ST_INSERT)))
		return db_fail(s, "cannot add a key");
	sqlite3_bind_int64(st, 1, (int64_t)subject);
	sqlite3_bind_int64(st, 2, (int64_t)key_id);
	sqlite3_bind_blob(st, 3, w, sizeof(w), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, fs_now_ns());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc == SQLITE_CONSTRAINT)
		return 0;
	return db_fail(s, "cannot add a key");
}

/* Begin the batch transaction of new keys, or end a long one. */
static int batch(struct fs_pii *s)
{
	int r;

	if (s->in_txn && (s->txn_new >= BATCH_SUBJECTS ||
			  fs_mono_ns() - s->txn_start > 1000000000) &&
	    (r = fs_pii_flush(s)) < 0)
		return r;
	if (s->in_txn)
		return 0;
	if ((r = db_exec(s, "BEGIN IMMEDIATE", "cannot add keys")) < 0)
		return r;
	s->in_txn = 1;
	s->txn_start = fs_mono_ns();
	return 0;
}

/* The key of subject for sealing: cached, from the store, or new. */
static struct ent *seal_key(struct fs_pii *s, uint64_t subject, int *err)
{
	struct ent *e = tab_find(&s->by_subject, subject);
	uint8_t key[32];
	uint64_t key_id = 0;
	int r;

	if (e->state == E_LIVE)
		return e;
	if ((r = batch(s)) < 0 || (r = row_by_subject(s, subject, &key_id,
						      key)) < 0) {
		*err = r;
		return NULL;
	}
	while (r == 0) {
		if (RAND_bytes(key, 32) != 1 ||
		    RAND_bytes((uint8_t *)&key_id, 8) != 1) {
			*err = fail(s, FS_PII_EIO, "RAND_bytes failed");
			return NULL;
		}
		if (key_id == 0)
			continue;
		if ((r = insert_key(s, subject, key_id, key)) < 0) {
			*err = r;
			OPENSSL_cleanse(key, 32);
			return NULL;
		}
		s->txn_new += r;
	}
	tab_put(&s->by_key_id, key_id, subject, E_LIVE, key);
	e = tab_put(&s->by_subject, subject, key_id, E_LIVE, key);
	OPENSSL_cleanse(key, 32);
	return e;
}

/*
 * Whether key_id was erased from the store: 0 (E_GONE, so the open_key
 * below puts no key), or FS_PII_EUNKNOWN when the store never had it.
 */
static int was_erased(struct fs_pii *s, uint64_t key_id)
{
	sqlite3_stmt *st = stmt(s, ST_ERASED);
	int rc;

	if (!st)
		return db_fail(s, "cannot read erasures");
	sqlite3_bind_int64(st, 1, (int64_t)key_id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return db_fail(s, "cannot read erasures");
	return fail(s, FS_PII_EUNKNOWN, "key store '%s': no key id "
		    "%016llx, erased or not: a record sealed with another "
		    "key store?", s->path, (unsigned long long)key_id);
}

/* The entry of key_id for opening: E_LIVE with its key, or E_GONE. */
static struct ent *open_key(struct fs_pii *s, uint64_t key_id, int *err)
{
	struct ent *e = tab_find(&s->by_key_id, key_id);
	uint8_t key[32];
	uint64_t subject = 0;
	int r;

	if (e->state != E_EMPTY)
		return e;
	if ((r = row_by_key_id(s, key_id, &subject, key)) < 0 ||
	    (r == 0 && (r = was_erased(s, key_id)) < 0)) {
		*err = r;
		return NULL;
	}
	e = tab_put(&s->by_key_id, key_id, subject, r ? E_LIVE : E_GONE,
		    r ? key : NULL);
	OPENSSL_cleanse(key, 32);
	return e;
}

/* ---- records ---- */

static void tab_clear(struct table *t)
{
	OPENSSL_cleanse(t->e, (t->mask + 1) * sizeof(*t->e));
	memset(t->e, 0, (t->mask + 1) * sizeof(*t->e));
	t->used = 0;
}

/*
 * Every TICK_OPS seals and opens, once a second at most: commit the
 * new keys (so the write lock is never held long), and when another
 * process changed the store (an erase), forget the cached keys, so an
 * erase reaches a running writer or reader within about a second.
 */
#define TICK_OPS 1024
static int tick(struct fs_pii *s)
{
	int64_t now, v = 0;
	int r;

	if (++s->ops % TICK_OPS)
		return 0;
	now = fs_mono_ns();
	if (now - s->tick_ns < 1000000000)
		return 0;
	s->tick_ns = now;
	if ((r = fs_pii_flush(s)) < 0 || (v = data_version(s)) < 0)
		return r < 0 ? r : (int)v;
	if (v != s->data_version) {
		s->data_version = v;
		tab_clear(&s->by_subject);
		tab_clear(&s->by_key_id);
	}
	return 0;
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Copy frame in to out unchanged. */
static int copy_frame(struct fs_pii *s, const struct fs_hdr *in, void *out,
		      size_t cap)
{
	size_t n = fs_frame_size(in);

	if (n > cap)
		return fail(s, FS_PII_ESPACE, "pii: out buffer too small");
	memmove(out, in, n);
	return (int)n;
}

/*
 * The shape of a sealed record of type p made from a plain body of
 * blen bytes: the cleared body's length and the plaintext's.
 */
static int sealed_shape(const struct pii_type *p, size_t blen,
			size_t *clen, size_t *plen)
{
	size_t n = 8;

	for (unsigned i = 0; i < p->n; i++) {
		size_t end = p->off[i] - FS_HDR_SIZE + (size_t)p->size[i];

		if (end > blen)
			return -1;
		if (p->text && i == p->n - 1U)
			n += blen - (p->off[i] - FS_HDR_SIZE);
		else
			n += p->size[i];
	}
	*clen = p->text ? pad8(p->off[p->n - 1] - FS_HDR_SIZE + 4) : blen;
	*plen = n;
	return 0;
}

/* The next nonce: prefix and counter (the file comment). */
static int next_nonce(struct fs_pii *s, uint8_t nonce[12])
{
	if (s->nonce_ctr == UINT32_MAX) {
		if (RAND_bytes(s->nonce_prefix, 8) != 1)
			return fail(s, FS_PII_EIO, "RAND_bytes failed");
		s->nonce_ctr = 0;
	}
	memcpy(nonce, s->nonce_prefix, 8);
	memcpy(nonce + 8, &s->nonce_ctr, 4);
	s->nonce_ctr++;
	return 0;
}

/* Encrypt the plaintext of in (key, PII fields) into ct; pii.h. */
static int seal_crypt(struct fs_pii *s, const struct fs_hdr *in,
		      const struct pii_type *p, uint8_t *ct)
{
	EVP_CIPHER_CTX *c = s->gcm->enc;
	const char *f = (const char *)in;
	size_t blen = fs_body_len(in), at = 8;

	if (!gcm_crypt(c, &in->key, ct, 8))
		return 0;
	for (unsigned i = 0; i < p->n; i++) {
		size_t n = p->size[i];

		if (p->text && i == p->n - 1U)
			n = blen - (p->off[i] - FS_HDR_SIZE);
		if (!gcm_crypt(c, f + p->off[i], ct + at, n))
			return 0;
		at += n;
	}
	return 1;
}

int fs_pii_seal(struct fs_pii *s, const struct fs_hdr *in, void *out,
		size_t cap)
{
	const struct pii_type *p = pii_type(in);
	size_t blen = fs_body_len(in), clen, plen, total;
	struct fs_hdr *o = out;
	uint8_t *body, *ct, *foot;
	struct ent *e;
	int err = 0, outl;

	if (!p || (in->flags & (FS_F_ENCRYPTED | FS_F_ERASED)))
		return copy_frame(s, in, out, cap);
	if ((err = tick(s)) < 0)
		return err;
	if (sealed_shape(p, blen, &clen, &plen) < 0)
		return fail(s, FS_PII_EFORMAT, "a %s body of %zu bytes is "
			    "too short for its PII fields",
			    fs_type_by_id(in->type)->name, blen);
	total = FS_HDR_SIZE + clen + pad8(plen) + FS_PII_FOOTER;
	if (total - 4 > FS_FRAME_MAX)
		return fail(s, FS_PII_EFORMAT, "a sealed record of %zu "
			    "bytes would pass the 16 MiB limit", total);
	if (total > cap)
		return fail(s, FS_PII_ESPACE, "pii: out buffer too small");
	e = seal_key(s, subject_of(in, p), &err);
	if (!e)
		return err;
	memcpy(o, in, FS_HDR_SIZE);
	o->len = (uint32_t)(total - 4);
	o->flags |= FS_F_ENCRYPTED;
	o->key = e->other;
	body = (uint8_t *)out + FS_HDR_SIZE;
	memcpy(body, fs_body(in), clen < blen ? clen : blen);
	if (clen > blen)
		memset(body + blen, 0, clen - blen);
	for (unsigned i = 0; i < p->n; i++)
		memset((uint8_t *)out + p->off[i], 0, p->size[i]);
	if (p->text)	/* the text's length and its bytes up to clen */
		memset((uint8_t *)out + p->off[p->n - 1], 0,
		       FS_HDR_SIZE + clen - p->off[p->n - 1]);
	ct = body + clen;
	memset(ct + plen, 0, pad8(plen) - plen);
	foot = ct + pad8(plen);
	store_u64(foot, e->other);
	if ((err = next_nonce(s, foot + 8)) < 0)
		return err;
	memcpy(foot + 20, &(uint32_t){ (uint32_t)plen }, 4);
	if (EVP_EncryptInit_ex(s->gcm->enc, NULL, NULL, e->key,
			       foot + 8) != 1 ||
	    !gcm_aad(s->gcm->enc, out, FS_HDR_SIZE + clen) ||
	    !gcm_aad(s->gcm->enc, foot, 24) || !seal_crypt(s, in, p, ct) ||
	    EVP_EncryptFinal_ex(s->gcm->enc, NULL, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->gcm->enc, EVP_CTRL_GCM_GET_TAG, 16,
				foot + 24) != 1) {
		OPENSSL_cleanse(out, total);
		return fail(s, FS_PII_EIO, "AES-256-GCM failed");
	}
	return (int)total;
}

/* Decrypt the plaintext into its places in out; pii.h. */
static int open_crypt(struct fs_pii *s, const struct pii_type *p,
		      const uint8_t *ct, size_t plen, size_t clen,
		      struct fs_hdr *o, size_t cap, size_t *blen)
{
	EVP_CIPHER_CTX *c = s->gcm->dec;
	uint8_t *f = (uint8_t *)o;
	size_t at = 8;

	*blen = clen;
	if (!gcm_crypt(c, ct, &o->key, 8))
		return FS_PII_EIO;
	for (unsigned i = 0; i < p->n; i++) {
		size_t n = p->size[i], boff = p->off[i] - FS_HDR_SIZE;

		if (p->text && i == p->n - 1U) {
			n = plen - at;
			*blen = boff + n;
			if (n < 4 || *blen % 8 || FS_HDR_SIZE + *blen > cap)
				return FS_PII_EFORMAT;
		} else if (boff + n > clen || at + n > plen) {
			return FS_PII_EFORMAT;
		}
		if (!gcm_crypt(c, ct + at, f + p->off[i], n))
			return FS_PII_EIO;
		at += n;
	}
	return at == plen ? 0 : FS_PII_EFORMAT;
}

/* The redacted record of an erased subject (pii.h). */
static int open_erased(struct fs_hdr *o, size_t clen)
{
	o->len = (uint32_t)(FS_HDR_SIZE + clen - 4);
	o->key = 0;
	o->flags = (uint8_t)((o->flags & ~FS_F_ENCRYPTED) | FS_F_ERASED);
	return (int)(FS_HDR_SIZE + clen);
}

int fs_pii_open(struct fs_pii *s, const struct fs_hdr *in, void *out,
		size_t cap)
{
	const struct pii_type *p = pii_type(in);
	size_t blen = fs_body_len(in), clen, plen, olen;
	const uint8_t *body = fs_body(in), *foot, *ct;
	uint8_t tag[16], nonce[12];
	struct fs_hdr *o = out;
	uint32_t plen32;
	struct ent *e;
	int r = 0, outl;

	if (!(in->flags & FS_F_ENCRYPTED))
		return copy_frame(s, in, out, cap);
	if ((r = tick(s)) < 0)
		return r;
	if (!p || blen < FS_PII_FOOTER)
		return fail(s, FS_PII_EFORMAT, "an encrypted record of type "
			    "%u without PII fields or a trailer", in->type);
	foot = body + blen - FS_PII_FOOTER;
	memcpy(&plen32, foot + 20, 4);
	plen = plen32;
	if (plen > blen - FS_PII_FOOTER ||
	    load_u64(foot) != in->key)
		return fail(s, FS_PII_EFORMAT, "a malformed encryption "
			    "trailer (frame of %zu bytes)",
			    fs_frame_size(in));
	clen = blen - FS_PII_FOOTER - pad8(plen);
	ct = body + clen;
	for (size_t i = plen; i < pad8(plen); i++)
		if (ct[i])
			return fail(s, FS_PII_EFORMAT, "a malformed "
				    "encryption trailer (padding)");
	if (FS_HDR_SIZE + clen > cap)
		return fail(s, FS_PII_ESPACE, "pii: out buffer too small");
	e = open_key(s, in->key, &r);
	if (!e)
		return r;
	memcpy(tag, foot + 24, 16);
	memcpy(nonce, foot + 8, 12);
	memmove(o, in, FS_HDR_SIZE + clen);
	if (e->state == E_GONE)
		return open_erased(o, clen);
	/* in may be out: the AAD and ciphertext are read from in first. */
	if (o == in)
		return fail(s, FS_PII_ESPACE, "pii: open in place");
	if (EVP_DecryptInit_ex(s->gcm->dec, NULL, NULL, e->key,
			       nonce) != 1 ||
	    !gcm_aad(s->gcm->dec, in, FS_HDR_SIZE + clen) ||
	    !gcm_aad(s->gcm->dec, foot, 24))
		return fail(s, FS_PII_EIO, "AES-256-GCM failed");
	r = open_crypt(s, p, ct, plen, clen, o, cap, &olen);
	if (!r && (EVP_CIPHER_CTX_ctrl(s->gcm->dec, EVP_CTRL_GCM_SET_TAG,
				       16, tag) != 1 ||
		   EVP_DecryptFinal_ex(s->gcm->dec, NULL, &outl) != 1))
		r = FS_PII_ETAMPER;
	if (r < 0) {
		OPENSSL_cleanse(out, cap < fs_frame_size(in) ? cap :
				fs_frame_size(in));
		return fail(s, r, r == FS_PII_ETAMPER ? "a changed encrypted "
			    "record: its tag does not match (key id %016llx, "
			    "seq %llu)" : "a malformed encrypted record (key "
			    "id %016llx, seq %llu)",
			    (unsigned long long)in->key,
			    (unsigned long long)in->seq);
	}
	o->len = (uint32_t)(FS_HDR_SIZE + olen - 4);
	o->flags &= (uint8_t)~FS_F_ENCRYPTED;
	return (int)(FS_HDR_SIZE + olen);
}

/* ---- erasure ---- */

/* Empty the WAL into the database and truncate it; 0 or an error. */
static int truncate_wal(struct fs_pii *s)
{
	for (int tries = 0; tries < 50; tries++) {
		int busy = 1, log = 0, done = 0;

		if (sqlite3_wal_checkpoint_v2(s->db, NULL,
					      SQLITE_CHECKPOINT_TRUNCATE,
					      &log, &done) == SQLITE_OK)
			busy = 0;
		else if (sqlite3_errcode(s->db) != SQLITE_BUSY)
			return db_fail(s, "cannot checkpoint its WAL");
		if (!busy)
			return 0;
		fs_sleep_until(fs_mono_ns() + 100000000);
	}
	return fail(s, FS_PII_EIO, "key store '%s': another process keeps "
		    "its WAL from being truncated: the erased key may still "
		    "be in '%s-wal'; erase again", s->path, s->path);
}

/* Note that key_id was erased (no subject: nothing links it to one). */
static int note_erased(struct fs_pii *s, uint64_t key_id)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO pii_erased "
			       "(key_id, erased_ns) VALUES (?1, ?2)", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, "cannot erase");
	sqlite3_bind_int64(st, 1, (int64_t)key_id);
	sqlite3_bind_int64(st, 2, fs_now_ns());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(s, "cannot erase");
}

int fs_pii_erase(struct fs_pii *s, uint64_t subject)
{
	sqlite3_stmt *st;
	uint64_t key_id = 0;
	int rc, r, n;

	if ((r = fs_pii_flush(s)) < 0 ||
	    (r = db_exec(s, "BEGIN IMMEDIATE", "cannot erase")) < 0)
		return r;
	if (sqlite3_prepare_v2(s->db, "DELETE FROM pii_subjects WHERE "
			       "subject = ?1 RETURNING key_id", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_fail(s, "cannot erase");
		goto rollback;
	}
	sqlite3_bind_int64(st, 1, (int64_t)subject);
	n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		key_id = (uint64_t)sqlite3_column_int64(st, 0);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		r = db_fail(s, "cannot erase");
		goto rollback;
	}
	if (n == 0) {
		r = fail(s, FS_PII_ENOSUBJECT, "key store '%s': no key of "
			 "subject %llu (never seen, or erased already)",
			 s->path, (unsigned long long)subject);
		goto rollback;
	}
	if ((r = note_erased(s, key_id)) < 0 ||
	    (r = db_exec(s, "COMMIT", "cannot erase")) < 0)
		goto rollback;
	tab_put(&s->by_subject, subject, 0, E_GONE, NULL);
	tab_put(&s->by_key_id, key_id, subject, E_GONE, NULL);
	return truncate_wal(s);
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int fs_pii_test_subject_key(struct fs_pii *s, uint64_t subject,
			    uint8_t key[32], uint64_t *key_id)
{
	int r = row_by_subject(s, subject, key_id, key);

	if (r == 0)
		return fail(s, FS_PII_ENOSUBJECT, "no key of subject %llu",
			    (unsigned long long)subject);
	return r < 0 ? r : 0;
}
