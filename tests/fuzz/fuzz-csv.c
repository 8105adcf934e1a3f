/*
 * fuzz-csv.c - libFuzzer harness for fs-ingest's CSV/TSV parser, the
 * column plan, cell conversion, bad-row handling and archive sniffing.
 * The first input byte picks the options; the rest is the input file.
 */
// FUZZ_SOURCES: tools/ingest/csv.c tools/ingest/jsonl.c tools/ingest/fix.c tools/ingest/record.c tools/ingest/input.c tools/ingest/decomp.c
#include "fuzz-ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "txn", "trade", "features",
					     "bar" };
	static struct ing_map map = { "acct", "account" };
	struct ing g;
	uint8_t o = size ? data[0] : 0;

	fuzz_ing_init(&g, o & 4 ? ING_TSV : ING_CSV, ing_csv_parse, o & 32);
	g.type = fs_type_by_name(types[o & 3]);
	g.features = (o & 3) == 2;
	g.delim = o & 4 ? '\t' : (o & 8 ? ';' : ',');
	g.quoting = !(o & 4);
	g.no_header = (o & 16) && !g.features;
	g.maps = &map;
	g.nmaps = o & 64 ? 1 : 0;
	return fuzz_ing_run(&g, "fuzz.csv", data, size);
}
