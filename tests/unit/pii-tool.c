/*
 * pii-tool.c - a test driver of libcommon/pii.c, built by the test
 * rules of the Makefile and never installed (it prints keys):
 *
 *   pii-tool [-k MASTER_KEY_FILE] seal STORE    stdin frames -> sealed
 *   pii-tool [-k MASTER_KEY_FILE] open STORE    stdin frames -> opened
 *   pii-tool [-k MASTER_KEY_FILE] erase STORE SUBJECT
 *   pii-tool [-k MASTER_KEY_FILE] key STORE SUBJECT
 *	prints "KEY_ID KEY" in hex (for the oracle tests/cli/pii-oracle.py)
 *   pii-tool [-k MASTER_KEY_FILE] bench STORE FILE [ROUNDS]
 *	seals and opens FILE's frames in memory ROUNDS times (3), prints
 *	the best records/s of each, and of the first seal (new subjects:
 *	keys made and inserted), as "records N seal R open R first_seal R"
 *
 * Without -k the master key is $FS_MASTER_KEY.  Exits as a tool would:
 * fs_pii_exit() of the error, with its message.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fs.h"
#include "pii.h"

/* Globals: memory reachable when fs_die ends the run (LSan). */
static struct fs_pii *store;
static uint64_t *buf;
static char *sealed, *opened;

static struct fs_pii *store_open(const char *keyfile, const char *path,
				 int flags)
{
	uint8_t mk[32];
	char why[600];
	int err = fs_pii_master_key(keyfile, mk, why, sizeof(why));
	struct fs_pii *s;

	if (err < 0)
		fs_die(fs_pii_exit(err), "%s", why);
	s = fs_pii_store_open(path, mk, flags, &err, why, sizeof(why));
	OPENSSL_cleanse(mk, sizeof(mk));
	if (!s)
		fs_die(fs_pii_exit(err), "%s", why);
	return s;
}

static void die_pii(struct fs_pii *s, int err)
{
	fs_writers_flush_all();
	fs_die(fs_pii_exit(err), "%s", fs_pii_why(s));
}

/* seal or open stdin to stdout. */
static int filter(struct fs_pii *s, int seal)
{
	struct fs_reader *r = fs_reader_fd(0, "-");
	struct fs_writer *w = fs_writer_fd(1, "-");
	const struct fs_hdr *h;
	size_t cap = FS_FRAME_MAX + 4 + FS_PII_OVERHEAD;
	int n, rc;

	buf = fs_xmalloc(cap);

	fs_reader_flush_on_block(r, w);
	while ((rc = fs_read(r, &h)) == 1) {
		n = seal ? fs_pii_seal(s, h, buf, cap) :
		    fs_pii_open(s, h, buf, cap);
		if (n < 0)
			die_pii(s, n);
		fs_write_frame(w, (const struct fs_hdr *)buf);
	}
	free(buf);
	if (rc < 0)
		fs_die(FS_EXIT_DATA, "bad input");
	if ((n = fs_pii_flush(s)) < 0)
		die_pii(s, n);
	fs_writer_close(w);
	fs_reader_close(r);
	return 0;
}

/* Time seal and open of the frames of file. */
static int bench(struct fs_pii *s, const char *file, int rounds)
{
	int fd = open(file, O_RDONLY);
	struct stat sb;
	char *in;
	size_t n = 0, at;
	double best[2] = { 0, 0 }, first = 0;
	int r;

	if (fd < 0 || fstat(fd, &sb) < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", file);
	in = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (in == MAP_FAILED)
		fs_die_errno(FS_EXIT_FAIL, "cannot map '%s'", file);
	sealed = fs_xmalloc((size_t)sb.st_size * 2 + 64);
	opened = fs_xmalloc((size_t)sb.st_size * 2 + 64);
	for (int k = 0; k < rounds; k++) {
		int64_t t0 = fs_mono_ns(), t1, t2;
		size_t out = 0;

		n = 0;
		for (at = 0; at < (size_t)sb.st_size; n++) {
			const struct fs_hdr *h = (const void *)(in + at);

			r = fs_pii_seal(s, h, sealed + out, 1u << 20);
			if (r < 0)
				die_pii(s, r);
			out += (size_t)r;
			at += fs_frame_size(h);
		}
		if ((r = fs_pii_flush(s)) < 0)
			die_pii(s, r);
		t1 = fs_mono_ns();
		for (at = 0; at < out;) {
			const struct fs_hdr *h = (const void *)(sealed + at);

			r = fs_pii_open(s, h, opened, 1u << 20);
			if (r < 0)
				die_pii(s, r);
			at += fs_frame_size(h);
		}
		t2 = fs_mono_ns();
		if (k == 0)
			first = n / ((t1 - t0) / 1e9);
		if (n / ((t1 - t0) / 1e9) > best[0])
			best[0] = n / ((t1 - t0) / 1e9);
		if (n / ((t2 - t1) / 1e9) > best[1])
			best[1] = n / ((t2 - t1) / 1e9);
	}
	printf("records %zu seal %.0f open %.0f first_seal %.0f\n", n,
	       best[0], best[1], first);
	munmap(in, (size_t)sb.st_size);
	free(sealed);
	free(opened);
	return 0;
}

static uint64_t subject_arg(const char *s)
{
	uint64_t v;

	if (fs_parse_u64(s, (size_t)-1, &v) < 0)
		fs_usage_error("bad subject '%s'", s);
	return v;
}

int tool_main(int argc, char **argv)
{
	const char *keyfile = NULL, *cmd;
	struct fs_pii *s;
	int r = 0;

	if (argc > 2 && strcmp(argv[1], "-k") == 0) {
		keyfile = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 3)
		fs_usage_error("usage: pii-tool [-k FILE] seal|open|erase|"
			       "key|bench STORE [ARG]");
	cmd = argv[1];
	s = store = store_open(keyfile, argv[2],
			       strcmp(cmd, "seal") == 0 ||
			       strcmp(cmd, "bench") == 0 ? FS_PII_CREATE : 0);
	if (strcmp(cmd, "seal") == 0 || strcmp(cmd, "open") == 0) {
		r = filter(s, cmd[0] == 's');
	} else if (strcmp(cmd, "erase") == 0 && argc == 4) {
		r = fs_pii_erase(s, subject_arg(argv[3]));
	} else if (strcmp(cmd, "key") == 0 && argc == 4) {
		uint8_t key[32];
		uint64_t kid;

		r = fs_pii_test_subject_key(s, subject_arg(argv[3]), key,
					    &kid);
		if (!r) {
			printf("%016llx ", (unsigned long long)kid);
			for (int i = 0; i < 32; i++)
				printf("%02x", key[i]);
			printf("\n");
		}
		OPENSSL_cleanse(key, sizeof(key));
	} else if (strcmp(cmd, "bench") == 0 && argc >= 4) {
		r = bench(s, argv[3], argc > 4 ? (int)fs_opt_i64("ROUNDS",
				argv[4], 1, 1000) : 3);
	} else {
		fs_usage_error("unknown command '%s'", cmd);
	}
	if (r < 0)
		die_pii(s, r);
	fs_pii_store_close(s);
	return 0;
}
