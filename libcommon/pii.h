/*
 * pii.h - PII field encryption and the crypto-shredding key store
 * (libcommon/pii.c).
 *
 * A record whose type has fields flagged FS_FLD_PII in the schema table
 * (TXN: account and device; JSON: the whole text) is sealed: its PII
 * bytes and its header key are encrypted with AES-256-GCM (NIST SP
 * 800-38D) under a key of its subject, the account it is about, and
 * replaced by zeros (the header key by the subject's key id).  Each
 * subject's key lives in a key store, wrapped by a master key; erasing
 * the subject deletes the key, and every record of the subject is from
 * then on unreadable (crypto-shredding) while its ciphertext, and so any
 * hash over it, stays as it was.  The layout is in fs-record(5),
 * Encrypted records.
 *
 * The subject of a record is the value of its PII field that sets the
 * key (FS_FLD_KEY: TXN account), or its header key when the type has no
 * such field (JSON).
 *
 * Master key: 32 bytes.  fs_pii_master_key() reads it from a file
 * (--master-key-file F) holding either exactly 32 raw bytes, or 64 hex
 * digits with an optional trailing newline; or, without a file, from
 * the environment variable FS_MASTER_KEY, 64 hex digits.
 *
 * Key store: one SQLite file in WAL mode, made mode 0600,
 *   pii_meta(name TEXT PRIMARY KEY, value BLOB)
 *	"version" = 1; "check" = nonce(12) || AES-256-GCM(master, 32 zero
 *	bytes, AAD "finstream pii check") || tag(16): the check value a
 *	master key must decrypt (tag match) before the store is used.
 *   pii_subjects(subject INTEGER PRIMARY KEY, key_id INTEGER UNIQUE,
 *		  wrapped BLOB, created_ns INTEGER)
 *	subject and key_id are u64 stored as their int64 bit pattern;
 *	key_id is from RAND_bytes (never 0), not derived from the subject;
 *	wrapped = nonce(12) || AES-256-GCM(master, key, AAD = key_id
 *	(8 bytes LE) || subject (8 bytes LE)) || tag(16), 60 bytes.
 *   pii_erased(key_id INTEGER PRIMARY KEY, erased_ns INTEGER)
 *	the key ids of erased subjects (not the subjects): a record whose
 *	key id is in neither table is from another store, an error, not
 *	a redacted record.
 *
 * Errors: every function returning int returns >= 0 on success or one
 * of the negative FS_PII_E* codes; fs_pii_why() then holds a one-line
 * message (naming the store file where it matters; never key bytes),
 * and fs_pii_exit() maps the code to the exit status a tool uses.
 *
 * Processes: any number may use one store.  A handle caches the keys
 * it has seen; about once a second (every 1024 records) it commits its
 * new keys and, when another process has changed the store (an erase),
 * drops its cache, so an erase elsewhere takes effect in a running
 * writer or reader within about a second.
 *
 * Thread safety: a store handle is for one thread at a time.  Key
 * material (master key, unwrapped keys) is OPENSSL_cleanse'd when freed
 * or erased, and never printed.
 */
#ifndef FS_PII_H
#define FS_PII_H

#include <stddef.h>
#include <stdint.h>

#include "fs.h"

enum {
	FS_PII_OK = 0,
	FS_PII_ENOSTORE = -1,	/* store file missing: exit 4 */
	FS_PII_EMASTER = -2,	/* wrong master key (check value): exit 3 */
	FS_PII_ENOSUBJECT = -3,	/* erase of an unknown subject: exit 3 */
	FS_PII_ETAMPER = -4,	/* GCM tag mismatch: a changed record: 3 */
	FS_PII_EFORMAT = -5,	/* malformed record or store: exit 3 */
	FS_PII_ESPACE = -6,	/* out buffer too small: a bug, exit 1 */
	FS_PII_ENOKEY = -7,	/* master key missing or malformed: exit 2 */
	FS_PII_EIO = -8,	/* SQLite, OpenSSL or file I/O: exit 1 */
	FS_PII_EUNKNOWN = -9,	/* open: a key id the store never had: 3 */
};

/* A sealed frame is at most this much larger than the frame it seals. */
#define FS_PII_OVERHEAD 64
/* The fixed end of an encrypted frame: key_id, nonce, plen, tag. */
#define FS_PII_FOOTER 40

struct fs_pii;

/*
 * Read the master key into key[32]: from file when not NULL (32 raw
 * bytes, or 64 hex digits and an optional newline), else from
 * $FS_MASTER_KEY (64 hex digits).  Returns 0, or FS_PII_ENOKEY with
 * what is wrong in why (neither given, a file that cannot be read, a
 * malformed key).  The caller cleanses key when done.
 */
int fs_pii_master_key(const char *file, uint8_t key[32], char *why,
		      size_t whylen);

#define FS_PII_CREATE 0x01	/* create the store when missing (writes) */

/*
 * Open the key store at path with master key master (copied; the
 * caller may cleanse its copy).  Without FS_PII_CREATE a missing file
 * is FS_PII_ENOSTORE; with it, a missing file becomes a new store with
 * master's check value.  A master key that does not match the store's
 * check value is FS_PII_EMASTER, a file that is not a key store
 * FS_PII_EFORMAT.  Returns the handle, or NULL with *err set and the
 * message in why.
 */
struct fs_pii *fs_pii_store_open(const char *path, const uint8_t master[32],
				 int flags, int *err, char *why,
				 size_t whylen);
/*
 * Commit the keys of subjects first seen since the last flush.  They
 * are inserted in one transaction (BEGIN IMMEDIATE: it holds the
 * store's write lock), committed about a second after it began (at the
 * next new subject, or with the next 1024 records), as the 65536th,
 * and here.  Call it before making sealed output durable: a sealed
 * record whose key was never committed cannot be opened.  A writer
 * that stops between records (an idle input) should call it too, so
 * that an erase elsewhere does not wait for the lock (10 s at most).
 */
int fs_pii_flush(struct fs_pii *s);
/* Flush (a failure is printed as a warning), close, cleanse. */
void fs_pii_store_close(struct fs_pii *s);
/* The message of the last error on s. */
const char *fs_pii_why(const struct fs_pii *s);
/* The exit status for error code err (FS_EXIT_*), 0 for err >= 0. */
int fs_pii_exit(int err);

/*
 * Seal the frame in (a whole, checked frame) into out (8-byte aligned,
 * cap bytes, not overlapping in; fs_frame_size(in) + FS_PII_OVERHEAD
 * always suffices).
 * A data record of a type with PII fields, not yet ENCRYPTED or ERASED,
 * becomes the encrypted record of fs-record(5): flag FS_F_ENCRYPTED,
 * PII fields zero, header key the subject's key id, the trailer after
 * the body.  The subject gets a new key (RAND_bytes) when the store has
 * none.  Any other frame is copied unchanged.  Returns the size of the
 * frame written to out, or an error (FS_PII_ESPACE, FS_PII_EFORMAT for
 * a frame that would pass 16 MiB or a bad JSON length, FS_PII_EIO).
 * No SQLite query but for a subject first seen by this handle.
 */
int fs_pii_seal(struct fs_pii *s, const struct fs_hdr *in, void *out,
		size_t cap);

/*
 * Open the frame in into out (8-byte aligned, cap bytes, not
 * overlapping in; fs_frame_size(in) always suffices).  An ENCRYPTED
 * frame whose key id has a key becomes the frame that was sealed, byte
 * for byte (the tag checked before it is returned); when the
 * key is gone (the subject was erased) the frame as sealed without its
 * trailer, PII fields zero, header key 0, FS_F_ENCRYPTED cleared and
 * FS_F_ERASED set.  Any other frame is copied unchanged.  Returns the
 * size written, or FS_PII_ETAMPER (the tag does not match: the record,
 * its header or its ciphertext was changed), FS_PII_EFORMAT (a trailer
 * that does not fit the frame, or a plaintext that does not fit the
 * type), FS_PII_EUNKNOWN (a key id the store never had: a record of
 * another store), FS_PII_ESPACE or FS_PII_EIO.  An erased record is not
 * checked (no key): its redacted form carries no PII either way.
 */
int fs_pii_open(struct fs_pii *s, const struct fs_hdr *in, void *out,
		size_t cap);

/*
 * Erase subject: delete its key (PRAGMA secure_delete overwrites the
 * freed bytes, then a TRUNCATE checkpoint empties the WAL), and forget
 * it in this handle.  Returns 0, FS_PII_ENOSUBJECT when the store has
 * no key for subject, or FS_PII_EIO (a reader of another process kept
 * the WAL from being truncated: the key may still be in the WAL file;
 * erase again).
 */
int fs_pii_erase(struct fs_pii *s, uint64_t subject);

/*
 * Whether the type of h has PII fields (and so is sealed), and the
 * subject of a plain record of such a type.
 */
int fs_pii_type_has_pii(unsigned type);
uint64_t fs_pii_subject(const struct fs_hdr *h);

/*
 * For tests and their oracles only, never for a tool: the subject's
 * unwrapped key into key[32] and its key id; 0, FS_PII_ENOSUBJECT.
 */
int fs_pii_test_subject_key(struct fs_pii *s, uint64_t subject,
			    uint8_t key[32], uint64_t *key_id);

/*
 * The AES-256-GCM wrapper every seal and open goes through (exposed
 * for the known-answer tests of SP 800-38D / McGrew-Viega).  Encrypt:
 * ct (plen bytes) and tag[16] from pt; decrypt: pt from ct, returning
 * FS_PII_ETAMPER when tag does not match (pt is then zeroed).  iv is
 * 12 bytes.  0 or an error.
 */
struct fs_gcm;
struct fs_gcm *fs_gcm_new(void);
void fs_gcm_free(struct fs_gcm *g);
int fs_gcm_encrypt(struct fs_gcm *g, const uint8_t key[32],
		   const uint8_t iv[12], const void *aad1, size_t aad1len,
		   const void *aad2, size_t aad2len, const void *pt,
		   size_t plen, void *ct, uint8_t tag[16]);
int fs_gcm_decrypt(struct fs_gcm *g, const uint8_t key[32],
		   const uint8_t iv[12], const void *aad1, size_t aad1len,
		   const void *aad2, size_t aad2len, const void *ct,
		   size_t clen, void *pt, const uint8_t tag[16]);

#endif
