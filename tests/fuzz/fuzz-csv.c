/*
 * fuzz-csv.c - libFuzzer harness for fs-ingest's CSV/TSV parser, the
 * column plan, cell conversion, bad-row handling and archive sniffing.
 * The first input byte picks the options; the rest is the input file.
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
	static const char *const types[] = { "txn", "trade", "features",
					     "bar" };
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
	g.type = fs_type_by_name(types[o & 3]);
	g.features = (o & 3) == 2;
	g.fmt = o & 4 ? ING_TSV : ING_CSV;
	g.delim = o & 4 ? '\t' : (o & 8 ? ';' : ',');
	g.quoting = !(o & 4);
	g.no_header = (o & 16) && !g.features;
	g.on_error = o & 32 ? ING_DEAD : ING_SKIP;
	g.dead_path = "/dev/null";
	g.maps = &map;
	g.nmaps = o & 64 ? 1 : 0;
	g.parse = ing_csv_parse;
	if (size)
		ing_input_mem(&g, "fuzz.csv", data + 1, size - 1);
	ing_summary(&g);
	ing_free(&g);
	return 0;
}
