/*
 * fuzz-jsonl.c - libFuzzer harness for fs-ingest's JSON Lines scanner:
 * flat objects into typed records, -t json, -t features, bad lines.  The
 * first input byte picks the options; the rest is the input file.
 */
// FUZZ_SOURCES: tools/ingest/csv.c tools/ingest/jsonl.c tools/ingest/fix.c tools/ingest/record.c tools/ingest/input.c tools/ingest/decomp.c
#include "fuzz-ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "txn", "json", "features",
					     "score" };
	static struct ing_map map = { "acct", "account" };
	struct ing g;
	uint8_t o = size ? data[0] : 0;

	fuzz_ing_init(&g, ING_JSONL, ing_jsonl_parse, o & 4);
	g.type = fs_type_by_name(types[o & 3]);
	g.json = (o & 3) == 1;
	g.features = (o & 3) == 2;
	g.maps = &map;
	g.nmaps = o & 8 ? 1 : 0;
	return fuzz_ing_run(&g, "fuzz.jsonl", data, size);
}
