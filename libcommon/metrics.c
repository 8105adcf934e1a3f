/*
 * metrics.c - Prometheus text exposition (format 0.0.4) to a file, and
 * the progress line on a TTY.
 *
 * A tool registers pointers to its counters, gauges and histograms; the
 * file is rewritten at most once a second from fs_metrics_tick() and
 * once more at fs_metrics_close(), always as PATH.tmp then rename(), so
 * a scraper (node_exporter's textfile collector) never sees half a file.
 * Every sample carries the label tool="fs-NAME".
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

#define METRICS_EVERY 64		/* tick calls between clock reads */
#define METRICS_PERIOD 1000000000LL	/* ns between writes */
#define PROGRESS_EVERY 64
#define PROGRESS_PERIOD 250000000LL	/* at most 4 redraws a second */

enum { M_COUNTER, M_GAUGE, M_SUMMARY };

struct metric {
	int kind;
	char *name;		/* "fs_" + the registered name */
	char *help;
	const void *p;		/* uint64_t, double or struct fs_hist */
};

struct fs_metrics {
	char *path;
	char *tmp;
	struct metric *m;
	size_t n, cap;
	unsigned ticks;
	int64_t last;		/* fs_mono_ns() of the last write */
	int warned;
};

/* "fs_" + name with characters Prometheus does not allow made '_'. */
static char *metric_name(const char *name)
{
	size_t n = strlen(name), i, pre = strncmp(name, "fs_", 3) ? 3 : 0;
	char *s = fs_xmalloc(pre + n + 1);

	memcpy(s, "fs_", pre);
	for (i = 0; i < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || c == ':';

		s[pre + i] = ok ? c : '_';
	}
	s[pre + n] = 0;
	return s;
}

/* Write s with '\\', '\n' (and '"' when quote) escaped. */
static void put_escaped(FILE *f, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quote && *s == '"')
			fputs("\\\"", f);
		else
			putc(*s, f);
	}
}

/* A sample value: Prometheus spells the specials NaN, +Inf and -Inf. */
static void put_value(FILE *f, double v)
{
	char buf[FS_FMT_MAX];

	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else {
		fs_fmt_f64(buf, v);
		fputs(buf, f);
	}
}

/* NAME{tool="fs-x"[,quantile="Q"]} VALUE */
static void put_sample(FILE *f, const char *name, const char *suffix,
		       const char *quantile, double v)
{
	fprintf(f, "%s%s{tool=\"", name, suffix);
	put_escaped(f, fs_progname, 1);
	if (quantile)
		fprintf(f, "\",quantile=\"%s", quantile);
	fputs("\"} ", f);
	put_value(f, v);
	putc('\n', f);
}

static void put_summary(FILE *f, const char *name, const struct fs_hist *h)
{
	static const char *const qs[] = {"0.5", "0.9", "0.99", "0.999"};
	static const double qv[] = {0.5, 0.9, 0.99, 0.999};
	size_t i;

	for (i = 0; i < 4; i++)
		put_sample(f, name, "", qs[i],
			   h->count ? (double)fs_hist_quantile(h, qv[i]) / 1e9
				    : NAN);
	put_sample(f, name, "_sum", NULL, h->sum / 1e9);
	put_sample(f, name, "_count", NULL, (double)h->count);
}

static void put_metric(FILE *f, const struct metric *m)
{
	static const char *const types[] = {"counter", "gauge", "summary"};

	fprintf(f, "# HELP %s ", m->name);
	put_escaped(f, m->help, 0);
	fprintf(f, "\n# TYPE %s %s\n", m->name, types[m->kind]);
	if (m->kind == M_COUNTER)
		put_sample(f, m->name, "", NULL,
			   (double)*(const uint64_t *)m->p);
	else if (m->kind == M_GAUGE)
		put_sample(f, m->name, "", NULL, *(const double *)m->p);
	else
		put_summary(f, m->name, m->p);
}

/*
 * Whether path may be replaced by a metrics file: it does not exist, or
 * is a regular file (not a FIFO, a device, a directory or a symlink,
 * which rename() would replace).  -1 with errno set when not.
 */
static int metrics_target_ok(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISREG(st.st_mode))
		return 0;
	errno = S_ISLNK(st.st_mode) ? ELOOP : S_ISDIR(st.st_mode) ? EISDIR
	      : EPERM;
	return -1;
}

/* What kind of file path is, for the refusal message. */
static const char *file_kind(const struct stat *st)
{
	return S_ISLNK(st->st_mode) ? "a symbolic link" :
	       S_ISFIFO(st->st_mode) ? "a FIFO" :
	       S_ISDIR(st->st_mode) ? "a directory" :
	       S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device" :
	       S_ISSOCK(st->st_mode) ? "a socket" : "not a regular file";
}

/*
 * At open: refuse (exit 2) a PATH that is not a regular file, or that is
 * an input or output of this run.  Nothing is noted: each write replaces
 * the file with a new one, so an inode noted now would soon name nothing
 * (tools open their metrics after their endpoints).
 */
static void metrics_claim(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		fs_die(FS_EXIT_USAGE, "refusing to write metrics to '%s': it "
		       "is %s; --metrics takes a regular file (it is "
		       "replaced once a second)", path, file_kind(&st));
	fs_check_output_path(path);
}

/*
 * Write the whole exposition to PATH.tmp and rename it over PATH.
 * Returns 0, or -1 with errno set.
 */
static int metrics_write(struct fs_metrics *m)
{
	FILE *f;
	size_t i;
	int e, fd;

	if (metrics_target_ok(m->path) < 0)
		return -1;
	fd = open(m->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
		  O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (!(f = fdopen(fd, "w"))) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	for (i = 0; i < m->n; i++)
		put_metric(f, &m->m[i]);
	fs_kafka_metrics(f);
	if (ferror(f)) {
		e = errno;
		fclose(f);
		unlink(m->tmp);
		errno = e ? e : EIO;
		return -1;
	}
	if (fclose(f) != 0 || rename(m->tmp, m->path) != 0) {
		e = errno;
		unlink(m->tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static struct fs_metrics *open_metrics;	/* for fs_metrics_last */

/* Write now; a failure after the first write is reported once. */
static void metrics_flush(struct fs_metrics *m)
{
	m->last = fs_mono_ns();
	if (metrics_write(m) < 0 && !m->warned) {
		m->warned = 1;
		fs_warn("cannot write metrics '%s': %s", m->path,
			strerror(errno));
	}
}

/* Open: the first (empty) file is written now so a bad path fails early. */
struct fs_metrics *fs_metrics_open(const char *path)
{
	struct fs_metrics *m;
	size_t n;

	if (!path)
		return NULL;
	metrics_claim(path);
	m = fs_xcalloc(1, sizeof(*m));
	m->path = fs_xstrdup(path);
	n = strlen(path) + 5;
	m->tmp = fs_xmalloc(n);
	snprintf(m->tmp, n, "%s.tmp", path);
	if (metrics_write(m) < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot write metrics '%s'", path);
	m->last = fs_mono_ns();
	open_metrics = m;
	return m;
}

void fs_metrics_idle(void)
{
	struct fs_metrics *m = open_metrics;

	if (m && fs_mono_ns() - m->last >= METRICS_PERIOD)
		metrics_flush(m);
}

void fs_metrics_last(void)
{
	if (open_metrics)
		metrics_flush(open_metrics);
}

static void metrics_add(struct fs_metrics *m, int kind, const char *name,
			const char *help, const void *p)
{
	struct metric *x;

	if (!m)
		return;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->m = fs_xrealloc(m->m, m->cap * sizeof(*m->m));
	}
	x = &m->m[m->n++];
	x->kind = kind;
	x->name = metric_name(name);
	x->help = fs_xstrdup(help ? help : "");
	x->p = p;
}

void fs_metrics_counter(struct fs_metrics *m, const char *name,
			const char *help, const uint64_t *v)
{
	metrics_add(m, M_COUNTER, name, help, v);
}

void fs_metrics_gauge(struct fs_metrics *m, const char *name,
		      const char *help, const double *v)
{
	metrics_add(m, M_GAUGE, name, help, v);
}

void fs_metrics_summary(struct fs_metrics *m, const char *name,
			const char *help, const struct fs_hist *h)
{
	metrics_add(m, M_SUMMARY, name, help, h);
}

void fs_metrics_tick(struct fs_metrics *m)
{
	if (!m || ++m->ticks % METRICS_EVERY)
		return;
	if (fs_mono_ns() - m->last >= METRICS_PERIOD)
		metrics_flush(m);
}

void fs_metrics_close(struct fs_metrics *m)
{
	size_t i;

	if (!m)
		return;
	metrics_flush(m);
	if (open_metrics == m)
		open_metrics = NULL;
	for (i = 0; i < m->n; i++) {
		free(m->m[i].name);
		free(m->m[i].help);
	}
	free(m->m);
	free(m->path);
	free(m->tmp);
	free(m);
}

/* ---- progress line ---- */

static int progress_on = -1;	/* -1: not decided yet */
static int progress_shown;
static unsigned progress_calls;
static int64_t progress_last;

/*
 * Whether to draw at all: stderr is a TTY, or FS_PROGRESS=1 forces it
 * (FS_PROGRESS=0 turns it off).
 */
static int progress_enabled(void)
{
	const char *env;

	if (progress_on < 0) {
		env = getenv("FS_PROGRESS");
		if (env && *env)
			progress_on = strcmp(env, "0") != 0;
		else
			progress_on = isatty(2);
		progress_last = fs_mono_ns();
	}
	return progress_on;
}

int fs_progress_due(void)
{
	int64_t now;

	if (++progress_calls % PROGRESS_EVERY || !progress_enabled())
		return 0;
	now = fs_mono_ns();
	if (now - progress_last < PROGRESS_PERIOD)
		return 0;
	progress_last = now;
	return 1;
}

/* Best-effort write to stderr; a failed progress line is not an error. */
static void write_err(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(2, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void fs_progress(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (!progress_enabled())
		return;
	buf[0] = '\r';
	va_start(ap, fmt);
	n = vsnprintf(buf + 1, sizeof(buf) - 4, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 5)
		n = (int)sizeof(buf) - 5;
	memcpy(buf + 1 + n, "\033[K", 3);
	write_err(buf, (size_t)n + 4);
	progress_shown = 1;
}

void fs_progress_done(void)
{
	if (!progress_shown)
		return;
	write_err("\r\033[K", 4);
	progress_shown = 0;
}
