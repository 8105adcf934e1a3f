/*
 * pool.c - a fixed set of worker threads running one job at a time.
 * A job is fn(arg, chunk, worker) for chunk in [0, nchunks); workers
 * take chunks from a shared counter.  pool_start() returns at once so
 * the caller can fill the next batch while this one is scored.
 */
#include <pthread.h>
#include <stdlib.h>

#include "fs.h"
#include "score.h"

struct pool {
	int n;
	pthread_t *tid;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t gen;		/* job generation */
	pool_fn *fn;
	void *arg;
	int nchunks, next, active, busy, quit;
};

struct worker_arg {
	struct pool *p;
	int id;
};

/* Take chunks of the current job until none are left. */
static void run_chunks(struct pool *p, int id)
{
	for (;;) {
		int c;

		pthread_mutex_lock(&p->mu);
		c = p->next < p->nchunks ? p->next++ : -1;
		pthread_mutex_unlock(&p->mu);
		if (c < 0)
			return;
		p->fn(p->arg, c, id);
	}
}

static void *worker(void *v)
{
	struct worker_arg *wa = v;
	struct pool *p = wa->p;
	int id = wa->id;
	uint64_t seen = 0;

	free(wa);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		run_chunks(p, id);
		pthread_mutex_lock(&p->mu);
		if (--p->active == 0)
			pthread_cond_signal(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
}

struct pool *pool_new(int nthreads)
{
	struct pool *p = fs_xcalloc(1, sizeof(*p));

	p->n = nthreads < 1 ? 1 : nthreads;
	p->tid = fs_xcalloc(p->n, sizeof(pthread_t));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	for (int i = 0; i < p->n; i++) {
		struct worker_arg *wa = fs_xmalloc(sizeof(*wa));

		wa->p = p;
		wa->id = i;
		if (pthread_create(&p->tid[i], NULL, worker, wa) != 0)
			fs_die(FS_EXIT_FAIL, "cannot start worker thread");
	}
	return p;
}

void pool_start(struct pool *p, pool_fn *fn, void *arg, int nchunks)
{
	pthread_mutex_lock(&p->mu);
	if (p->busy)
		fs_bug("pool_start while a job runs");
	p->fn = fn;
	p->arg = arg;
	p->nchunks = nchunks;
	p->next = 0;
	p->active = p->n;
	p->busy = 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
}

void pool_wait(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->busy && p->active > 0)
		pthread_cond_wait(&p->done, &p->mu);
	p->busy = 0;
	pthread_mutex_unlock(&p->mu);
}

int pool_size(const struct pool *p)
{
	return p->n;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++)
		pthread_join(p->tid[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p->tid);
	free(p);
}
