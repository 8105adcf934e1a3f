/*
 * merkle.c - RFC 6962 Merkle tree hashes over SHA-256 (merkle.h).
 *
 * SHA-256 through libcrypto's SHA256_* calls: in OpenSSL 3 they are
 * marked deprecated in favour of EVP, but they run the same code (the
 * CPU's SHA extensions where present) without EVP's per-call dispatch,
 * which is most of the cost of hashing a 90-byte frame.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <string.h>

#include "fs.h"
#include "merkle.h"

void fs_sha256(const void *p, size_t n, uint8_t out[FS_MT_HASH])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, p, n);
	SHA256_Final(out, &c);
}

void fs_mt_leaf(const void *p, size_t n, uint8_t out[FS_MT_HASH])
{
	static const uint8_t zero = 0;
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, &zero, 1);
	SHA256_Update(&c, p, n);
	SHA256_Final(out, &c);
}

void fs_mt_node(const uint8_t l[FS_MT_HASH], const uint8_t r[FS_MT_HASH],
		uint8_t out[FS_MT_HASH])
{
	uint8_t b[1 + 2 * FS_MT_HASH];

	b[0] = 1;
	memcpy(b + 1, l, FS_MT_HASH);
	memcpy(b + 1 + FS_MT_HASH, r, FS_MT_HASH);
	fs_sha256(b, sizeof(b), out);
}

void fs_mt_init(struct fs_mt *t)
{
	t->n = 0;
	t->depth = 0;
}

/* Merge the top two stack entries while they are the same height. */
static void merge(struct fs_mt *t)
{
	while (t->depth >= 2 &&
	       t->height[t->depth - 1] == t->height[t->depth - 2]) {
		t->depth--;
		fs_mt_node(t->stack[t->depth - 1], t->stack[t->depth],
			   t->stack[t->depth - 1]);
		t->height[t->depth - 1]++;
	}
}

void fs_mt_push(struct fs_mt *t, const uint8_t leaf[FS_MT_HASH])
{
	memcpy(t->stack[t->depth], leaf, FS_MT_HASH);
	t->height[t->depth++] = 0;
	t->n++;
	merge(t);
}

int fs_mt_push_subtree(struct fs_mt *t, const uint8_t root[FS_MT_HASH],
		       unsigned height)
{
	if (height >= FS_MT_MAXH - 1 ||
	    (t->n & ((UINT64_C(1) << height) - 1)))
		return -1;
	memcpy(t->stack[t->depth], root, FS_MT_HASH);
	t->height[t->depth++] = (uint8_t)height;
	t->n += UINT64_C(1) << height;
	merge(t);
	return 0;
}

void fs_mt_root(const struct fs_mt *t, uint8_t out[FS_MT_HASH])
{
	uint8_t r[FS_MT_HASH];

	if (!t->depth) {
		fs_sha256("", 0, out);
		return;
	}
	memcpy(r, t->stack[t->depth - 1], FS_MT_HASH);
	for (unsigned i = t->depth - 1; i-- > 0;)
		fs_mt_node(t->stack[i], r, r);
	memcpy(out, r, FS_MT_HASH);
}

int fs_mt_restore(struct fs_mt *t, uint64_t n,
		  const uint8_t (*roots)[FS_MT_HASH], unsigned nroots)
{
	unsigned d = 0;

	if ((unsigned)__builtin_popcountll(n) != nroots)
		return -1;
	for (int b = 63; b >= 0; b--) {
		if (!(n >> b & 1))
			continue;
		memcpy(t->stack[d], roots[d], FS_MT_HASH);
		t->height[d++] = (uint8_t)b;
	}
	t->depth = d;
	t->n = n;
	return 0;
}

/* The largest power of two below n (n >= 2). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

/* PATH(m, D[lo:hi]) of RFC 6962 2.1.1, as ranges. */
static void path(uint64_t m, uint64_t lo, uint64_t hi,
		 struct fs_mt_range *r, unsigned *nr)
{
	uint64_t k;

	if (hi - lo <= 1)
		return;
	k = split(hi - lo);
	if (m < k) {
		path(m, lo, lo + k, r, nr);
		r[(*nr)++] = (struct fs_mt_range){ lo + k, hi };
	} else {
		path(m - k, lo + k, hi, r, nr);
		r[(*nr)++] = (struct fs_mt_range){ lo, lo + k };
	}
}

unsigned fs_mt_path_ranges(uint64_t m, uint64_t n, struct fs_mt_range *r)
{
	unsigned nr = 0;

	if (m < n)
		path(m, 0, n, r, &nr);
	return nr;
}

/* SUBPROOF(m, D[lo:hi], b) of RFC 6962 2.1.2, as ranges. */
static void subproof(uint64_t m, uint64_t lo, uint64_t hi, int b,
		     struct fs_mt_range *r, unsigned *nr)
{
	uint64_t k;

	if (m == hi - lo) {
		if (!b)
			r[(*nr)++] = (struct fs_mt_range){ lo, hi };
		return;
	}
	k = split(hi - lo);
	if (m <= k) {
		subproof(m, lo, lo + k, b, r, nr);
		r[(*nr)++] = (struct fs_mt_range){ lo + k, hi };
	} else {
		subproof(m - k, lo + k, hi, 0, r, nr);
		r[(*nr)++] = (struct fs_mt_range){ lo, lo + k };
	}
}

unsigned fs_mt_proof_ranges(uint64_t m, uint64_t n, struct fs_mt_range *r)
{
	unsigned nr = 0;

	if (m > 0 && m < n)
		subproof(m, 0, n, 1, r, &nr);
	return nr;
}

void fs_mt_nodes_init(struct fs_mt_nodes *s, const struct fs_mt_range *r,
		      unsigned nr)
{
	s->nr = nr;
	s->i = 0;
	for (unsigned j = 0; j < nr; j++) {
		s->r[j] = r[j];
		fs_mt_init(&s->t[j]);
	}
}

void fs_mt_nodes_leaf(struct fs_mt_nodes *s, const uint8_t h[FS_MT_HASH])
{
	for (unsigned j = 0; j < s->nr; j++)
		if (s->i >= s->r[j].lo && s->i < s->r[j].hi) {
			fs_mt_push(&s->t[j], h);
			break;
		}
	s->i++;
}

int fs_mt_nodes_get(const struct fs_mt_nodes *s, uint8_t (*out)[FS_MT_HASH])
{
	for (unsigned j = 0; j < s->nr; j++) {
		if (s->t[j].n != s->r[j].hi - s->r[j].lo)
			return -1;
		fs_mt_root(&s->t[j], out[j]);
	}
	return 0;
}

int fs_mt_verify_inclusion(uint64_t m, uint64_t n,
			   const uint8_t leaf[FS_MT_HASH],
			   const uint8_t (*path)[FS_MT_HASH], unsigned np,
			   const uint8_t root[FS_MT_HASH])
{
	uint64_t fn = m, sn = n - 1;
	uint8_t r[FS_MT_HASH];

	if (m >= n)
		return 0;
	memcpy(r, leaf, FS_MT_HASH);
	for (unsigned i = 0; i < np; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			fs_mt_node(path[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			fs_mt_node(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && !memcmp(r, root, FS_MT_HASH);
}

int fs_mt_verify_consistency(uint64_t m, uint64_t n,
			     const uint8_t r1[FS_MT_HASH],
			     const uint8_t r2[FS_MT_HASH],
			     const uint8_t (*proof)[FS_MT_HASH], unsigned np)
{
	uint8_t fr[FS_MT_HASH], sr[FS_MT_HASH];
	uint64_t fn, sn;
	unsigned i = 0;

	if (m > n)
		return 0;
	if (m == n)
		return np == 0 && !memcmp(r1, r2, FS_MT_HASH);
	if (m == 0)
		return np == 0;
	if (np == 0)
		return 0;
	/* m a power of two: the proof starts with r1 itself, implied. */
	if (!(m & (m - 1))) {
		memcpy(fr, r1, FS_MT_HASH);
	} else {
		memcpy(fr, proof[0], FS_MT_HASH);
		i = 1;
	}
	memcpy(sr, fr, FS_MT_HASH);
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < np; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			fs_mt_node(proof[i], fr, fr);
			fs_mt_node(proof[i], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			fs_mt_node(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && !memcmp(fr, r1, FS_MT_HASH) &&
	       !memcmp(sr, r2, FS_MT_HASH);
}

void fs_mt_hex(const uint8_t h[FS_MT_HASH], char buf[2 * FS_MT_HASH + 1])
{
	static const char d[] = "0123456789abcdef";

	for (int i = 0; i < FS_MT_HASH; i++) {
		buf[2 * i] = d[h[i] >> 4];
		buf[2 * i + 1] = d[h[i] & 15];
	}
	buf[2 * FS_MT_HASH] = 0;
}

int fs_mt_unhex(const char *s, uint8_t h[FS_MT_HASH])
{
	uint8_t t[FS_MT_HASH];

	for (int i = 0; i < FS_MT_HASH; i++) {
		int a = fs_hexval((unsigned char)s[2 * i]), b;

		if (a < 0)
			return -1;
		b = fs_hexval((unsigned char)s[2 * i + 1]);
		if (b < 0)
			return -1;
		t[i] = (uint8_t)(a << 4 | b);
	}
	if (s[2 * FS_MT_HASH])
		return -1;
	memcpy(h, t, FS_MT_HASH);
	return 0;
}
