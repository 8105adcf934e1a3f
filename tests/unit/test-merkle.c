/*
 * test-merkle.c - unit tests of the RFC 6962 Merkle tree
 * (libcommon/merkle.c): roots, inclusion and consistency proofs and
 * their verification against the Certificate Transparency project's
 * published test vectors, from google/certificate-transparency
 * cpp/merkletree/merkle_tree_test.cc (commit 0e901ca): kInputs,
 * kSHA256Roots, kSHA256Paths (leaf numbers there count from 1) and
 * kSHA256Proofs; then every proof of every tree up to 70 leaves against
 * a recursive reference MTH, and tampered proofs that must fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "merkle.h"

static const char *const inputs[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static const char *const roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static const char empty_root[] =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* kSHA256Paths: leaf (from 1), tree size, the path. */
static const struct {
	unsigned leaf, size, n;
	const char *p[3];
} paths[] = {
	{ 1, 1, 0, { 0 } },
	{ 1, 8, 3, {
	  "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	} },
	{ 6, 8, 3, {
	  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	} },
	{ 3, 3, 1, {
	  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	} },
	{ 2, 5, 3, {
	  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	} },
};

/* kSHA256Proofs: the two sizes, the proof. */
static const struct {
	unsigned m, n, np;
	const char *p[3];
} proofs[] = {
	{ 1, 1, 0, { 0 } },
	{ 1, 8, 3, {
	  "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	} },
	{ 6, 8, 3, {
	  "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	} },
	{ 2, 5, 2, {
	  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	} },
};

static uint8_t leaves[8][FS_MT_HASH];

static void unhex(const char *s, uint8_t *out, size_t *n)
{
	size_t i;

	for (i = 0; s[2 * i]; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*n = i;
}

static void hash_of(const char *hex, uint8_t h[FS_MT_HASH])
{
	assert_int_equal(fs_mt_unhex(hex, h), 0);
}

static int setup(void **state)
{
	uint8_t b[16];
	size_t n;

	(void)state;
	for (int i = 0; i < 8; i++) {
		unhex(inputs[i], b, &n);
		fs_mt_leaf(b, n, leaves[i]);
	}
	return 0;
}

/* Make the nodes of ranges r[0..nr) from leaf hashes lh[0..n). */
static void make_nodes(const struct fs_mt_range *r, unsigned nr,
		       uint8_t (*lh)[FS_MT_HASH], uint64_t n,
		       uint8_t (*out)[FS_MT_HASH])
{
	struct fs_mt_nodes *s = malloc(sizeof(*s));

	assert_non_null(s);
	fs_mt_nodes_init(s, r, nr);
	for (uint64_t i = 0; i < n; i++)
		fs_mt_nodes_leaf(s, lh[i]);
	assert_int_equal(fs_mt_nodes_get(s, out), 0);
	free(s);
}

static void test_roots(void **state)
{
	struct fs_mt t;
	uint8_t r[FS_MT_HASH], w[FS_MT_HASH];

	(void)state;
	fs_mt_init(&t);
	fs_mt_root(&t, r);
	hash_of(empty_root, w);
	assert_memory_equal(r, w, FS_MT_HASH);
	for (int i = 0; i < 8; i++) {
		fs_mt_push(&t, leaves[i]);
		fs_mt_root(&t, r);
		hash_of(roots[i], w);
		assert_memory_equal(r, w, FS_MT_HASH);
	}
}

static void test_paths(void **state)
{
	struct fs_mt_range rg[FS_MT_MAXH];
	uint8_t got[FS_MT_MAXH][FS_MT_HASH], w[FS_MT_HASH],
		root[FS_MT_HASH];

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		unsigned m = paths[i].leaf - 1, n = paths[i].size, nr;

		nr = fs_mt_path_ranges(m, n, rg);
		assert_int_equal(nr, paths[i].n);
		make_nodes(rg, nr, leaves, n, got);
		for (unsigned j = 0; j < nr; j++) {
			hash_of(paths[i].p[j], w);
			assert_memory_equal(got[j], w, FS_MT_HASH);
		}
		hash_of(roots[n - 1], root);
		assert_true(fs_mt_verify_inclusion(m, n, leaves[m],
			(const uint8_t (*)[FS_MT_HASH])got, nr, root));
		/* Wrong index, size, leaf, root: all fail. */
		assert_false(fs_mt_verify_inclusion(m + 1, n, leaves[m],
			(const uint8_t (*)[FS_MT_HASH])got, nr, root));
		assert_false(fs_mt_verify_inclusion(m, 2 * n, leaves[m],
			(const uint8_t (*)[FS_MT_HASH])got, nr, root));
		assert_false(fs_mt_verify_inclusion(m, n, leaves[m ^ 1],
			(const uint8_t (*)[FS_MT_HASH])got, nr, root));
		hash_of(empty_root, w);
		assert_false(fs_mt_verify_inclusion(m, n, leaves[m],
			(const uint8_t (*)[FS_MT_HASH])got, nr, w));
	}
}

static void test_proofs(void **state)
{
	struct fs_mt_range rg[FS_MT_MAXH];
	uint8_t got[FS_MT_MAXH][FS_MT_HASH], w[FS_MT_HASH],
		r1[FS_MT_HASH], r2[FS_MT_HASH];

	(void)state;
	for (size_t i = 0; i < sizeof(proofs) / sizeof(proofs[0]); i++) {
		unsigned m = proofs[i].m, n = proofs[i].n, nr;

		nr = fs_mt_proof_ranges(m, n, rg);
		assert_int_equal(nr, proofs[i].np);
		make_nodes(rg, nr, leaves, n, got);
		for (unsigned j = 0; j < nr; j++) {
			hash_of(proofs[i].p[j], w);
			assert_memory_equal(got[j], w, FS_MT_HASH);
		}
		hash_of(roots[m - 1], r1);
		hash_of(roots[n - 1], r2);
		assert_true(fs_mt_verify_consistency(m, n, r1, r2,
			(const uint8_t (*)[FS_MT_HASH])got, nr));
		if (!nr)
			continue;
		assert_false(fs_mt_verify_consistency(m, n, r2, r1,
			(const uint8_t (*)[FS_MT_HASH])got, nr));
		assert_false(fs_mt_verify_consistency(m - 1, n, r1, r2,
			(const uint8_t (*)[FS_MT_HASH])got, nr));
		assert_false(fs_mt_verify_consistency(m, n, r1, r2,
			(const uint8_t (*)[FS_MT_HASH])got, nr - 1));
	}
	/* The edge cases of the CT verifier test. */
	hash_of(empty_root, r1);
	assert_true(fs_mt_verify_consistency(0, 0, r1, r1, NULL, 0));
	assert_true(fs_mt_verify_consistency(0, 1, r1, r2, NULL, 0));
	assert_false(fs_mt_verify_consistency(1, 0, r1, r1, NULL, 0));
	assert_false(fs_mt_verify_consistency(1, 2, r1, r2, NULL, 0));
	assert_false(fs_mt_verify_consistency(1, 1, r1, r2, NULL, 0));
}

/* The recursive MTH of RFC 6962 2.1, the reference. */
static void ref_mth(uint8_t (*lh)[FS_MT_HASH], uint64_t n,
		    uint8_t out[FS_MT_HASH])
{
	uint8_t a[FS_MT_HASH], b[FS_MT_HASH];
	uint64_t k = 1;

	if (n == 0) {
		fs_sha256("", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, lh[0], FS_MT_HASH);
		return;
	}
	while (k < n - k)
		k <<= 1;
	ref_mth(lh, k, a);
	ref_mth(lh + k, n - k, b);
	fs_mt_node(a, b, out);
}

/* Every proof of every tree of 1..70 leaves, against the reference. */
static void test_all_sizes(void **state)
{
	enum { N = 70 };
	uint8_t lh[N][FS_MT_HASH], rt[N + 1][FS_MT_HASH];
	uint8_t got[FS_MT_MAXH][FS_MT_HASH], r[FS_MT_HASH];
	struct fs_mt_range rg[FS_MT_MAXH];
	struct fs_mt t, u;

	(void)state;
	fs_mt_init(&t);
	for (int i = 0; i < N; i++) {
		uint8_t d[2] = { (uint8_t)i, (uint8_t)(i * 7) };

		fs_mt_leaf(d, 2, lh[i]);
	}
	for (uint64_t n = 0; n <= N; n++) {
		ref_mth(lh, n, rt[n]);
		fs_mt_root(&t, r);
		assert_memory_equal(r, rt[n], FS_MT_HASH);
		if (n < N)
			fs_mt_push(&t, lh[n]);
	}
	for (uint64_t n = 1; n <= N; n++) {
		for (uint64_t m = 0; m < n; m++) {
			unsigned nr = fs_mt_path_ranges(m, n, rg);

			make_nodes(rg, nr, lh, n, got);
			assert_true(fs_mt_verify_inclusion(m, n, lh[m],
				(const uint8_t (*)[FS_MT_HASH])got, nr,
				rt[n]));
			if (nr) {
				got[nr - 1][0] ^= 1;
				assert_false(fs_mt_verify_inclusion(m, n,
					lh[m],
					(const uint8_t (*)[FS_MT_HASH])got,
					nr, rt[n]));
			}
		}
		for (uint64_t m = 1; m <= n; m++) {
			unsigned nr = fs_mt_proof_ranges(m, n, rg);

			make_nodes(rg, nr, lh, n, got);
			assert_true(fs_mt_verify_consistency(m, n, rt[m],
				rt[n], (const uint8_t (*)[FS_MT_HASH])got,
				nr));
			if (nr) {
				got[0][5] ^= 0x40;
				assert_false(fs_mt_verify_consistency(m, n,
					rt[m], rt[n],
					(const uint8_t (*)[FS_MT_HASH])got,
					nr));
			}
		}
	}
	/* Subtree pushes and restore give the same roots. */
	fs_mt_init(&u);
	assert_int_equal(fs_mt_push_subtree(&u, rt[32], 5), 0);
	for (int i = 32; i < 37; i++)
		fs_mt_push(&u, lh[i]);
	/* 37 leaves: no subtree of 8 fits at index 37. */
	assert_int_equal(fs_mt_push_subtree(&u, rt[1], 3), -1);
	fs_mt_root(&u, r);
	assert_memory_equal(r, rt[37], FS_MT_HASH);
	assert_int_equal(fs_mt_restore(&t, u.n,
		(const uint8_t (*)[FS_MT_HASH])u.stack, u.depth), 0);
	fs_mt_push(&t, lh[37]);
	fs_mt_root(&t, r);
	assert_memory_equal(r, rt[38], FS_MT_HASH);
	assert_int_equal(fs_mt_restore(&t, 7,
		(const uint8_t (*)[FS_MT_HASH])u.stack, 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_proofs),
		cmocka_unit_test(test_all_sizes),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
