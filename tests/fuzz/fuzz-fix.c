/*
 * fuzz-fix.c - libFuzzer harness for fs-ingest's FIX tag=value parser:
 * fields, checksums, several messages a line, fills and orders into
 * records.  The first input byte picks the options; the rest is input.
 */
// FUZZ_SOURCES: tools/ingest/csv.c tools/ingest/jsonl.c tools/ingest/fix.c tools/ingest/record.c tools/ingest/input.c
#include <stdint.h>
#include <string.h>

#include "ingest/ingest.h"

int tool_main(int c, char **v)
{
	(void)c;
	(void)v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fs_writer *w;
	struct ing g;
	uint8_t o = size ? data[0] : 0;

	if (!w)
		w = fs_writer_open("/dev/null");
	ing_init(&g);
	/* Small buffers: fast runs; refills, growth, flushes exercised. */
	g.ob_size = 8192;
	g.buf_start = 4096;
	g.w = w;
	g.quiet = 1;
	g.fmt = ING_FIX;
	g.fix_only = (o & 3) == 1 ? fs_type_by_id(FS_T_TRADE) :
		     (o & 3) == 2 ? fs_type_by_id(FS_T_ORDER) : NULL;
	g.on_error = o & 4 ? ING_DEAD : ING_SKIP;
	g.dead_path = "/dev/null";
	g.parse = ing_fix_parse;
	if (size)
		ing_input_mem(&g, "fuzz.fix", data + 1, size - 1);
	ing_summary(&g);
	ing_free(&g);
	return 0;
}
