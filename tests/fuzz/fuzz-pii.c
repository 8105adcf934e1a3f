/*
 * fuzz-pii.c - libFuzzer harness for PII encryption (libcommon/pii.c):
 * every frame the reader gives is opened (any trailer must give a
 * clean error or a frame, never a crash or an overread), and sealed
 * then opened, which must give the frame back byte for byte; then one
 * byte of the sealed frame (after len) is changed, and opening it must
 * fail, unless the change cleared the ENCRYPTED flag (the frame is then
 * not an encrypted one, and is copied).
 */
// FUZZ_SOURCES:
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs.h"
#include "pii.h"

int tool_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static struct fs_pii *store;
static uint64_t *sealed, *opened;
#define CAP ((size_t)FS_FRAME_MAX + 4 + FS_PII_OVERHEAD)

static void setup(void)
{
	static char dir[] = "/tmp/fuzz-pii.XXXXXX";
	static const uint8_t mk[32] = "fuzz master key, 32 bytes long.";
	char path[64], why[512];
	int err;

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/keys.db", dir);
	store = fs_pii_store_open(path, mk, FS_PII_CREATE, &err, why,
				  sizeof(why));
	sealed = malloc(CAP);
	opened = malloc(CAP);
	if (!store || !sealed || !opened)
		abort();
}

/* Change byte 4 + (h's seq + x) % (n - 4) of the sealed frame by x. */
static void tamper(const struct fs_hdr *h, int n, uint8_t x)
{
	uint8_t *p = (uint8_t *)sealed;
	size_t at = 4 + (size_t)((h->seq + x) % (uint64_t)(n - 4));
	uint8_t was = p[at];
	int m;

	p[at] ^= x ? x : 0x5a;
	m = fs_pii_open(store, (const struct fs_hdr *)sealed, opened, CAP);
	if (m >= 0 && !(at == 7 && !(p[7] & FS_F_ENCRYPTED)))
		abort();
	p[at] = was;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0), n, m;
	struct fs_reader *r;
	const struct fs_hdr *h;

	if (!store)
		setup();
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		return 0;
	lseek(fd, 0, SEEK_SET);
	r = fs_reader_fd(fd, "fuzz");
	while (fs_read(r, &h) > 0) {
		(void)fs_pii_open(store, h, opened, CAP);
		n = fs_pii_seal(store, h, sealed, CAP);
		if (n < 0 || (h->flags & FS_F_ENCRYPTED))
			continue;
		m = fs_pii_open(store, (const struct fs_hdr *)sealed, opened,
				CAP);
		if (m != (int)fs_frame_size(h) || memcmp(opened, h, m) != 0)
			abort();
		if (n != (int)fs_frame_size(h))
			tamper(h, n, size ? data[size - 1] : 0);
	}
	fs_reader_close(r);
	close(fd);
	return 0;
}
