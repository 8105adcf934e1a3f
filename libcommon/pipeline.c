/*
 * pipeline.c - aligned checkpoints of a linear pipeline (finstream(7)
 * Checkpoints): the common options (--state, --job, --stage,
 * --checkpoint-interval), the job's store shared by the process's
 * readers and writers, and what a stateful stage asks of it.
 *
 * The source (a reader on a regular file) injects BARRIER frames and
 * records its positions; the sink (a writer on a regular file) commits
 * on each barrier and completes the checkpoint (io.c); stages between
 * forward barriers, snapshotting their state first.
 */
#include <stdlib.h>
#include <string.h>

#include "fs.h"

static struct {
	const char *state;	/* --state FILE, or NULL */
	const char *job;	/* --job NAME */
	const char *stage;	/* --stage NAME, or NULL: the program */
	int64_t interval_ns;	/* --checkpoint-interval */
	struct fs_ckpt *store;
	int64_t restored;	/* latest complete at opening */
} pl = { NULL, "default", NULL, 1000000000, NULL, 0 };

int fs_pipeline_opt(int c, const char *arg)
{
	switch (c) {
	case FS_OPT_STATE:
		if (!*arg)
			fs_usage_error("--state needs a file name");
		pl.state = arg;
		return 1;
	case FS_OPT_JOB:
		if (!*arg)
			fs_usage_error("--job needs a name");
		pl.job = arg;
		return 1;
	case FS_OPT_STAGE:
		if (!*arg)
			fs_usage_error("--stage needs a name");
		pl.stage = arg;
		return 1;
	case FS_OPT_CKPT_INTERVAL:
		pl.interval_ns = fs_opt_duration("--checkpoint-interval", arg,
						 (size_t)-1, 1, INT64_MAX);
		return 1;
	}
	return 0;
}

void fs_pipeline_usage(FILE *f)
{
	fprintf(f, "Checkpoints (finstream(7) Checkpoints):\n"
"      --state FILE      the job's checkpoint store; restore the latest\n"
"                        complete checkpoint, take part in new ones\n"
"      --job NAME        the job's name in the store (default)\n"
"      --stage NAME      name of this stage's snapshots (the program)\n"
"      --checkpoint-interval DURATION\n"
"                        a file source's barrier period (1s)\n");
}

static void close_store(void)
{
	fs_ckpt_close(pl.store);
	pl.store = NULL;
}

struct fs_ckpt *fs_pipeline_ckpt(void)
{
	if (!pl.state)
		return NULL;
	if (!pl.store) {
		pl.store = fs_ckpt_open(pl.state, pl.job);
		pl.restored = fs_ckpt_latest(pl.store);
		atexit(close_store);
	}
	return pl.store;
}

int64_t fs_pipeline_restored(void)
{
	fs_pipeline_ckpt();
	return pl.restored;
}

int64_t fs_pipeline_interval(void)
{
	return pl.interval_ns;
}

uint64_t fs_barrier_id(const struct fs_hdr *h)
{
	uint64_t id;

	if (h->len + 4 < FS_HDR_SIZE + 8)
		return 0;
	memcpy(&id, (const char *)h + FS_HDR_SIZE, 8);
	return id;
}

/* Checkpoints kept in the store: the latest complete and two before. */
#define RETAINED 3

/*
 * Checkpoints the sink has committed that are not complete yet: a
 * stage's snapshot was still being written.  Only the sink completes
 * checkpoints, in the run that made them: a snapshot writer left over
 * from a run that died only clears its pending mark, so the stages of
 * the next run all restore the same checkpoint.
 */
#define OUTSTANDING_MAX 64
static int64_t outstanding[OUTSTANDING_MAX];
static int nout;

/* Complete those whose snapshots are all in; prune when one was. */
static void complete_ready(void)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	int done = 0;

	for (int i = 0; i < nout;)
		if (fs_ckpt_try_complete(c, outstanding[i])) {
			done = 1;
			memmove(outstanding + i, outstanding + i + 1,
				(size_t)(nout - i - 1) * sizeof(*outstanding));
			nout--;
		} else {
			i++;
		}
	if (done)
		fs_ckpt_prune(c, RETAINED);
}

void fs_pipeline_complete(int64_t id, int final)
{
	int64_t end = fs_mono_ns() + 60 * 1000000000LL;

	if (nout == OUTSTANDING_MAX) {	/* never done: let the oldest go */
		memmove(outstanding, outstanding + 1,
			(size_t)(nout - 1) * sizeof(*outstanding));
		nout--;
	}
	outstanding[nout++] = id;
	complete_ready();
	/* the last one: the stages' writers finish before they exit */
	while (final && nout && !fs_stop && fs_mono_ns() < end) {
		(void)fs_sleep_until(fs_mono_ns() + 5000000);
		complete_ready();
	}
	if (final && nout)
		fs_warn("checkpoint %lld is not complete: a stage's snapshot "
			"was not written", (long long)outstanding[nout - 1]);
}

void *fs_pipeline_snapshot(int64_t id, size_t *n, const char *merged)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	size_t np, ninst = 0;
	int64_t *part = fs_ckpt_snapshot_parts(c, id, fs_stage_name(), &np);
	void *p;

	for (size_t i = 0; i < np; i++)
		ninst += part[i] < 0;
	free(part);
	if (ninst > 1 && !merged)
		fs_die(FS_EXIT_DATA, "checkpoint %lld of job '%s' merges %zu "
		       "instances of stage '%s', whose state is in one piece "
		       "and does not merge", (long long)id, fs_ckpt_job(c),
		       ninst, fs_stage_name());
	if (ninst > 1)
		fs_warn("checkpoint %lld merges %zu instances of stage '%s': "
			"%s", (long long)id, ninst, fs_stage_name(), merged);
	p = fs_ckpt_get_snapshot(c, id, fs_stage_name(), FS_CKPT_INSTANCE, n);
	if (!p)
		fs_die(FS_EXIT_FAIL, "checkpoint %lld of job '%s' has no "
		       "snapshot of stage '%s' (another --stage name?)",
		       (long long)id, fs_ckpt_job(c), fs_stage_name());
	return p;
}

void fs_pipeline_bad_snapshot(int64_t id, const char *why)
{
	fs_die(FS_EXIT_DATA, "bad snapshot of stage '%s' for checkpoint %lld: "
	       "%s", fs_stage_name(), (long long)id, why);
}

void fs_pipeline_part_done(struct fs_ckpt *c, int64_t id)
{
	fs_ckpt_part_done(c, id, fs_stage_name());
}

struct fs_ckpt *fs_pipeline_ckpt_reopen(void)
{
	/* the parent's connection is left alone, not closed */
	pl.store = fs_ckpt_open(pl.state, pl.job);
	return pl.store;
}

const char *fs_stage_name(void)
{
	return pl.stage ? pl.stage : fs_progname;
}
