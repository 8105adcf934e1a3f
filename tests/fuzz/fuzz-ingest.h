/*
 * fuzz-ingest.h - what the fs-ingest harnesses (fuzz-csv, fuzz-jsonl,
 * fuzz-fix) share: the tool_main libcommon's main wants, a state with
 * small buffers (fast runs; refills, growth and flushes exercised)
 * writing to /dev/null, and a run over the input after its option byte.
 */
#include <stdint.h>
#include <string.h>

#include "ingest/ingest.h"

int tool_main(int c, char **v)
{
	(void)c;
	(void)v;
	return 0;
}

/* g ready for a run of format fmt with parser parse, quiet, bad rows
 * skipped or (dead) dead-lettered to /dev/null. */
static void fuzz_ing_init(struct ing *g, int fmt, ing_parse_fn parse,
			  int dead)
{
	static struct fs_writer *w;

	if (!w)
		w = fs_writer_open("/dev/null");
	ing_init(g);
	g->ob_size = 8192;
	g->buf_start = 4096;
	g->w = w;
	g->quiet = 1;
	g->fmt = fmt;
	g->parse = parse;
	g->on_error = dead ? ING_DEAD : ING_SKIP;
	g->dead_path = "/dev/null";
}

/* Read data[1..size) (data[0] chose the options) as file name; free g. */
static int fuzz_ing_run(struct ing *g, const char *name,
			const uint8_t *data, size_t size)
{
	if (size)
		ing_input_mem(g, name, data + 1, size - 1);
	ing_summary(g);
	ing_free(g);
	return 0;
}
