/*
 * test-pii.c - PII encryption and the key store (libcommon/pii.c):
 * AES-256-GCM known answers, seal/open round trips for every built-in
 * type, erasure (redacted records, key bytes gone from the files),
 * tampering, wrong master keys, unknown subjects, master key formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fs.h"
#include "pii.h"

static char dir[] = "/tmp/fs-test-pii.XXXXXX";
static const uint8_t master[32] = "0123456789abcdef0123456789abcde";
static const uint8_t master2[32] = "another master key, 32 bytes...";

static const char *path(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = strlen(s) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/*
 * The AES-256 test cases 13-16 of McGrew and Viega, "The Galois/Counter
 * Mode of Operation (GCM)", revised 2005, appendix B (the test vectors
 * NIST published with SP 800-38D), through the EVP wrapper.
 */
static const struct kat {
	const char *k, *p, *a, *iv, *c, *t;
} kats[] = {
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "", "", "000000000000000000000000", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "00000000000000000000000000000000", "", "000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "", "cafebabefacedbaddecaf888",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "cafebabefacedbaddecaf888",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void test_gcm_vectors(void **state)
{
	struct fs_gcm *g = fs_gcm_new();

	(void)state;
	assert_non_null(g);
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		uint8_t k[32], p[64], a[32], iv[12], c[64], t[16];
		uint8_t out[64], tag[16], back[64];
		size_t pn, an, cn;

		unhex(kats[i].k, k);
		pn = unhex(kats[i].p, p);
		an = unhex(kats[i].a, a);
		unhex(kats[i].iv, iv);
		cn = unhex(kats[i].c, c);
		unhex(kats[i].t, t);
		assert_int_equal(pn, cn);
		/* the AAD in two pieces, as seal gives it */
		assert_int_equal(fs_gcm_encrypt(g, k, iv, a, an / 2,
						a + an / 2, an - an / 2, p, pn,
						out, tag), 0);
		if (cn)
			assert_memory_equal(out, c, cn);
		assert_memory_equal(tag, t, 16);
		assert_int_equal(fs_gcm_decrypt(g, k, iv, a, an, NULL, 0, c,
						cn, back, t), 0);
		if (pn)
			assert_memory_equal(back, p, pn);
		t[15] ^= 1;
		assert_int_equal(fs_gcm_decrypt(g, k, iv, a, an, NULL, 0, c,
						cn, back, t), FS_PII_ETAMPER);
	}
	fs_gcm_free(g);
}

static struct fs_pii *store(const char *name, const uint8_t *mk, int flags,
			    int want)
{
	char why[512];
	int err = 99;
	struct fs_pii *s = fs_pii_store_open(path(name), mk, flags, &err, why,
					     sizeof(why));

	if (want) {
		assert_null(s);
		if (err != want)
			fail_msg("got %d (%s), wanted %d", err, why, want);
		return NULL;
	}
	if (!s)
		fail_msg("cannot open %s: %s", name, why);
	assert_int_equal(err, 0);
	return s;
}

/* A frame of type t with a body of blen bytes from seed, 8-aligned. */
static struct fs_hdr *frame(uint64_t *buf, unsigned type, size_t blen,
			    uint64_t seed)
{
	struct fs_hdr *h = (struct fs_hdr *)buf;
	uint8_t *b = fs_body(h);

	memset(buf, 0, fs_frame_size_for(blen));
	h->len = (uint32_t)(fs_frame_size_for(blen) - 4);
	h->type = (uint16_t)type;
	h->version = 1;
	h->ts_event = 1764000000000000000 + (int64_t)seed;
	h->ts_ingest = h->ts_event + 5;
	h->key = seed * 7 + 1;
	h->seq = seed;
	for (size_t i = 0; i < blen; i++)
		b[i] = (uint8_t)(seed * 31 + i * 17 + 3);
	if (type >= FS_T_WATERMARK)
		h->flags = FS_F_CONTROL;
	return h;
}

static struct fs_hdr *txn(uint64_t *buf, uint64_t account, uint64_t seed)
{
	struct fs_hdr *h = frame(buf, FS_T_TXN, 48, seed);
	struct fs_txn *t = fs_body(h);

	t->account = account;
	h->key = account;
	return h;
}

static struct fs_hdr *json(uint64_t *buf, const char *text, uint64_t key)
{
	size_t n = strlen(text);
	struct fs_hdr *h = frame(buf, FS_T_JSON, 4 + n, 0);
	uint32_t n32 = (uint32_t)n;

	memset(fs_body(h), 0, fs_body_len(h));
	memcpy(fs_body(h), &n32, 4);
	memcpy((char *)fs_body(h) + 4, text, n);
	h->key = key;
	return h;
}

static uint64_t a[2048], b[2048], c[2048];

/* Seal and open h; the sealed frame stays in b. */
static void round_trip(struct fs_pii *s, const struct fs_hdr *h, int pii)
{
	int n = fs_pii_seal(s, h, b, sizeof(b)), m;
	const struct fs_hdr *sh = (const struct fs_hdr *)b;

	if (n < 0)
		fail_msg("seal: %s", fs_pii_why(s));
	assert_int_equal(n % 8, 0);
	assert_int_equal(n, fs_frame_size(sh));
	assert_true((size_t)n <= fs_frame_size(h) + FS_PII_OVERHEAD);
	if (!pii) {
		assert_int_equal(n, fs_frame_size(h));
		assert_memory_equal(b, h, n);
	} else {
		assert_true(sh->flags & FS_F_ENCRYPTED);
		assert_int_not_equal(sh->key, h->key);
		assert_int_equal(sh->seq, h->seq);
	}
	m = fs_pii_open(s, sh, c, (size_t)n);
	if (m < 0)
		fail_msg("open: %s", fs_pii_why(s));
	assert_int_equal(m, fs_frame_size(h));
	assert_memory_equal(c, h, m);
}

static void test_round_trip_all_types(void **state)
{
	struct fs_pii *s = store("rt.db", master, FS_PII_CREATE, 0);
	const struct fs_type *t;

	(void)state;
	for (t = fs_types; t->name; t++) {
		size_t blen = t->body_size ? t->body_size : 24;

		if (t->id == FS_T_JSON)
			continue;	/* below, with real JSON */
		for (uint64_t seed = 1; seed < 20; seed++)
			round_trip(s, frame(a, t->id, blen, seed),
				   t->id == FS_T_TXN);
	}
	round_trip(s, frame(a, FS_T_WATERMARK, 0, 3), 0);
	round_trip(s, json(a, "{\"user\":\"alice\",\"page\":\"/pay\"}", 42),
		   1);
	round_trip(s, json(a, "", 43), 1);
	round_trip(s, json(a, "{\"a\":1}", 42), 1);	/* 7 bytes: pads */
	assert_true(fs_pii_type_has_pii(FS_T_TXN));
	assert_true(fs_pii_type_has_pii(FS_T_JSON));
	assert_false(fs_pii_type_has_pii(FS_T_TRADE));
	fs_pii_store_close(s);
}

/* The sealed TXN: PII zero, key = key id, other fields as they were. */
static void test_sealed_layout(void **state)
{
	struct fs_pii *s = store("layout.db", master, FS_PII_CREATE, 0);
	struct fs_hdr *h = txn(a, 4711, 5);
	const struct fs_hdr *sh = (const struct fs_hdr *)b;
	const struct fs_txn *o = fs_body(h), *st = fs_body(sh);
	uint8_t key[32], *foot;
	uint64_t key_id, kid2;
	uint32_t plen;

	(void)state;
	assert_int_equal(fs_pii_seal(s, h, b, sizeof(b)), 40 + 48 + 24 + 40);
	assert_int_equal(st->account, 0);
	assert_int_equal(st->device, 0);
	assert_int_equal(st->merchant, o->merchant);
	assert_int_equal(st->amount, o->amount);
	assert_int_equal(fs_pii_test_subject_key(s, 4711, key, &key_id), 0);
	assert_int_equal(sh->key, key_id);
	foot = (uint8_t *)b + fs_frame_size(sh) - FS_PII_FOOTER;
	memcpy(&kid2, foot, 8);
	memcpy(&plen, foot + 20, 4);
	assert_int_equal(kid2, key_id);
	assert_int_equal(plen, 8 + 8 + 8);
	/* same subject, same key id; next nonce differs */
	txn(c, 4711, 6);
	assert_int_equal(fs_pii_seal(s, (struct fs_hdr *)c, c + 512,
				     sizeof(c) / 2), 152);
	assert_int_equal(((struct fs_hdr *)(c + 512))->key, key_id);
	assert_memory_not_equal((uint8_t *)(c + 512) + 152 - 32, foot + 8,
				12);
	assert_int_equal(fs_pii_subject(h), 4711);
	fs_pii_store_close(s);
}

static void test_tamper(void **state)
{
	struct fs_pii *s = store("tamper.db", master, FS_PII_CREATE, 0);
	int n;
	/* bytes to flip: header ts_event, len-neutral body (AAD), the
	 * ciphertext, the nonce, plen's low byte, the tag */
	static const size_t at[] = { 8, 16, 32, 40 + 24, 40 + 48,
				     40 + 48 + 17, 152 - 40 + 9, 152 - 40 + 20,
				     151 };

	(void)state;
	n = fs_pii_seal(s, txn(a, 99, 1), b, sizeof(b));
	assert_int_equal(n, 152);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint8_t *p = (uint8_t *)b + at[i];
		int r;

		*p ^= 0x01;
		r = fs_pii_open(s, (struct fs_hdr *)b, c, sizeof(c));
		if (r != FS_PII_ETAMPER && r != FS_PII_EFORMAT)
			fail_msg("byte %zu flipped: open gave %d", at[i], r);
		if (at[i] != 152 - 40 + 20)	/* plen: EFORMAT is right */
			assert_int_equal(r, FS_PII_ETAMPER);
		assert_int_equal(fs_pii_exit(r), FS_EXIT_DATA);
		*p ^= 0x01;
	}
	/* the header key (key id) alone: not the trailer's, malformed */
	((struct fs_hdr *)b)->key ^= 4;
	assert_int_equal(fs_pii_open(s, (struct fs_hdr *)b, c, sizeof(c)),
			 FS_PII_EFORMAT);
	((struct fs_hdr *)b)->key ^= 4;
	assert_int_equal(fs_pii_open(s, (struct fs_hdr *)b, c, sizeof(c)),
			 n - 64);
	fs_pii_store_close(s);
}

/* Does file f hold the n bytes p? */
static int file_has(const char *f, const void *p, size_t n)
{
	FILE *fp = fopen(f, "rb");
	char *buf;
	long len;
	int found = 0;

	if (!fp)
		return 0;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = malloc(len ? (size_t)len : 1);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	for (long i = 0; i + (long)n <= len && !found; i++)
		found = memcmp(buf + i, p, n) == 0;
	free(buf);
	return found;
}

/* The wrapped key of subject, read with SQLite directly. */
static void wrapped_of(const char *db, uint64_t subject, uint8_t w[60])
{
	sqlite3 *d;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(d, "SELECT wrapped FROM "
					    "pii_subjects WHERE subject = ?",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, (int64_t)subject);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 60);
	memcpy(w, sqlite3_column_blob(st, 0), 60);
	sqlite3_finalize(st);
	sqlite3_close(d);
}

static void test_erase(void **state)
{
	struct fs_pii *s = store("erase.db", master, FS_PII_CREATE, 0);
	struct fs_hdr *h = txn(a, 4711, 9);
	const struct fs_hdr *o = (const struct fs_hdr *)c;
	const struct fs_txn *ot = fs_body(o), *it = fs_body(h);
	static uint64_t kept[19];
	uint8_t key[32], w[60], w2[60];
	uint64_t key_id;
	struct stat sb;
	int n;

	(void)state;
	n = fs_pii_seal(s, h, kept, sizeof(kept));
	assert_int_equal(n, 152);
	round_trip(s, txn(a + 100, 4712, 10), 1);	/* another subject */
	assert_int_equal(fs_pii_flush(s), 0);
	assert_int_equal(fs_pii_test_subject_key(s, 4711, key, &key_id), 0);
	wrapped_of(path("erase.db"), 4711, w);
	wrapped_of(path("erase.db"), 4712, w2);
	/* the raw key is never in the files; the wrapped one is */
	assert_false(file_has(path("erase.db"), key, 32));
	assert_false(file_has(path("erase.db-wal"), key, 32));
	assert_true(file_has(path("erase.db"), w, 60) ||
		    file_has(path("erase.db-wal"), w, 60));
	assert_int_equal(fs_pii_erase(s, 4711), 0);
	assert_false(file_has(path("erase.db"), w, 60));
	assert_false(file_has(path("erase.db-wal"), w, 60));
	assert_false(file_has(path("erase.db"), key, 32));
	assert_true(stat(path("erase.db-wal"), &sb) != 0 || sb.st_size == 0);
	assert_true(file_has(path("erase.db"), w2, 60) ||
		    file_has(path("erase.db-wal"), w2, 60));
	/* this handle and a new one give the redacted record */
	for (int k = 0; k < 2; k++) {
		n = fs_pii_open(s, (struct fs_hdr *)kept, c, sizeof(c));
		assert_int_equal(n, 88);
		assert_int_equal(o->flags, FS_F_ERASED);
		assert_int_equal(o->key, 0);
		assert_int_equal(o->len, 84);
		assert_int_equal(ot->account, 0);
		assert_int_equal(ot->device, 0);
		assert_int_equal(ot->merchant, it->merchant);
		assert_int_equal(ot->amount, it->amount);
		assert_int_equal(o->ts_event, h->ts_event);
		assert_int_equal(o->seq, h->seq);
		fs_pii_store_close(s);
		s = store("erase.db", master, 0, 0);
	}
	assert_int_equal(fs_pii_test_subject_key(s, 4711, key, &key_id),
			 FS_PII_ENOSUBJECT);
	/* the other subject is readable still */
	round_trip(s, txn(a + 100, 4712, 11), 1);
	/* unknown and twice-erased subjects */
	assert_int_equal(fs_pii_erase(s, 4711), FS_PII_ENOSUBJECT);
	assert_int_equal(fs_pii_erase(s, 123456), FS_PII_ENOSUBJECT);
	assert_int_equal(fs_pii_exit(FS_PII_ENOSUBJECT), FS_EXIT_DATA);
	/* an erased record passes a second seal unchanged */
	n = fs_pii_open(s, (struct fs_hdr *)kept, c, sizeof(c));
	assert_int_equal(n, 88);
	assert_int_equal(o->flags, FS_F_ERASED);
	assert_int_equal(fs_pii_seal(s, (struct fs_hdr *)c, a, sizeof(a)),
			 n);
	assert_memory_equal(a, c, n);
	/* a subject erased then seen again gets a new key */
	round_trip(s, txn(a, 4711, 12), 1);
	assert_int_not_equal(((struct fs_hdr *)b)->key, key_id);
	fs_pii_store_close(s);
}

static void test_erase_json(void **state)
{
	struct fs_pii *s = store("json.db", master, FS_PII_CREATE, 0);
	struct fs_hdr *h = json(a, "{\"name\":\"Alice Example\"}", 77);
	const struct fs_hdr *o = (const struct fs_hdr *)c;
	int n;

	(void)state;
	n = fs_pii_seal(s, h, b, sizeof(b));
	assert_true(n > 0);
	assert_false(file_has(path("json.db"), "Alice", 5));
	assert_null(memmem(b, (size_t)n, "Alice", 5));
	assert_int_equal(fs_pii_erase(s, 77), 0);
	n = fs_pii_open(s, (struct fs_hdr *)b, c, sizeof(c));
	assert_int_equal(n, 48);	/* u32 length 0, padding */
	assert_int_equal(o->flags, FS_F_ERASED);
	assert_int_equal(*(uint32_t *)fs_body(o), 0);
	fs_pii_store_close(s);
}

/* An erase by another handle reaches a running one within a second. */
static void test_erase_elsewhere(void **state)
{
	struct fs_pii *w = store("two.db", master, FS_PII_CREATE, 0);
	struct fs_pii *e = store("two.db", master, 0, 0);
	static uint64_t kept[19];
	uint64_t old_id;
	int n;

	(void)state;
	assert_int_equal(fs_pii_seal(w, txn(a, 31, 1), kept, sizeof(kept)),
			 152);
	old_id = ((struct fs_hdr *)kept)->key;
	/* the writer's transaction holds the lock: a tick commits it */
	usleep(1100000);
	for (uint64_t i = 0; i < 1100; i++)
		assert_int_equal(fs_pii_seal(w, txn(a, 32, i), b, sizeof(b)),
				 152);
	assert_int_equal(fs_pii_erase(e, 31), 0);
	fs_pii_store_close(e);
	usleep(1100000);
	for (uint64_t i = 0; i < 1100; i++)
		assert_int_equal(fs_pii_seal(w, txn(a, 32, i), b, sizeof(b)),
				 152);
	n = fs_pii_open(w, (struct fs_hdr *)kept, c, sizeof(c));
	assert_int_equal(n, 88);
	assert_int_equal(((struct fs_hdr *)c)->flags, FS_F_ERASED);
	assert_int_equal(fs_pii_seal(w, txn(a, 31, 2), b, sizeof(b)), 152);
	assert_int_not_equal(((struct fs_hdr *)b)->key, old_id);
	fs_pii_store_close(w);
}

static void test_store_errors(void **state)
{
	struct fs_pii *s;
	FILE *f;

	(void)state;
	store("missing.db", master, 0, FS_PII_ENOSTORE);
	assert_int_equal(fs_pii_exit(FS_PII_ENOSTORE), FS_EXIT_UNAVAIL);
	s = store("wrong.db", master, FS_PII_CREATE, 0);
	assert_int_equal(fs_pii_seal(s, txn(a, 5, 1), b, sizeof(b)), 152);
	fs_pii_store_close(s);
	{
		struct stat sb;

		assert_int_equal(stat(path("wrong.db"), &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	store("wrong.db", master2, 0, FS_PII_EMASTER);
	store("wrong.db", master2, FS_PII_CREATE, FS_PII_EMASTER);
	assert_int_equal(fs_pii_exit(FS_PII_EMASTER), FS_EXIT_DATA);
	/* the right key still opens it, and the record */
	s = store("wrong.db", master, 0, 0);
	assert_int_equal(fs_pii_open(s, (struct fs_hdr *)b, c, sizeof(c)),
			 88);
	assert_memory_equal(c, a, 88);
	fs_pii_store_close(s);
	f = fopen(path("text.db"), "w");
	fputs("not a database, not at all; just some text\n", f);
	fclose(f);
	store("text.db", master, 0, FS_PII_EFORMAT);
	store("text.db", master, FS_PII_CREATE, FS_PII_EFORMAT);
	/* a database of another program */
	{
		sqlite3 *d;

		assert_int_equal(sqlite3_open(path("other.db"), &d), 0);
		sqlite3_exec(d, "CREATE TABLE t (x)", NULL, NULL, NULL);
		sqlite3_close(d);
	}
	store("other.db", master, FS_PII_CREATE, FS_PII_EFORMAT);
	store("other.db", master, 0, FS_PII_EFORMAT);
	/* a record of another store: not taken for an erased one */
	s = store("wrong2.db", master, FS_PII_CREATE, 0);
	assert_int_equal(fs_pii_open(s, (struct fs_hdr *)b, c, sizeof(c)),
			 FS_PII_EUNKNOWN);
	assert_int_equal(fs_pii_exit(FS_PII_EUNKNOWN), FS_EXIT_DATA);
	fs_pii_store_close(s);
	/* output space */
	s = store("wrong.db", master, 0, 0);
	assert_int_equal(fs_pii_seal(s, txn(a, 5, 1), b, 151),
			 FS_PII_ESPACE);
	/* a TXN too short for its PII fields */
	assert_int_equal(fs_pii_seal(s, frame(a, FS_T_TXN, 16, 1), b,
				     sizeof(b)), FS_PII_EFORMAT);
	fs_pii_store_close(s);
}

/* Many subjects: the tables grow, keys persist across handles. */
static void test_many_subjects(void **state)
{
	struct fs_pii *s = store("many.db", master, FS_PII_CREATE, 0);
	static uint64_t sealed[10000][19];
	enum { N = 10000 };

	(void)state;
	for (uint64_t i = 0; i < N; i++)
		assert_int_equal(fs_pii_seal(s, txn(a, i * 1000003, i),
					     sealed[i], sizeof(sealed[i])),
				 152);
	fs_pii_store_close(s);
	s = store("many.db", master, 0, 0);
	for (uint64_t i = 0; i < N; i++) {
		txn(a, i * 1000003, i);
		assert_int_equal(fs_pii_open(s, (struct fs_hdr *)sealed[i],
					     c, sizeof(c)), 88);
		assert_memory_equal(a, c, 88);
	}
	fs_pii_store_close(s);
}

static void test_master_key(void **state)
{
	uint8_t k[32], want[32];
	char why[256];
	FILE *f;

	(void)state;
	for (int i = 0; i < 32; i++)
		want[i] = (uint8_t)(0xa0 + i);
	f = fopen(path("mk.hex"), "w");
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02X", want[i]);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(fs_pii_master_key(path("mk.hex"), k, why,
					   sizeof(why)), 0);
	assert_memory_equal(k, want, 32);
	f = fopen(path("mk.raw"), "w");
	fwrite(want, 1, 32, f);
	fclose(f);
	assert_int_equal(fs_pii_master_key(path("mk.raw"), k, why,
					   sizeof(why)), 0);
	assert_memory_equal(k, want, 32);
	f = fopen(path("mk.bad"), "w");
	fwrite(want, 1, 31, f);
	fclose(f);
	assert_int_equal(fs_pii_master_key(path("mk.bad"), k, why,
					   sizeof(why)), FS_PII_ENOKEY);
	assert_int_equal(fs_pii_master_key(path("none"), k, why,
					   sizeof(why)), FS_PII_ENOKEY);
	setenv("FS_MASTER_KEY", "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	       "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", 1);
	assert_int_equal(fs_pii_master_key(NULL, k, why, sizeof(why)), 0);
	assert_memory_equal(k, want, 32);
	setenv("FS_MASTER_KEY", "a0a1", 1);
	assert_int_equal(fs_pii_master_key(NULL, k, why, sizeof(why)),
			 FS_PII_ENOKEY);
	unsetenv("FS_MASTER_KEY");
	assert_int_equal(fs_pii_master_key(NULL, k, why, sizeof(why)),
			 FS_PII_ENOKEY);
	assert_int_equal(fs_pii_exit(FS_PII_ENOKEY), FS_EXIT_USAGE);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_vectors),
		cmocka_unit_test(test_round_trip_all_types),
		cmocka_unit_test(test_sealed_layout),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_erase),
		cmocka_unit_test(test_erase_json),
		cmocka_unit_test(test_erase_elsewhere),
		cmocka_unit_test(test_store_errors),
		cmocka_unit_test(test_many_subjects),
		cmocka_unit_test(test_master_key),
	};

	fs_progname = "test-pii";
	return cmocka_run_group_tests(tests, setup, teardown);
}
