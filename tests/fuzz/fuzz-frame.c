/*
 * fuzz-frame.c - libFuzzer harness for the frame reader: any bytes must
 * give frames or a clean data error, never a crash, hang or overread.
 * Also decodes every SCHEMA record it meets.
 */
// FUZZ_SOURCES:
#include <sys/mman.h>
#include <unistd.h>

#include "fs.h"

int tool_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0);
	struct fs_reader *r;
	const struct fs_hdr *h;
	uint64_t sum = 0;
	char why[128];

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		return 0;
	lseek(fd, 0, SEEK_SET);
	r = fs_reader_fd(fd, "fuzz");
	while (fs_read(r, &h) > 0) {
		const unsigned char *b = fs_body(h);

		for (size_t i = 0; i < fs_body_len(h); i++)
			sum += b[i];
		if (h->type == FS_T_SCHEMA)
			fs_schema_free(fs_schema_decode(h, why, sizeof(why)));
	}
	fs_reader_close(r);
	close(fd);
	return (int)(sum & 0);
}
