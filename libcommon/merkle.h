/*
 * merkle.h - RFC 6962 Merkle tree hashes (libcommon/merkle.c).
 *
 * The Merkle Tree Hash of RFC 6962 section 2.1 over SHA-256:
 *   MTH({})    = SHA-256()
 *   MTH({d0})  = SHA-256(0x00 || d0)                      (a leaf)
 *   MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),
 *                k the largest power of two < n           (a node)
 * Inclusion proofs PATH(m, D[n]) (section 2.1.1) and consistency proofs
 * PROOF(m, D[n]) (section 2.1.2) are made from the leaf hashes, and
 * checked with the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2.
 * Hashes are 32 raw bytes; leaf indices count from 0.
 */
#ifndef FS_MERKLE_H
#define FS_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define FS_MT_HASH 32		/* bytes of a SHA-256 hash */
#define FS_MT_MAXH 64		/* tree heights: sizes up to 2^64 - 1 */

/* SHA-256 of n bytes (the empty tree's hash when n is 0). */
void fs_sha256(const void *p, size_t n, uint8_t out[FS_MT_HASH]);
/* The leaf hash SHA-256(0x00 || p[0..n)). */
void fs_mt_leaf(const void *p, size_t n, uint8_t out[FS_MT_HASH]);
/* The node hash SHA-256(0x01 || l || r); out may be l or r. */
void fs_mt_node(const uint8_t l[FS_MT_HASH], const uint8_t r[FS_MT_HASH],
		uint8_t out[FS_MT_HASH]);

/*
 * An incremental tree over a stream of leaves in O(log n) memory: the
 * roots of the perfect subtrees that make up the first n leaves, one
 * per bit set in n, largest (leftmost) first.  Zero it (or
 * fs_mt_init) to start empty.
 */
struct fs_mt {
	uint64_t n;				/* leaves so far */
	unsigned depth;				/* entries in stack */
	uint8_t stack[FS_MT_MAXH][FS_MT_HASH];
	uint8_t height[FS_MT_MAXH];		/* log2 of each size */
};

void fs_mt_init(struct fs_mt *t);
/* Append one leaf by its leaf hash (fs_mt_leaf). */
void fs_mt_push(struct fs_mt *t, const uint8_t leaf[FS_MT_HASH]);
/*
 * Append a perfect subtree of 2^height leaves by its root: allowed only
 * when n is a multiple of 2^height (its leaves then form one node of
 * the tree); -1 otherwise, t unchanged.
 */
int fs_mt_push_subtree(struct fs_mt *t, const uint8_t root[FS_MT_HASH],
		       unsigned height);
/* MTH of the n leaves so far (SHA-256("") when n is 0). */
void fs_mt_root(const struct fs_mt *t, uint8_t out[FS_MT_HASH]);
/*
 * Rebuild t from its size and its frontier (the stack roots, largest
 * first, as fs_mt_root folds them): -1 when the count of roots is not
 * the number of bits set in n.
 */
int fs_mt_restore(struct fs_mt *t, uint64_t n,
		  const uint8_t (*roots)[FS_MT_HASH], unsigned nroots);

/*
 * Proofs as lists of leaf ranges [lo, hi): each proof node is the MTH
 * of one range.  fs_mt_path_ranges gives those of PATH(m, D[n])
 * (m < n), fs_mt_proof_ranges those of PROOF(m, D[n]) (0 < m <= n), in
 * proof order; at most FS_MT_MAXH ranges, count returned.  Ranges are
 * disjoint, so one pass over the leaves in order makes every node
 * (fs_mt_nodes), whatever the size of the tree.
 */
struct fs_mt_range {
	uint64_t lo, hi;
};
unsigned fs_mt_path_ranges(uint64_t m, uint64_t n,
			   struct fs_mt_range *r);
unsigned fs_mt_proof_ranges(uint64_t m, uint64_t n,
			    struct fs_mt_range *r);

/*
 * One pass over leaves 0, 1, ... making the MTH of each of nr ranges:
 * fs_mt_nodes_init, then fs_mt_nodes_leaf for every leaf hash in
 * order (up to the largest hi at least), then fs_mt_nodes_get.
 */
struct fs_mt_nodes {
	unsigned nr;
	struct fs_mt_range r[FS_MT_MAXH];
	struct fs_mt t[FS_MT_MAXH];
	uint64_t i;				/* next leaf index */
};
void fs_mt_nodes_init(struct fs_mt_nodes *s, const struct fs_mt_range *r,
		      unsigned nr);
void fs_mt_nodes_leaf(struct fs_mt_nodes *s, const uint8_t h[FS_MT_HASH]);
/* The nodes, in range order, into out[nr]; -1 if a range is not done. */
int fs_mt_nodes_get(const struct fs_mt_nodes *s,
		    uint8_t (*out)[FS_MT_HASH]);

/*
 * RFC 9162 2.1.3.2: whether path[0..np) proves leaf hash leaf at index
 * m in a tree of n leaves with root root.  1 valid, 0 not.
 */
int fs_mt_verify_inclusion(uint64_t m, uint64_t n,
			   const uint8_t leaf[FS_MT_HASH],
			   const uint8_t (*path)[FS_MT_HASH], unsigned np,
			   const uint8_t root[FS_MT_HASH]);
/*
 * RFC 9162 2.1.4.2: whether proof[0..np) proves that the tree of m
 * leaves with root r1 is a prefix of the tree of n leaves with root r2.
 * m == n: valid when the proof is empty and r1 equals r2; m == 0:
 * valid when the proof is empty.  1 valid, 0 not.
 */
int fs_mt_verify_consistency(uint64_t m, uint64_t n,
			     const uint8_t r1[FS_MT_HASH],
			     const uint8_t r2[FS_MT_HASH],
			     const uint8_t (*proof)[FS_MT_HASH], unsigned np);

/* Lower-case hex of a hash into buf (65 bytes, NUL-terminated). */
void fs_mt_hex(const uint8_t h[FS_MT_HASH], char buf[2 * FS_MT_HASH + 1]);
/* Parse 64 hex digits (either case); -1 if s is not exactly that. */
int fs_mt_unhex(const char *s, uint8_t h[FS_MT_HASH]);

#endif
