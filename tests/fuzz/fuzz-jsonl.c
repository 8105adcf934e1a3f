/*
 * fuzz-jsonl.c - libFuzzer harness for fs-ingest's JSON Lines scanner:
 * flat objects into typed records, -t json, -t features, bad lines.  The
 * first input byte picks the options; the rest is the input file.
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
	static const char *const types[] = { "txn", "json", "features",
					     "score" };
	static struct ing_map map = { "acct", "account" };
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
	g.fmt = ING_JSONL;
	g.type = fs_type_by_name(types[o & 3]);
	g.json = (o & 3) == 1;
	g.features = (o & 3) == 2;
	g.on_error = o & 4 ? ING_DEAD : ING_SKIP;
	g.dead_path = "/dev/null";
	g.maps = &map;
	g.nmaps = o & 8 ? 1 : 0;
	g.parse = ing_jsonl_parse;
	if (size)
		ing_input_mem(&g, "fuzz.jsonl", data + 1, size - 1);
	ing_summary(&g);
	ing_free(&g);
	return 0;
}
