/*
 * big.c - big zeroed blocks in huge pages, prepared ahead of need.
 *
 * A tool that grows a table or an arena says fs_big_want(n) a while
 * before it needs n bytes; one background thread maps and populates
 * such blocks (the page zeroing, and in a VM the host's own faults,
 * happen there, on the other core), and fs_big_alloc(n) takes a block
 * of that size when one is ready or being made. Without a want, or
 * below FS_BIG_MIN, fs_big_alloc maps (or callocs) on the spot.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "fs.h"

/* by readiness (take_spare); S_DROP: given up while being made */
enum { S_FREE, S_WANTED, S_MAKING, S_READY, S_DROP };

#define NSPARE 8
struct spare {
	size_t n;
	void *p;
	int state;
};
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;
	struct spare s[NSPARE];
	struct { void *p; size_t n; } fr[NSPARE];	/* to unmap */
	int nfr;
} sp = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *map_block(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, n, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
	madvise(p, n, MADV_POPULATE_WRITE);	/* Linux 5.14+; else lazily */
#endif
	return p;
}

/* The preparer: unmap what was freed, make each wanted block. */
static void *preparer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sp.mu);
	for (;;) {
		struct spare *w = NULL;

		if (sp.nfr > 0) {	/* a big munmap costs milliseconds */
			void *p = sp.fr[--sp.nfr].p;
			size_t n = sp.fr[sp.nfr].n;

			pthread_mutex_unlock(&sp.mu);
			munmap(p, n);
			pthread_mutex_lock(&sp.mu);
			continue;
		}

		/* smallest first: a table that is about to grow waits
		 * less behind an arena's next 16 MiB */
		for (int i = 0; i < NSPARE; i++)
			if (sp.s[i].state == S_WANTED &&
			    (!w || sp.s[i].n < w->n))
				w = &sp.s[i];
		if (!w) {
			pthread_cond_wait(&sp.cv, &sp.mu);
			continue;
		}
		w->state = S_MAKING;
		pthread_mutex_unlock(&sp.mu);
		void *p = map_block(w->n);
		pthread_mutex_lock(&sp.mu);
		if (w->state == S_DROP) {	/* fs_big_unwant meanwhile */
			size_t n = w->n;

			w->state = S_FREE;
			pthread_cond_broadcast(&sp.cv);
			pthread_mutex_unlock(&sp.mu);
			if (p)
				munmap(p, n);
			pthread_mutex_lock(&sp.mu);
			continue;
		}
		w->p = p;
		w->state = p ? S_READY : S_FREE;
		pthread_cond_broadcast(&sp.cv);
	}
	return NULL;
}

void fs_big_want(size_t n)
{
	struct spare *f = NULL;

	if (n < FS_BIG_MIN)
		return;
	pthread_mutex_lock(&sp.mu);
	for (int i = 0; i < NSPARE && !f; i++)
		if (sp.s[i].state == S_FREE)
			f = &sp.s[i];
	if (!f)
		goto out;		/* enough in flight: map on demand */
	if (!sp.started) {
		pthread_t t;
		pthread_attr_t a;

		sigset_t all, old;

		/* signals stay the main thread's (fs_stop, EINTR reads) */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		sp.started = pthread_create(&t, &a, preparer, NULL) == 0;
		pthread_attr_destroy(&a);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!sp.started)
			goto out;
	}
	f->n = n;
	f->state = S_WANTED;
	pthread_cond_broadcast(&sp.cv);
out:
	pthread_mutex_unlock(&sp.mu);
}

/*
 * A prepared (or being prepared) block of n bytes, or NULL. Of several
 * blocks of that size the readiest: a ready one, else one being made
 * (wait for it), else a want not begun, given back (mapped here).
 */
static void *take_spare(size_t n)
{
	struct spare *b = NULL;
	void *p = NULL;

	pthread_mutex_lock(&sp.mu);
	for (int i = 0; i < NSPARE; i++) {
		struct spare *s = &sp.s[i];

		if (s->n == n && s->state != S_FREE && s->state != S_DROP &&
		    (!b || s->state > b->state))
			b = s;
	}
	if (b && b->state == S_WANTED) {	/* not begun: do it here */
		b->state = S_FREE;
		b = NULL;
	}
	if (b) {
		while (b->state == S_MAKING)
			pthread_cond_wait(&sp.cv, &sp.mu);
		if (b->state == S_READY) {
			p = b->p;
			b->p = NULL;
			b->state = S_FREE;
		}
	}
	pthread_mutex_unlock(&sp.mu);
	return p;
}

/*
 * A block of n bytes wanted will not be asked for after all (a table
 * cleared before it grew): give one such block back, so that it does
 * not hold memory for the rest of the run.
 */
void fs_big_unwant(size_t n)
{
	struct spare *b = NULL;
	void *p = NULL;

	if (n < FS_BIG_MIN)
		return;
	pthread_mutex_lock(&sp.mu);
	for (int i = 0; i < NSPARE; i++) {
		struct spare *s = &sp.s[i];

		/* the least ready: the least work thrown away */
		if (s->n == n && s->state != S_FREE && s->state != S_DROP &&
		    (!b || s->state < b->state))
			b = s;
	}
	if (b && b->state == S_MAKING) {
		b->state = S_DROP;	/* the preparer unmaps it */
	} else if (b) {
		p = b->p;
		b->p = NULL;
		b->state = S_FREE;
	}
	pthread_mutex_unlock(&sp.mu);
	if (p)
		munmap(p, n);
}

void *fs_big_try(size_t n)
{
	void *p;

	if (n < FS_BIG_MIN)
		return calloc(1, n ? n : 1);
	p = take_spare(n);
	return p ? p : map_block(n);
}

void *fs_big_alloc(size_t n)
{
	void *p = fs_big_try(n);

	if (!p)
		fs_die(FS_EXIT_FAIL, "out of memory (allocating %zu bytes)", n);
	return p;
}

int fs_big_ready(size_t n)
{
	int ready = 0;

	pthread_mutex_lock(&sp.mu);
	for (int i = 0; i < NSPARE && !ready; i++)
		ready = sp.s[i].n == n && sp.s[i].state == S_READY;
	pthread_mutex_unlock(&sp.mu);
	return ready;
}

/*
 * Big blocks are unmapped by the preparer when it runs (a table's old
 * slots: tens of milliseconds of page-table work in a VM), else here.
 */
void fs_big_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n < FS_BIG_MIN) {
		free(p);
		return;
	}
	pthread_mutex_lock(&sp.mu);
	if (sp.started && sp.nfr < NSPARE) {
		sp.fr[sp.nfr].p = p;
		sp.fr[sp.nfr++].n = n;
		pthread_cond_broadcast(&sp.cv);
		p = NULL;
	}
	pthread_mutex_unlock(&sp.mu);
	if (p)
		munmap(p, n);
}
