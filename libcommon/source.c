/*
 * source.c - checkpoints of a source that makes its own records
 * (fs-gen) or reads an input of its own (fs-ingest), as io.c's readers
 * take part in them (finstream(7) Checkpoints): BARRIER n every
 * --checkpoint-interval with the source's position recorded for n, one
 * checkpoint at a time, a FINAL one at the end, and at start the
 * position of the restored checkpoint to resume from.
 */
#include <stdlib.h>
#include <string.h>

#include "fs.h"

struct fs_source {
	char *name;		/* in the store's positions */
	int64_t next_id;	/* the next barrier's checkpoint */
	int64_t resume;		/* the restored checkpoint's position */
	int64_t replay_to;	/* the begun checkpoint's, or -1 */
	int64_t due_ns, recheck_ns;
};

int fs_source_postpone(int64_t next_id, int64_t due_ns, int64_t *recheck_ns)
{
	int64_t now = fs_mono_ns();

	if (next_id <= 1 || now - due_ns > 10 * fs_pipeline_interval())
		return 0;
	if (now < *recheck_ns)
		return 1;
	if (fs_ckpt_latest(fs_pipeline_ckpt()) >= next_id - 1)
		return 0;
	*recheck_ns = now + 10000000;	/* look again in 10 ms */
	return 1;
}

struct fs_source *fs_source_open(const char *name)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	struct fs_source *s;
	int64_t n, resume = 0;

	if (!c)
		return NULL;
	n = fs_pipeline_restored();
	if (n > 0 && fs_ckpt_get_position(c, n, name, 0, &resume) < 0)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s': checkpoint %lld of "
		       "job '%s' has no position for it (another input?)",
		       name, (long long)n, fs_ckpt_job(c));
	s = fs_xcalloc(1, sizeof(*s));	/* after the exit above: no leak */
	s->name = fs_xstrdup(name);
	s->resume = resume;
	/* checkpoint n + 1 was begun: its barrier comes at the same place */
	if (fs_ckpt_get_position(c, n + 1, name, 0, &s->replay_to) < 0 ||
	    s->replay_to < s->resume)
		s->replay_to = -1;
	s->next_id = n + 1;
	s->due_ns = fs_mono_ns() + fs_pipeline_interval();
	fs_ckpt_clear_stop(c);		/* an old stop request is done */
	return s;
}

int64_t fs_source_next_id(const struct fs_source *s)
{
	return s ? s->next_id : 0;
}

int64_t fs_source_resume(const struct fs_source *s)
{
	return s ? s->resume : 0;
}

int64_t fs_source_room(const struct fs_source *s, int64_t pos)
{
	return s && s->replay_to >= 0 ? s->replay_to - pos : INT64_MAX;
}

int fs_source_due(struct fs_source *s, int64_t pos)
{
	if (!s)
		return 0;
	if (s->replay_to >= 0) {	/* replaying: the cut decides */
		if (pos < s->replay_to)
			return 0;
		s->replay_to = -1;
		return 1;
	}
	if (fs_mono_ns() < s->due_ns)
		return 0;
	if (fs_ckpt_stop_requested(fs_pipeline_ckpt()))
		fs_stop = 1;	/* a stage asked: end after this barrier */
	return !fs_source_postpone(s->next_id, s->due_ns, &s->recheck_ns);
}

void fs_source_barrier(struct fs_source *s, struct fs_writer *w, int64_t pos,
		       int64_t ts, int final)
{
	uint64_t frame[(sizeof(struct fs_hdr) + 8) / 8], id;
	struct fs_hdr *b = (struct fs_hdr *)frame;

	if (!s)
		return;
	id = (uint64_t)s->next_id++;
	fs_ckpt_put_position(fs_pipeline_ckpt(), (int64_t)id, s->name, 0,
			     pos);
	memset(frame, 0, sizeof(frame));
	b->len = sizeof(frame) - 4;
	b->type = FS_T_BARRIER;
	b->version = FS_FORMAT_VERSION;
	b->flags = FS_F_CONTROL | (final ? FS_F_FINAL : 0);
	b->ts_event = ts;
	b->seq = id;
	memcpy(b + 1, &id, sizeof(id));
	fs_write_frame(w, b);	/* side files go into it first (io.c) */
	s->due_ns = fs_mono_ns() + fs_pipeline_interval();
}

void fs_source_close(struct fs_source *s)
{
	if (!s)
		return;
	free(s->name);
	free(s);
}
