/*
 * fuzz-fix.c - libFuzzer harness for fs-ingest's FIX tag=value parser:
 * fields, checksums, several messages a line, fills and orders into
 * records.  The first input byte picks the options; the rest is input.
 */
// FUZZ_SOURCES: tools/ingest/csv.c tools/ingest/jsonl.c tools/ingest/fix.c tools/ingest/record.c tools/ingest/input.c tools/ingest/decomp.c
#include "fuzz-ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ing g;
	uint8_t o = size ? data[0] : 0;

	fuzz_ing_init(&g, ING_FIX, ing_fix_parse, o & 4);
	g.fix_only = (o & 3) == 1 ? fs_type_by_id(FS_T_TRADE) :
		     (o & 3) == 2 ? fs_type_by_id(FS_T_ORDER) : NULL;
	return fuzz_ing_run(&g, "fuzz.fix", data, size);
}
