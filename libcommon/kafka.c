/*
 * kafka.c - kafka:// endpoints: librdkafka wrapped once, behind the
 * frame reader and writer of io.c (finstream(7), Endpoints).
 *
 *   kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?group=G&partition=P&
 *	offset=beginning|end|N|@TIME]
 *
 * A message is one frame: value = the frame without its len field,
 * key = the record key as 8 bytes little-endian, timestamp = ts_event
 * in milliseconds.  A consumer rebuilds each frame (len + value) in its
 * own aligned buffer; a producer sends each frame as one message
 * (idempotent, keyed by the murmur2 partitioner as Java clients are;
 * control records go to every partition, so each consumer of a
 * partition sees the SCHEMA and WATERMARK records).
 *
 * Consumers use rd_kafka_consumer_poll only (librdkafka 2.0's batch
 * calls can lose or repeat messages around a rebalance or a seek).
 * With group=G they join the group; offsets are committed by hand, at
 * least once: a record's offset is committed only after the tool asked
 * for the next one and every open writer was flushed (delivered).
 */
#include <errno.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define CONNECT_DEFAULT (10 * 1000000000LL)
#define COMMIT_PERIOD 1000000000LL	/* ns between commits */
#define POLL_SLICE 100			/* ms: fs_stop is seen this soon */

/* -X, -F, -e, --connect-timeout: what every tool takes. */
static struct {
	char **prop;		/* name, value, name, value ... */
	size_t nprop, cap;
	int exit_at_end;
	int64_t connect_ns;
} opt = { .connect_ns = CONNECT_DEFAULT };

struct kpart {
	int assigned;
	int eof;
	int64_t next;		/* offset after the last handed out; -1 */
	int64_t done;		/* offset after the last finished; -1 */
	int64_t wm;		/* its last WATERMARK; INT64_MIN: none */
	int64_t target;		/* replay: the pending checkpoint's offset */
	int cut;		/* replay: target reached, paused */
	int ended;		/* bounded input: this partition is done */
	int64_t stop_at;	/* bounded: its high watermark at the start */
	double lag;
};

struct fs_kafka {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;	/* producer */
	int output;
	char *brokers, *topic, *group;
	int32_t partition;	/* -1: all (by key when producing) */
	int32_t *psel;		/* input partition=SET: the partitions */
	int npsel;		/* their number; 0: one (partition) or all */
	int64_t start;		/* RD_KAFKA_OFFSET_* or an offset */
	int64_t start_time;	/* offset=@TIME, ns; or INT64_MIN */
	char uri[256];
	/* consumer */
	struct kpart *part;
	int32_t npart;
	int32_t ntopic;		/* partitions of the topic */
	rd_kafka_message_t *held;	/* handed out, not yet finished */
	char *buf;
	size_t cap;
	int64_t next_commit;
	int assigned;		/* partitions assigned now */
	int last_read_err;	/* the last error said, not to repeat it */
	int64_t wm_out;		/* the last WATERMARK handed out */
	unsigned reads;		/* calls of fs_kafka_read */
	int replaying;		/* up to the pending checkpoint's offsets */
	int reassign;		/* replay over: fetch on from the targets */
	size_t wm_len;		/* the last WATERMARK frame, for */
	char wm_frame[64];	/* emit_watermark */
	int32_t neof;		/* assigned partitions at their end */
	int bounded;		/* fs_kafka_bound was called */
	int64_t to_ns;		/* its event-time bound; INT64_MAX: none */
	int32_t nended;		/* partitions ended by the bound */
	char *src;		/* a checkpointed source's name in the store */
	/* producer */
	int32_t nparts_out;	/* partitions of the topic, for control */
	/* the pipeline's transactional sink (--state; finstream(7)) */
	int txn;		/* transactional: one transaction a checkpoint */
	char *txn_id;		/* transactional.id, the sink's name */
	uint64_t gen;		/* this instance's generation (start, ns) */
	uint64_t txn_seq;	/* its transactions, from 1 */
	int64_t skip_to;	/* > 0: output up to this barrier is in */
	char hdr[48];		/* fs-checkpoint header value "GEN.SEQ" */
	int dr_failed;
	char dr_err[256];
	char last_err[256];
};

static struct fs_kafka *metrics_k;	/* consumer shown in --metrics */
#define PRODUCERS_MAX 16
static struct fs_kafka *producers[PRODUCERS_MAX];	/* open outputs */
static int dying;	/* failing: the other writers are being flushed */

/* End the tool (exit 1) after flushing the other writers. */
static void fail(struct fs_kafka *k, const char *why)
{
	if (dying)
		return;
	dying = 1;
	fs_writers_flush_all();
	fs_die(FS_EXIT_FAIL, "cannot write to Kafka topic '%s' on '%s': %s",
	       k->topic, k->brokers, why);
}

/* ---- options ---- */

static void prop_add(const char *name, size_t n, const char *value)
{
	if (opt.nprop + 2 > opt.cap) {
		opt.cap = opt.cap ? 2 * opt.cap : 16;
		opt.prop = fs_xrealloc(opt.prop, opt.cap * sizeof(char *));
	}
	opt.prop[opt.nprop] = fs_xmalloc(n + 1);
	memcpy(opt.prop[opt.nprop], name, n);
	opt.prop[opt.nprop][n] = 0;
	opt.prop[opt.nprop + 1] = fs_xstrdup(value);
	opt.nprop += 2;
}

/* "name=value" from -X or a line of -F FILE; where names the origin. */
static void prop_line(const char *s, const char *where)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s)
		fs_usage_error("bad %s '%s': want PROPERTY=VALUE", where, s);
	prop_add(s, (size_t)(eq - s), eq + 1);
}

/* -F FILE: lines of name=value; blank lines and # comments skipped. */
static void prop_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];

	if (!f)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", path);
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e = line + strlen(line);

		while (e > s && (e[-1] == '\n' || e[-1] == '\r' ||
				 e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s && *s != '#')
			prop_line(s, "line in -F file");
	}
	if (ferror(f))
		fs_die_errno(FS_EXIT_FAIL, "cannot read '%s'", path);
	fclose(f);
}

int fs_kafka_opt(int c, const char *arg)
{
	switch (c) {
	case 'X': prop_line(arg, "-X"); return 1;
	case 'F': prop_file(arg); return 1;
	case 'e': case FS_OPT_EXIT_AT_END: opt.exit_at_end = 1; return 1;
	case FS_OPT_CONNECT_TIMEOUT:
		opt.connect_ns = fs_opt_duration("--connect-timeout", arg,
						 (size_t)-1, 1, INT64_MAX);
		return 1;
	}
	return 0;
}

void fs_kafka_usage(FILE *f, int input)
{
	fprintf(f, "Kafka (kafka://HOST:PORT/TOPIC URIs, finstream(7)):\n"
"  -X PROP=VALUE         set a librdkafka property (repeatable)\n"
"  -F FILE               read librdkafka properties from FILE\n"
"      --connect-timeout DURATION\n"
"                        give up reaching the brokers after DURATION "
"(10s)\n");
	if (input)
		fprintf(f, "  -e, --exit-at-end     stop at the end of the "
			"partitions read\n");
}

/* ---- URI ---- */

int fs_is_kafka(const char *uri)
{
	return strncmp(uri, "kafka://", 8) == 0;
}

static int topic_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 249)
		return 0;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		      (*t >= '0' && *t <= '9') || *t == '.' || *t == '_' ||
		      *t == '-'))
			return 0;
	return 1;
}

/* offset=VALUE into k->start / k->start_time. */
static void parse_offset(struct fs_kafka *k, const char *v)
{
	int64_t n;

	if (strcmp(v, "beginning") == 0)
		k->start = RD_KAFKA_OFFSET_BEGINNING;
	else if (strcmp(v, "end") == 0)
		k->start = RD_KAFKA_OFFSET_END;
	else if (v[0] == '@' && fs_parse_time(v + 1, (size_t)-1, &n) == 0)
		k->start_time = n;
	else if (fs_parse_i64(v, (size_t)-1, 0, INT64_MAX, &n) == 0)
		k->start = n;
	else
		fs_usage_error("bad offset '%s' in '%s': want beginning, end, "
			       "an offset or @TIME", v, k->uri);
}

/*
 * partition=P for an output; P, or a set such as 0-3,6 for an input
 * (exactly-once scale-out assigns each instance a static set).  The set
 * is kept in ascending order without repeats.
 */
static void parse_partitions(struct fs_kafka *k, const char *v)
{
	char *s = fs_xstrdup(v), *tok, *save = NULL;
	int64_t a, b;

	k->npsel = 0;
	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');

		if (dash)
			*dash = 0;
		if (fs_parse_i64(tok, (size_t)-1, 0, INT32_MAX, &a) < 0 ||
		    (dash && fs_parse_i64(dash + 1, (size_t)-1, a, a + 65535,
					  &b) < 0)) {
			free(s);
			fs_usage_error("bad partition '%s' in '%s': want %s",
				       v, k->uri, k->output ? "a number from 0"
				       : "numbers from 0 and ranges such as "
				       "0-3,6");
		}
		if (!dash)
			b = a;
		for (int64_t i = a; i <= b; i++) {
			int j = k->npsel;

			while (j > 0 && k->psel[j - 1] > i)
				j--;
			if (j > 0 && k->psel[j - 1] == i)
				continue;
			k->psel = fs_xrealloc(k->psel, (size_t)(k->npsel + 1) *
					      sizeof(*k->psel));
			memmove(k->psel + j + 1, k->psel + j,
				(size_t)(k->npsel - j) * sizeof(*k->psel));
			k->psel[j] = (int32_t)i;
			k->npsel++;
		}
	}
	free(s);
	if (k->npsel == 0 || (k->output && k->npsel > 1))
		fs_usage_error("bad partition '%s' in '%s': want %s", v, k->uri,
			       k->output ? "one partition for an output" :
			       "numbers from 0 and ranges such as 0-3,6");
	k->partition = k->npsel == 1 ? k->psel[0] : -2;
	if (k->npsel == 1) {
		free(k->psel);
		k->psel = NULL;
		k->npsel = 0;
	}
}

/* Whether an input reads partition i of a topic of n. */
static int selected(const struct fs_kafka *k, int32_t i)
{
	if (k->npsel) {
		for (int j = 0; j < k->npsel; j++)
			if (k->psel[j] == i)
				return 1;
		return 0;
	}
	return k->partition < 0 || k->partition == i;
}

/* One name=value of the query. */
static void parse_param(struct fs_kafka *k, char *p)
{
	char *v = strchr(p, '=');

	if (!v || !v[1])
		fs_usage_error("bad parameter '%s' in '%s': want NAME=VALUE",
			       p, k->uri);
	*v++ = 0;
	if (strcmp(p, "group") == 0 && !k->output) {
		free(k->group);
		k->group = fs_xstrdup(v);
	} else if (strcmp(p, "partition") == 0) {
		parse_partitions(k, v);
	} else if (strcmp(p, "offset") == 0 && !k->output) {
		parse_offset(k, v);
	} else {
		fs_usage_error("unknown parameter '%s' in %s URI '%s': want %s",
			       p, k->output ? "an output" : "an input", k->uri,
			       k->output ? "partition" :
			       "group, partition or offset");
	}
}

/* Split kafka://BROKERS/TOPIC?QUERY; a malformed URI is exit 2. */
static void parse_uri(struct fs_kafka *k, const char *uri)
{
	char *s = fs_xstrdup(uri + 8), *slash, *q, *p, *amp;

	snprintf(k->uri, sizeof(k->uri), "%s", uri);
	k->partition = -1;
	k->start = RD_KAFKA_OFFSET_BEGINNING;
	k->start_time = INT64_MIN;
	slash = strchr(s, '/');
	if (!slash || slash == s) {
		free(s);
		fs_usage_error("bad Kafka URI '%s': want kafka://HOST:PORT"
			       "[,HOST:PORT]/TOPIC[?PARAMS]", uri);
	}
	*slash = 0;
	q = strchr(slash + 1, '?');
	if (q)
		*q++ = 0;
	if (!topic_ok(slash + 1)) {
		free(s);
		fs_usage_error("bad Kafka URI '%s': the topic is 1 to 249 of "
			       "a-z A-Z 0-9 . _ -", uri);
	}
	k->brokers = fs_xstrdup(s);
	k->topic = fs_xstrdup(slash + 1);
	for (p = q; p && *p; p = amp) {
		amp = strchr(p, '&');
		if (amp)
			*amp++ = 0;
		parse_param(k, p);
	}
	free(s);
	if (k->group && (k->partition != -1 || k->start_time != INT64_MIN ||
			 k->start >= 0))
		fs_usage_error("bad Kafka URI '%s': group= takes offset="
			       "beginning or end only, and no partition=",
			       uri);
}

/* ---- setting up ---- */

static void on_error(rd_kafka_t *rk, int err, const char *reason,
		     void *opaque)
{
	struct fs_kafka *k = opaque;

	(void)rk;
	snprintf(k->last_err, sizeof(k->last_err), "%s", reason);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[256];

		rd_kafka_fatal_error(k->rk, why, sizeof(why));
		if (k->output)
			fail(k, why);
		else
			fs_die(FS_EXIT_FAIL, "cannot read '%s': %s", k->uri,
			       why);
	}
}

/* librdkafka's own log: only errors, or everything with -X debug=... */
static void on_log(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	(void)rk;
	if (level <= 2)
		fs_warn("kafka: %s: %s", fac, buf);
	else if (level == 7)
		fprintf(stderr, "%s: kafka debug: %s: %s\n", fs_progname, fac,
			buf);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			void *opaque)
{
	struct fs_kafka *k = opaque;

	(void)rk;
	if (m->err && !k->dr_failed++)
		snprintf(k->dr_err, sizeof(k->dr_err), "%s (partition %d)",
			 rd_kafka_err2str(m->err), (int)m->partition);
}

static void conf_set(rd_kafka_conf_t *c, const char *name,
		     const char *value)
{
	char err[256];

	if (rd_kafka_conf_set(c, name, value, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK)
		fs_usage_error("bad Kafka property %s=%s: %s", name, value,
			       err);
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *parts, void *opaque);

/*
 * A transactional sink's transaction.timeout.ms (and message.timeout.ms,
 * which must not exceed it): above the checkpoint interval, whose
 * records one transaction holds, with a minute to spare, and at most 15
 * minutes, the brokers' usual transaction.max.timeout.ms.
 */
static long long txn_timeout_ms(void)
{
	long long ms = fs_pipeline_interval() / 1000000 * 2 + 60000;

	return ms > 900000 ? 900000 : ms;
}

/* The configuration: ours for throughput, then -F and -X in order. */
static rd_kafka_conf_t *make_conf(struct fs_kafka *k)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();

	rd_kafka_conf_set_opaque(c, k);
	rd_kafka_conf_set_error_cb(c, on_error);
	rd_kafka_conf_set_log_cb(c, on_log);
	conf_set(c, "bootstrap.servers", k->brokers);
	conf_set(c, "client.id", fs_progname);
	/* a broker back after an outage is used within a second (10 s) */
	conf_set(c, "reconnect.backoff.max.ms", "1000");
	if (k->output) {
		conf_set(c, "enable.idempotence", "true");
		conf_set(c, "partitioner", "murmur2_random");
		conf_set(c, "linger.ms", "5");
		conf_set(c, "batch.num.messages", "100000");
		conf_set(c, "batch.size", "1000000");
		conf_set(c, "queue.buffering.max.messages", "1000000");
		conf_set(c, "compression.codec", "lz4");
		rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
		if (k->txn) {
			char ms[32];

			conf_set(c, "transactional.id", k->txn_id);
			snprintf(ms, sizeof(ms), "%lld", txn_timeout_ms());
			conf_set(c, "transaction.timeout.ms", ms);
			conf_set(c, "message.timeout.ms", ms);
		}
	} else {
		conf_set(c, "enable.partition.eof", "true");
		conf_set(c, "enable.auto.commit", "false");
		conf_set(c, "enable.auto.offset.store", "false");
		conf_set(c, "auto.offset.reset",
			 k->start == RD_KAFKA_OFFSET_END ? "latest"
							 : "earliest");
		conf_set(c, "fetch.wait.max.ms", "100");
		conf_set(c, "queued.min.messages", "100000");
		/* Without group=, a group.id that never joins (assign) */
		conf_set(c, "group.id", k->group ? k->group : "fs-assign");
		if (k->group)
			rd_kafka_conf_set_rebalance_cb(c, rebalance);
	}
	for (size_t i = 0; i < opt.nprop; i += 2)
		conf_set(c, opt.prop[i], opt.prop[i + 1]);
	return c;
}

/*
 * Ask for the topic's metadata until the brokers answer, for at most
 * --connect-timeout (librdkafka reconnects with backoff meanwhile).
 * Returns the partition count; exit 4 when no broker answered or the
 * topic does not exist, exit 0 on SIGTERM while waiting.
 */
static int32_t connect_topic(struct fs_kafka *k)
{
	int64_t end = fs_mono_ns() + opt.connect_ns;
	rd_kafka_topic_t *t = rd_kafka_topic_new(k->rk, k->topic, NULL);
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TRANSPORT;
	int32_t n = -1;

	for (;;) {
		const struct rd_kafka_metadata *md;
		int64_t left = (end - fs_mono_ns()) / 1000000;

		if (fs_stop) {
			rd_kafka_topic_destroy(t);
			exit(FS_EXIT_OK);
		}
		if (left <= 0)
			break;
		err = rd_kafka_metadata(k->rk, 0, t, &md,
					left < 500 ? (int)left : 500);
		rd_kafka_poll(k->rk, 0);
		if (!err) {
			err = md->topic_cnt ? md->topics[0].err :
			      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
			if (!err)
				n = md->topics[0].partition_cnt;
			rd_kafka_metadata_destroy(md);
			if (n > 0)
				break;
			if (err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
			    err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
				break;
		}
		if (err == RD_KAFKA_RESP_ERR__TRANSPORT ||
		    err == RD_KAFKA_RESP_ERR__TIMED_OUT)
			(void)fs_sleep_until(fs_mono_ns() + 100000000LL);
	}
	rd_kafka_topic_destroy(t);
	if (n > 0)
		return n;
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	    err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		fs_die(FS_EXIT_UNAVAIL, "cannot reach Kafka brokers '%s': %s",
		       k->brokers, k->last_err[0] ? k->last_err :
		       rd_kafka_err2str(err));
	fs_die(FS_EXIT_UNAVAIL, "cannot use Kafka topic '%s' on '%s': %s",
	       k->topic, k->brokers, rd_kafka_err2str(err));
}

static void set_txn_id(struct fs_kafka *k);

static struct fs_kafka *kafka_new(const char *uri, int output, int txn)
{
	struct fs_kafka *k = fs_xcalloc(1, sizeof(*k));
	char err[512];
	rd_kafka_conf_t *c;

	k->output = output;
	k->txn = txn;
	parse_uri(k, uri);
	if (txn)
		set_txn_id(k);
	c = make_conf(k);
	k->rk = rd_kafka_new(output ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER,
			     c, err, sizeof(err));
	if (!k->rk)
		fs_usage_error("cannot set up Kafka '%s': %s", uri, err);
	return k;
}

/* ---- consumer ---- */

static struct kpart *part_at(struct fs_kafka *k, int32_t p)
{
	if (p >= k->npart) {
		int32_t n = p + 1;

		k->part = fs_xrealloc(k->part, (size_t)n * sizeof(*k->part));
		for (int32_t i = k->npart; i < n; i++)
			k->part[i] = (struct kpart){ .next = -1, .done = -1,
						     .wm = INT64_MIN };
		k->npart = n;
	}
	return &k->part[p];
}

/*
 * Commit the finished offsets of the assigned partitions (only = -1) or
 * of partition only, after flushing every writer so that what those
 * records made has been delivered.  sync: wait for the broker.
 */
static void commit(struct fs_kafka *k, int sync)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;

	k->next_commit = fs_mono_ns() + COMMIT_PERIOD;
	if (!k->group || k->src)	/* a source commits checkpoints */
		return;
	l = rd_kafka_topic_partition_list_new(k->npart ? k->npart : 1);
	for (int32_t i = 0; i < k->npart; i++)
		if (k->part[i].assigned && k->part[i].done >= 0)
			rd_kafka_topic_partition_list_add(l, k->topic, i)
				->offset = k->part[i].done;
	if (l->cnt && fs_writers_sync() == 0) {
		err = rd_kafka_commit(k->rk, l, !sync);
		if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
			fs_warn("cannot commit offsets of '%s': %s", k->uri,
				rd_kafka_err2str(err));
	}
	rd_kafka_topic_partition_list_destroy(l);
}

static void note_assign(struct fs_kafka *k,
			const rd_kafka_topic_partition_list_t *parts, int on)
{
	for (int i = 0; i < parts->cnt; i++) {
		struct kpart *p = part_at(k, parts->elems[i].partition);

		if (p->assigned != on)
			k->assigned += on ? 1 : -1;
		if (p->eof && p->assigned)
			k->neof--;
		p->assigned = on;
		p->eof = 0;
		p->next = p->done = -1;
		p->wm = INT64_MIN;
	}
}

/*
 * A replay to the cut of the checkpoint after the restored one: when
 * the store has the positions of a pending checkpoint n + 1 for every
 * partition of l (it was begun before the failure), the source hands out
 * exactly the records before them, partition by partition, then BARRIER
 * n + 1, then the rest: the replayed epoch n + 1 is the one the sink may
 * have committed already (a Kafka transaction cannot be taken back), so
 * it must come out the same (txn_open).  Static assignments only.
 */
static void replay_targets(struct fs_kafka *k,
			   const rd_kafka_topic_partition_list_t *l)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	int64_t n = fs_pipeline_restored() + 1, t;

	for (int i = 0; i < l->cnt; i++)
		if (fs_ckpt_get_position(c, n, k->src, l->elems[i].partition,
					 &t) < 0 || t < l->elems[i].offset)
			return;
	for (int i = 0; i < l->cnt; i++) {
		struct kpart *p = part_at(k, l->elems[i].partition);

		fs_ckpt_get_position(c, n, k->src, l->elems[i].partition,
				     &p->target);
		p->cut = p->next >= p->target;
	}
	k->replaying = l->cnt > 0;
}

/* No more fetches of partition part until it is resumed. */
static void pause_part(struct fs_kafka *k, int32_t part)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, k->topic, part);
	(void)rd_kafka_pause_partitions(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Partition p has reached its replay target: stop fetching it. */
static void replay_done(struct fs_kafka *k, struct kpart *p, int32_t part)
{
	if (p->cut)
		return;
	p->cut = 1;
	p->next = p->target;
	pause_part(k, part);
}

/* Whether every assigned partition reached its target: the cut. */
static int replay_cut(struct fs_kafka *k)
{
	for (int32_t i = 0; i < k->npart; i++)
		if (k->part[i].assigned && !k->part[i].cut)
			return 0;
	k->replaying = 0;
	k->reassign = 1;
	return 1;
}

/* After the cut: every partition fetched on from where it stopped. */
static void replay_resume(struct fs_kafka *k)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(k->npart ? k->npart : 1);

	k->reassign = 0;
	for (int32_t i = 0; i < k->npart; i++)
		if (k->part[i].assigned)
			rd_kafka_topic_partition_list_add(l, k->topic, i)
				->offset = k->part[i].next;
	/* a pause outlives an assignment: resume them first */
	(void)rd_kafka_resume_partitions(k->rk, l);
	rd_kafka_assign(k->rk, NULL);
	rd_kafka_assign(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
}

int fs_kafka_replaying(const struct fs_kafka *k)
{
	return k->replaying;
}

/*
 * A checkpointed source's start in each partition of l: the position
 * the restored checkpoint recorded, else a concrete offset for where
 * the URI (or, in a group, the committed offset) says to start, so
 * that every barrier can record a position for every partition, read
 * from or not.  Sets each partition's next offset.
 */
static void source_starts(struct fs_kafka *k,
			  rd_kafka_topic_partition_list_t *l)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	int64_t n = fs_pipeline_restored(), pos, lo, hi;
	int ms = (int)(opt.connect_ns / 1000000);

	if (k->group && rd_kafka_committed(k->rk, l, ms))
		for (int i = 0; i < l->cnt; i++)
			l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
	for (int i = 0; i < l->cnt; i++) {
		rd_kafka_topic_partition_t *e = &l->elems[i];
		int64_t start = e->offset;

		if (n > 0 && fs_ckpt_get_position(c, n, k->src, e->partition,
						  &pos) == 0)
			start = pos;
		else if (start < 0) {
			rd_kafka_resp_err_t err =
				rd_kafka_query_watermark_offsets(
					k->rk, k->topic, e->partition, &lo, &hi,
					ms);

			if (err)
				fs_die(FS_EXIT_UNAVAIL, "cannot read the offsets "
				       "of partition %d of '%s': %s",
				       (int)e->partition, k->uri,
				       rd_kafka_err2str(err));
			start = (start == RD_KAFKA_OFFSET_END ||
				 (start != RD_KAFKA_OFFSET_BEGINNING &&
				  k->start == RD_KAFKA_OFFSET_END)) ? hi : lo;
		}
		e->offset = start;
		part_at(k, e->partition)->next = start;
	}
	if (!k->group)
		replay_targets(k, l);
}

const char *fs_kafka_source_name(const struct fs_kafka *k)
{
	return k->src;
}

int32_t fs_kafka_topic_partitions(const struct fs_kafka *k)
{
	return k->ntopic;
}

int32_t fs_key_group(uint64_t key, int32_t n)
{
	/* the partitioner reads only the key and n */
	return rd_kafka_msg_partitioner_murmur2(NULL, &key, sizeof(key), n,
						 NULL, NULL);
}

void fs_kafka_put_positions(struct fs_kafka *k, int64_t id)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	int64_t done = fs_ckpt_latest(c), pos;
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(k->npart ? k->npart : 1);

	int64_t *part = fs_xmalloc(((size_t)k->npart + 1) * sizeof(*part));
	int64_t *at = fs_xmalloc(((size_t)k->npart + 1) * sizeof(*at));
	size_t n = 0;

	for (int32_t i = 0; i < k->npart; i++)
		if (k->part[i].assigned && k->part[i].next >= 0) {
			part[n] = i;
			at[n++] = k->part[i].next;
		}
	fs_ckpt_put_positions(c, id, k->src, n, part, at);	/* all or none */
	free(part);
	free(at);
	for (int32_t i = 0; i < k->npart; i++) {
		if (!k->part[i].assigned || k->part[i].next < 0)
			continue;
		/* the group's offsets follow the complete checkpoints */
		if (k->group && done > 0 &&
		    fs_ckpt_get_position(c, done, k->src, i, &pos) == 0)
			rd_kafka_topic_partition_list_add(l, k->topic, i)
				->offset = pos;
	}
	if (l->cnt)
		(void)rd_kafka_commit(k->rk, l, 1);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Group rebalance: commit before letting partitions go. */
static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct fs_kafka *k = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		note_assign(k, parts, 1);
		if (k->src)
			source_starts(k, parts);
		rd_kafka_assign(rk, parts);
		return;
	}
	commit(k, 1);
	note_assign(k, parts, 0);
	rd_kafka_assign(rk, NULL);
}

/*
 * The timestamp of the message at offset off of partition p, or of the
 * first after it; INT64_MAX when there is none before hi.  Used by the
 * offset=@TIME search where offsets_for_times gives no answer.
 */
static int64_t ts_at(struct fs_kafka *k, int32_t p, int64_t off, int64_t hi)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	int64_t ts = INT64_MAX, end = fs_mono_ns() + opt.connect_ns;

	rd_kafka_topic_partition_list_add(l, k->topic, p)->offset = off;
	rd_kafka_assign(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	while (!fs_stop && fs_mono_ns() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 100);

		if (!m)
			continue;
		if (m->partition == p && m->offset >= off &&
		    (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
			if (!m->err)
				ts = rd_kafka_message_timestamp(m, NULL);
			rd_kafka_message_destroy(m);
			break;
		}
		rd_kafka_message_destroy(m);
		if (off >= hi)
			break;
	}
	rd_kafka_assign(k->rk, NULL);
	return ts;
}

/* First offset of p whose timestamp is >= ms, by bisection. */
static int64_t search_time(struct fs_kafka *k, int32_t p, int64_t ms)
{
	int64_t lo, hi;

	if (rd_kafka_query_watermark_offsets(k->rk, k->topic, p, &lo, &hi,
					     (int)(opt.connect_ns / 1000000)))
		return RD_KAFKA_OFFSET_END;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;

		if (ts_at(k, p, mid, hi) < ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Start offsets for offset=@TIME: offsets_for_times, and a search over
 * the message timestamps for each partition it gives no offset for
 * (librdkafka's mock cluster answers -1 for all).
 */
static void times_to_offsets(struct fs_kafka *k,
			     rd_kafka_topic_partition_list_t *l)
{
	int64_t ms = k->start_time / 1000000;

	for (int i = 0; i < l->cnt; i++)
		l->elems[i].offset = ms;
	if (rd_kafka_offsets_for_times(k->rk, l,
				       (int)(opt.connect_ns / 1000000)))
		for (int i = 0; i < l->cnt; i++)
			l->elems[i].offset = -1;
	for (int i = 0; i < l->cnt; i++)
		if (l->elems[i].offset < 0 || l->elems[i].err)
			l->elems[i].offset = search_time(k, l->elems[i].
							 partition, ms);
}

/*
 * The partitions of l that start at their end (empty ones, offset=end)
 * are at their end from the start: -e need not wait for librdkafka to
 * say so, and they hold no WATERMARK back (min_watermark).
 */
static void known_ends(struct fs_kafka *k, rd_kafka_topic_partition_list_t *l)
{
	for (int i = 0; i < l->cnt; i++) {
		int64_t lo, hi, at = l->elems[i].offset;
		struct kpart *p = part_at(k, l->elems[i].partition);

		if (rd_kafka_query_watermark_offsets(k->rk, k->topic,
						     l->elems[i].partition,
						     &lo, &hi, 2000))
			continue;
		if (at == RD_KAFKA_OFFSET_BEGINNING)
			at = lo;
		else if (at == RD_KAFKA_OFFSET_END)
			at = hi;
		if (at >= hi && !p->eof) {
			p->eof = 1;
			k->neof += p->assigned;
		}
	}
}

/* Without a group: assign every partition (or partition=SET). */
static void assign_all(struct fs_kafka *k, int32_t n)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(n);

	int32_t top = k->npsel ? k->psel[k->npsel - 1] : k->partition;

	if (top >= n)
		fs_die(FS_EXIT_USAGE, "bad partition %d in '%s': topic '%s' "
		       "has %d", (int)top, k->uri, k->topic, (int)n);
	for (int32_t i = 0; i < n; i++)
		if (selected(k, i))
			rd_kafka_topic_partition_list_add(l, k->topic, i)
				->offset = k->start;
	if (k->start_time != INT64_MIN)
		times_to_offsets(k, l);
	note_assign(k, l, 1);
	if (k->src)
		source_starts(k, l);
	known_ends(k, l);
	rd_kafka_assign(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	/* a replay's partitions cut from the start wait for the cut */
	for (int32_t i = 0; k->replaying && i < k->npart; i++)
		if (k->part[i].assigned && k->part[i].cut)
			pause_part(k, i);
}

struct fs_kafka *fs_kafka_reader(const char *uri)
{
	struct fs_kafka *k = kafka_new(uri, 0, 0);
	int32_t n;
	rd_kafka_resp_err_t err;

	if (fs_pipeline_ckpt()) {
		size_t len = strlen(k->topic) + 7;

		k->src = fs_xmalloc(len);
		snprintf(k->src, len, "kafka:%s", k->topic);
	}
	n = k->ntopic = connect_topic(k);
	part_at(k, n - 1);
	rd_kafka_poll_set_consumer(k->rk);
	if (k->group) {
		rd_kafka_topic_partition_list_t *l =
			rd_kafka_topic_partition_list_new(1);

		rd_kafka_topic_partition_list_add(l, k->topic,
						  RD_KAFKA_PARTITION_UA);
		err = rd_kafka_subscribe(k->rk, l);
		rd_kafka_topic_partition_list_destroy(l);
		if (err)
			fs_die(FS_EXIT_UNAVAIL, "cannot join group '%s' on "
			       "'%s': %s", k->group, k->brokers,
			       rd_kafka_err2str(err));
	} else {
		assign_all(k, n);
	}
	k->wm_out = INT64_MIN;
	k->cap = 1 << 16;
	if (posix_memalign((void **)&k->buf, 64, k->cap))
		fs_die(FS_EXIT_FAIL, "out of memory");
	k->next_commit = fs_mono_ns() + COMMIT_PERIOD;
	metrics_k = k;
	return k;
}

/* The held message is finished: its offset may be committed. */
static void finish_held(struct fs_kafka *k)
{
	rd_kafka_message_t *m = k->held;

	if (!m)
		return;
	part_at(k, m->partition)->done = m->offset + 1;
	rd_kafka_message_destroy(m);
	k->held = NULL;
}

/*
 * Whether librdkafka's end of partition p at offset eof is this
 * reader's: nothing between what was handed out and eof is still to
 * come.  A replay drops the records of a partition past its cut and
 * fetches them again after the cut; the end it reached meanwhile is
 * not the end (taking it so lost those records when every partition
 * reached its end during the replay).
 */
static int reached_end(const struct kpart *p, int64_t eof)
{
	return p->next < 0 || eof <= p->next;
}

/* Whether -e's end is reached: every assigned partition at its end. */
static int all_eof(struct fs_kafka *k)
{
	if (k->bounded && k->assigned > 0 && k->nended >= k->assigned)
		return 1;
	return opt.exit_at_end && k->assigned > 0 && k->neof >= k->assigned;
}

/* A bounded input's partition part is done: no more fetches of it. */
static void end_part(struct fs_kafka *k, struct kpart *p, int32_t part)
{
	if (p->ended)
		return;
	p->ended = 1;
	k->nended += p->assigned;
	pause_part(k, part);
	/* no message or end of it comes now to cut it: it is cut here
	   (where the run that began the checkpoint ended it too) */
	if (k->replaying)
		p->cut = 1;
}

void fs_kafka_bound(struct fs_kafka *k, int at_end, int64_t to_ns)
{
	int ms = (int)(opt.connect_ns / 1000000);

	k->bounded = 1;
	k->to_ns = to_ns;
	for (int32_t i = 0; i < k->npart; i++) {
		struct kpart *p = &k->part[i];
		int64_t lo, hi;
		rd_kafka_resp_err_t err;

		p->stop_at = INT64_MAX;
		if (!p->assigned || !at_end)
			continue;
		err = rd_kafka_query_watermark_offsets(k->rk, k->topic, i,
						       &lo, &hi, ms);
		if (err)
			fs_die(FS_EXIT_UNAVAIL, "cannot read the offsets of "
			       "partition %d of '%s': %s", (int)i, k->uri,
			       rd_kafka_err2str(err));
		p->stop_at = hi;
		if (p->next >= hi || (p->next < 0 && p->eof))
			end_part(k, p, i);
	}
}

/*
 * Whether message m (its frame at *h) ends its partition under the
 * bound: a WATERMARK after the bound's time, or a data record after
 * it in a partition that has carried no WATERMARK.  Neither is handed
 * out nor counted as read (p->next stays), so a restart ends there
 * again.  A WATERMARK still moves the partition's watermark.
 */
static int past_bound(struct fs_kafka *k, struct kpart *p, int32_t part,
		      const struct fs_hdr *h)
{
	if (!k->bounded || h->ts_event <= k->to_ns || h->type == FS_T_COMMIT)
		return 0;
	if (h->type == FS_T_WATERMARK) {
		if (h->ts_event > p->wm)
			p->wm = h->ts_event;
	} else if (fs_is_control(h) || p->wm != INT64_MIN) {
		return 0;
	}
	end_part(k, p, part);
	return 1;
}

/* Rebuild the frame of message m in k->buf; -1 if m is not a frame. */
static int rebuild(struct fs_kafka *k, const rd_kafka_message_t *m,
		   const struct fs_hdr **h)
{
	const char *why = NULL;
	uint32_t len = (uint32_t)m->len;

	if (m->len < FS_HDR_SIZE - 4)
		why = "shorter than a frame header";
	else if (m->len > FS_FRAME_MAX)
		why = "over the 16 MiB frame limit";
	else if ((m->len + 4) % 8)
		why = "not a multiple of 8 with a length field";
	else if (((const uint8_t *)m->payload)[2] != FS_FORMAT_VERSION)
		why = "of an unknown format version";
	if (why) {
		fs_warn("bad input '%s': a message of %zu bytes is %s "
			"(partition %d, offset %lld)", k->uri, m->len, why,
			(int)m->partition, (long long)m->offset);
		return -1;
	}
	if (m->len + 4 > k->cap) {
		free(k->buf);
		k->cap = m->len + 4;
		if (posix_memalign((void **)&k->buf, 64, k->cap))
			fs_die(FS_EXIT_FAIL, "out of memory");
	}
	memcpy(k->buf, &len, 4);
	memcpy(k->buf + 4, m->payload, m->len);
	*h = (const struct fs_hdr *)k->buf;
	return 1;
}

/*
 * The input's watermark is the least of those of the partitions read
 * (a producer sends each WATERMARK to every partition), as Flink's
 * Kafka source takes it, so that one partition ahead of the others
 * makes none of their records late.  A partition that has sent none
 * holds it back until it is known to be at its end (empty or idle: it
 * does not count then).  INT64_MIN while held back.
 */
static int64_t min_watermark(const struct fs_kafka *k)
{
	int64_t min = INT64_MAX;

	for (int32_t i = 0; i < k->npart; i++) {
		const struct kpart *p = &k->part[i];

		if (!p->assigned || (p->wm == INT64_MIN && p->eof))
			continue;
		if (p->wm < min)
			min = p->wm;
	}
	return min == INT64_MAX ? INT64_MIN : min;
}

/*
 * Hand out the last WATERMARK frame seen, carrying the input's
 * watermark, when that has moved on: 1, with *h set; else 0.
 */
static int emit_watermark(struct fs_kafka *k, const struct fs_hdr **h)
{
	int64_t min = min_watermark(k);
	struct fs_hdr *f = (struct fs_hdr *)k->buf;

	if (!k->wm_len || min == INT64_MIN || min <= k->wm_out)
		return 0;
	k->wm_out = min;
	memcpy(k->buf, k->wm_frame, k->wm_len);
	f->ts_event = min;
	*h = f;
	return 1;
}

/* A WATERMARK frame (in k->buf) read from partition p. */
static int watermark(struct fs_kafka *k, struct kpart *p,
		     const struct fs_hdr **h)
{
	size_t n = fs_frame_size(*h);

	if ((*h)->ts_event > p->wm)
		p->wm = (*h)->ts_event;
	if (n <= sizeof(k->wm_frame)) {
		memcpy(k->wm_frame, *h, n);
		k->wm_len = n;
	}
	return emit_watermark(k, h);
}

int fs_kafka_read(struct fs_kafka *k, const struct fs_hdr **h,
		  int timeout_ms, struct fs_writer *flush_w)
{
	int64_t end = INT64_MAX;
	int flushed = 0;

	finish_held(k);
	if (k->replaying && replay_cut(k))
		return 3;
	if (k->reassign)
		replay_resume(k);
	/* the clock only every 1024 records, or when there is none */
	if ((++k->reads & 1023) == 0 && fs_mono_ns() >= k->next_commit)
		commit(k, 0);
	for (;;) {
		rd_kafka_message_t *m;
		int wait = 0;

		if (fs_stop || all_eof(k))
			return 0;
		if (k->replaying && replay_cut(k))
			return 3;
		if (flushed) {
			int64_t left = (end - fs_mono_ns()) / 1000000;

			if (left <= 0)
				return -2;
			wait = left < POLL_SLICE ? (int)left : POLL_SLICE;
		}
		m = rd_kafka_consumer_poll(k->rk, wait);
		if (!m) {
			if (!flushed) {
				if (flush_w)
					fs_writer_flush(flush_w);
				if (timeout_ms >= 0)
					end = fs_mono_ns() + (int64_t)
					      timeout_ms * 1000000;
			}
			flushed = 1;
			if (fs_mono_ns() >= k->next_commit)
				commit(k, 0);
			fs_metrics_idle();
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			struct kpart *e = m->partition < k->npart ?
					  &k->part[m->partition] : NULL;

			/* an end past what was handed out: records are still
			   to come (or were dropped); it cuts and ends nothing */
			if (e && reached_end(e, m->offset)) {
				if (k->replaying && e->assigned &&
				    m->offset >= e->target)
					replay_done(k, e, m->partition);
				if (!e->eof) {
					e->eof = 1;
					k->neof += e->assigned;
				}
				if (k->bounded && m->offset >= e->stop_at)
					end_part(k, e, m->partition);
			}
			if (emit_watermark(k, h)) {	/* it was held */
				rd_kafka_message_destroy(m);
				return 1;
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err) {	/* said once; librdkafka retries */
			if (m->err != k->last_read_err)
				fs_warn("reading '%s': %s", k->uri,
					rd_kafka_message_errstr(m));
			k->last_read_err = m->err;
			rd_kafka_message_destroy(m);
			continue;
		}
		struct kpart *p = part_at(k, m->partition);
		if (p->ended) {		/* resumed after a replay's cut */
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->offset < p->next ||	/* before a re-assignment */
		    (k->replaying && (p->cut || m->offset >= p->target))) {
			if (k->replaying)
				replay_done(k, p, m->partition);
			rd_kafka_message_destroy(m);
			if (k->replaying && replay_cut(k))
				return 3;
			continue;
		}
		if (p->eof) {
			p->eof = 0;
			k->neof -= p->assigned;
		}
		if (rebuild(k, m, h) < 0) {
			rd_kafka_message_destroy(m);
			return -1;
		}
		if (past_bound(k, p, m->partition, *h)) {
			rd_kafka_message_destroy(m);
			if (emit_watermark(k, h))
				return 1;
			continue;
		}
		p->next = m->offset + 1;
		if (p->next >= p->stop_at && k->bounded)
			end_part(k, p, m->partition);
		if ((*h)->type == FS_T_COMMIT ||	/* a sink's, not data */
		    ((*h)->type == FS_T_WATERMARK && !watermark(k, p, h))) {
			p->done = p->next;
			rd_kafka_message_destroy(m);
			continue;
		}
		k->held = m;
		return 1;
	}
}

/* ---- producer ---- */

/*
 * A transactional sink at its end: abort the transaction the last
 * checkpoint began (what no checkpoint committed is not output).  A
 * fatal error (fenced by a newer instance) is said, and exit 1.
 */
static void txn_abort(struct fs_kafka *k)
{
	rd_kafka_error_t *e = rd_kafka_abort_transaction(k->rk,
		(int)(opt.connect_ns / 1000000));

	if (e && rd_kafka_error_is_fatal(e)) {
		fs_warn("cannot write to Kafka topic '%s' on '%s': %s", k->topic,
			k->brokers, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		_exit(FS_EXIT_FAIL);
	}
	rd_kafka_error_destroy(e);
}

/*
 * At exit: wait (at most --connect-timeout) for the messages of the
 * outputs still open; undelivered ones turn a success into exit 1.
 */
static void flush_at_exit(void)
{
	for (int i = 0; i < PRODUCERS_MAX; i++) {
		struct fs_kafka *k = producers[i];

		if (!k || dying)
			continue;
		if (k->txn) {	/* what no checkpoint committed is not out */
			txn_abort(k);
			continue;
		}
		rd_kafka_flush(k->rk, (int)(opt.connect_ns / 1000000));
		if (rd_kafka_outq_len(k->rk) > 0 || k->dr_failed) {
			fs_warn("cannot write to Kafka topic '%s' on '%s': %s",
				k->topic, k->brokers, k->dr_failed ? k->dr_err :
				"messages not delivered at exit");
			_exit(FS_EXIT_FAIL);
		}
	}
}

/*
 * The sink's transactional.id, stable across restarts of the same sink
 * (never random, so a restart fences its predecessor): finstream, the
 * job, the stage, the topic and the partition written (all: "all").
 */
static void set_txn_id(struct fs_kafka *k)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "finstream.%s.%s.%s.%s%d",
		 fs_ckpt_job(fs_pipeline_ckpt()), fs_stage_name(), k->topic,
		 k->partition >= 0 ? "p" : "all", k->partition >= 0 ?
		 (int)k->partition : 0);
	if (k->partition < 0)
		buf[strlen(buf) - 1] = 0;	/* "all", not "all0" */
	k->txn_id = fs_xstrdup(buf);
}

/*
 * A transactional call's error, by class (librdkafka's transactional
 * API, rdkafka.h): none, 0; retriable, 1 (the caller retries); one that
 * needs the transaction aborted: abort it and end (exit 1; a restart
 * resumes from the last complete checkpoint); fatal, fenced included:
 * end with the reason (exit 1), for a supervisor not to restart in a
 * loop.
 */
static int txn_error(struct fs_kafka *k, rd_kafka_error_t *e, const char *what)
{
	char why[512];

	if (!e)
		return 0;
	snprintf(why, sizeof(why), "%s", rd_kafka_error_string(e));
	if (rd_kafka_error_is_retriable(e)) {
		rd_kafka_error_destroy(e);
		(void)fs_sleep_until(fs_mono_ns() + 100000000LL);
		return 1;
	}
	if (rd_kafka_error_txn_requires_abort(e)) {
		rd_kafka_error_destroy(e);
		rd_kafka_error_destroy(rd_kafka_abort_transaction(k->rk,
			(int)(opt.connect_ns / 1000000)));
		dying = 1;
		fs_die(FS_EXIT_FAIL, "cannot %s on Kafka topic '%s': %s; the "
		       "transaction is aborted: restart the job to resume from "
		       "checkpoint %lld", what, k->topic, why,
		       (long long)fs_ckpt_latest(fs_pipeline_ckpt()));
	}
	dying = 1;
	if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
	    rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
	    rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
		fs_die(FS_EXIT_FAIL, "cannot %s on Kafka topic '%s': fenced: "
		       "another instance with transactional.id '%s' started "
		       "(%s); not restarting", what, k->topic, k->txn_id, why);
	fs_die(FS_EXIT_FAIL, "cannot %s on Kafka topic '%s': %s%s", what,
	       k->topic, rd_kafka_error_is_fatal(e) ? "fatal: " : "", why);
}

/* Call a transactional step until it is not retriable, or time is up. */
#define TXN_CALL(k, what, call) do { \
	int64_t end_ = fs_mono_ns() + opt.connect_ns; \
	while (txn_error((k), (call), (what)) && fs_mono_ns() < end_) \
		; \
} while (0)

/*
 * The checkpoint of message m when it is a COMMIT marker of the sink
 * named sink (fs-record(5)); 0 otherwise.
 */
static int64_t marker_of(const rd_kafka_message_t *m, const char *sink)
{
	const char *v = m->payload;
	size_t at = FS_HDR_SIZE - 4 + offsetof(struct fs_commit, sink);
	size_t n = strlen(sink) + 1;
	uint16_t type;
	uint64_t id;

	if (m->len < at + n)
		return 0;
	memcpy(&type, v, 2);
	if (type != FS_T_COMMIT || memcmp(v + at, sink, n) != 0)
		return 0;
	memcpy(&id, v + FS_HDR_SIZE - 4 + offsetof(struct fs_commit,
						  checkpoint), 8);
	return (int64_t)id;
}

/*
 * The checkpoint of the newest commit marker of sink k in partition p:
 * read backwards from the end in growing spans (read_committed, so on a
 * real broker only committed markers count); 0 when there is none.
 */
static int64_t last_marker_in(struct fs_kafka *k, rd_kafka_t *rc, int32_t p)
{
	int64_t lo, hi, from, to, found = 0, step = 1024;
	int ms = (int)(opt.connect_ns / 1000000);
	rd_kafka_resp_err_t err;

	err = rd_kafka_query_watermark_offsets(rc, k->topic, p, &lo, &hi, ms);
	if (err)
		fs_die(FS_EXIT_UNAVAIL, "cannot read the offsets of partition "
		       "%d of '%s': %s", (int)p, k->uri, rd_kafka_err2str(err));
	for (to = hi; to > lo && !found; to = from, step *= 8) {
		rd_kafka_topic_partition_list_t *l =
			rd_kafka_topic_partition_list_new(1);
		int64_t end = fs_mono_ns() + opt.connect_ns;

		from = to - step > lo ? to - step : lo;
		rd_kafka_topic_partition_list_add(l, k->topic, p)->offset =
			from;
		rd_kafka_assign(rc, l);
		rd_kafka_topic_partition_list_destroy(l);
		for (;;) {
			rd_kafka_message_t *m;
			int64_t n;

			if (fs_stop)
				exit(FS_EXIT_OK);
			if (fs_mono_ns() > end)
				fs_die(FS_EXIT_UNAVAIL, "cannot read partition "
				       "%d of '%s' to find the last commit: "
				       "timed out", (int)p, k->uri);
			m = rd_kafka_consumer_poll(rc, 100);
			if (!m)
				continue;
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				rd_kafka_message_destroy(m);
				break;
			}
			n = m->err ? 0 : marker_of(m, k->txn_id);
			if (n > found)
				found = n;
			rd_kafka_message_destroy(m);
		}
	}
	return found;
}

/* The newest checkpoint whose output sink k committed, over its
 * partitions (one copy of the marker in each); 0 without one. */
static int64_t last_marker(struct fs_kafka *k)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_t *rc;
	char err[512];
	int64_t found = 0;

	conf_set(c, "bootstrap.servers", k->brokers);
	conf_set(c, "client.id", fs_progname);
	conf_set(c, "group.id", "fs-assign");
	conf_set(c, "enable.auto.commit", "false");
	conf_set(c, "enable.partition.eof", "true");
	conf_set(c, "isolation.level", "read_committed");
	conf_set(c, "fetch.wait.max.ms", "50");
	rd_kafka_conf_set_log_cb(c, on_log);
	/* -X/-F as given: producer properties are ignored by a consumer */
	for (size_t i = 0; i < opt.nprop; i += 2)
		conf_set(c, opt.prop[i], opt.prop[i + 1]);
	rc = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	if (!rc)
		fs_usage_error("cannot set up Kafka '%s': %s", k->uri, err);
	rd_kafka_poll_set_consumer(rc);
	for (int32_t p = 0; p < k->nparts_out; p++) {
		int64_t n;

		if (k->partition >= 0 && p != k->partition)
			continue;
		n = last_marker_in(k, rc, p);
		if (n > found)
			found = n;
	}
	rd_kafka_consumer_close(rc);
	rd_kafka_destroy(rc);
	return found;
}

static void txn_begin(struct fs_kafka *k)
{
	TXN_CALL(k, "begin a transaction",
		 rd_kafka_begin_transaction(k->rk));
	k->txn_seq++;
	snprintf(k->hdr, sizeof(k->hdr), "%llu.%llu",
		 (unsigned long long)k->gen, (unsigned long long)k->txn_seq);
}

/*
 * Open the pipeline's transactional sink: fence the instance before it
 * (init_transactions aborts what it left open), then look for a commit
 * the checkpoint store missed: a crash after the transaction of
 * checkpoint n committed and before the store marked n complete leaves
 * n's marker in the topic and the store at n - 1.  The replay of n then
 * reproduces output the topic already has; it is left out up to BARRIER
 * n, which completes n in the store.
 */
static void txn_open(struct fs_kafka *k)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	int64_t restored = fs_pipeline_restored(), done, len;
	int ms = (int)(opt.connect_ns / 1000000);

	k->gen = (uint64_t)fs_now_ns();
	TXN_CALL(k, "start transactions", rd_kafka_init_transactions(k->rk,
								      ms));
	done = last_marker(k);
	if (done == restored + 1 &&
	    fs_ckpt_get_sink(c, done, k->txn_id, &len) == 0)
		k->skip_to = done;
	else if (done > restored)
		fs_warn("'%s' already holds the output of checkpoints up to "
			"%lld of job '%s'; resuming from %lld writes that of "
			"%lld on again", k->uri, (long long)done,
			fs_ckpt_job(c), (long long)restored,
			(long long)restored + 1);
	txn_begin(k);
}

struct fs_kafka *fs_kafka_writer(const char *uri, int sink)
{
	struct fs_kafka *k = kafka_new(uri, 1, sink && fs_pipeline_ckpt());
	static int registered;
	int i;

	k->nparts_out = connect_topic(k);
	if (k->partition >= k->nparts_out)
		fs_die(FS_EXIT_USAGE, "bad partition %d in '%s': topic '%s' "
		       "has %d", (int)k->partition, uri, k->topic,
		       (int)k->nparts_out);
	k->rkt = rd_kafka_topic_new(k->rk, k->topic, NULL);
	for (i = 0; i < PRODUCERS_MAX && producers[i]; i++)
		;
	if (i == PRODUCERS_MAX)
		fs_die(FS_EXIT_USAGE, "more than %d Kafka outputs",
		       PRODUCERS_MAX);
	producers[i] = k;
	if (!registered++)
		atexit(flush_at_exit);
	if (k->txn)
		txn_open(k);
	return k;
}

const char *fs_kafka_sink_name(const struct fs_kafka *k)
{
	return k->txn_id;
}

static void check_delivery(struct fs_kafka *k)
{
	if (k->dr_failed)
		fail(k, k->dr_err);
}

/* One message; waits while librdkafka's queue is full. */
static void produce(struct fs_kafka *k, const struct fs_hdr *h,
		    int32_t partition)
{
	for (;;) {
		/* a transaction's records say which: "GENERATION.SEQ" */
		rd_kafka_resp_err_t err = k->txn ? rd_kafka_producev(k->rk,
			RD_KAFKA_V_RKT(k->rkt),
			RD_KAFKA_V_PARTITION(partition),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_VALUE((char *)h + 4, h->len),
			RD_KAFKA_V_KEY(&h->key, 8),
			RD_KAFKA_V_TIMESTAMP(h->ts_event / 1000000),
			RD_KAFKA_V_HEADER("fs-txn", k->hdr, -1),
			RD_KAFKA_V_END) : rd_kafka_producev(k->rk,
			RD_KAFKA_V_RKT(k->rkt),
			RD_KAFKA_V_PARTITION(partition),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_VALUE((char *)h + 4, h->len),
			RD_KAFKA_V_KEY(&h->key, 8),
			RD_KAFKA_V_TIMESTAMP(h->ts_event / 1000000),
			RD_KAFKA_V_END);

		if (!err)
			return;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fail(k, rd_kafka_err2str(err));
			return;
		}
		rd_kafka_poll(k->rk, 10);
		check_delivery(k);
	}
}

void fs_kafka_produce(struct fs_kafka *k, const char *p, size_t n)
{
	size_t off = 0;

	if (dying || k->skip_to > 0)	/* see txn_open */
		return;
	while (off < n) {
		const struct fs_hdr *h = (const struct fs_hdr *)(p + off);

		if (k->partition >= 0 || !fs_is_control(h))
			produce(k, h, k->partition >= 0 ? k->partition :
				RD_KAFKA_PARTITION_UA);
		else
			for (int32_t i = 0; i < k->nparts_out; i++)
				produce(k, h, i);
		off += fs_frame_size(h);
	}
	rd_kafka_poll(k->rk, 0);
	check_delivery(k);
}

int fs_kafka_flush(struct fs_kafka *k)
{
	while (!dying && rd_kafka_outq_len(k->rk) > 0) {
		rd_kafka_flush(k->rk, 1000);
		check_delivery(k);
	}
	check_delivery(k);
	return 0;
}

/* The text of the COMMIT marker after sink: the sources' positions. */
struct marker_text {
	char *p;
	size_t n, cap;
};

static void add_position(const struct fs_ckpt_part *part, void *arg)
{
	struct marker_text *t = arg;
	char line[600];
	int n;

	if (strcmp(part->kind, "position"))
		return;
	n = snprintf(line, sizeof(line), "%s %lld %lld\n", part->name,
		     (long long)part->partition, (long long)part->value);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	if (t->n + (size_t)n + 1 > t->cap) {
		t->cap = (t->n + (size_t)n + 1) * 2;
		t->p = fs_xrealloc(t->p, t->cap);
	}
	memcpy(t->p + t->n, line, (size_t)n + 1);
	t->n += (size_t)n;
}

/*
 * Commit sink k up to BARRIER id (finstream(7) Checkpoints): every
 * record delivered first, the store told the sink is committing id,
 * then a COMMIT marker in each partition, the transaction committed,
 * the store told it is, id completed, the next transaction begun.  During a replay of output the
 * topic already holds (txn_open), BARRIER skip_to only completes it.
 */
void fs_kafka_commit(struct fs_kafka *k, int64_t id, int final)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();
	struct marker_text t = { NULL, 0, 0 };
	struct fs_commit *b;
	struct fs_hdr *h;
	size_t body, size;
	int ms = (int)(opt.connect_ns / 1000000);

	if (dying)
		return;
	if (k->skip_to > 0) {
		if (id < k->skip_to)
			return;
		k->skip_to = 0;
		fs_ckpt_put_sink(c, id, k->txn_id, 0);
		fs_pipeline_complete(id, final);
		return;
	}
	fs_kafka_flush(k);
	/* before the markers: a marker seen means the store heard of it */
	fs_ckpt_put_sink(c, id, k->txn_id, -1);	/* committing */
	fs_ckpt_parts(c, id, add_position, &t);
	body = sizeof(*b) + strlen(k->txn_id) + 1 + t.n;
	size = fs_frame_size_for(body);
	h = fs_xcalloc(1, size);
	h->len = (uint32_t)(size - 4);
	h->type = FS_T_COMMIT;
	h->version = FS_FORMAT_VERSION;
	h->flags = FS_F_CONTROL;
	h->ts_event = fs_now_ns();
	h->seq = (uint64_t)id;
	b = fs_body(h);
	b->checkpoint = (uint64_t)id;
	b->generation = k->gen;
	b->txn_seq = k->txn_seq;
	memcpy(b->sink, k->txn_id, strlen(k->txn_id) + 1);
	if (t.n)
		memcpy(b->sink + strlen(k->txn_id) + 1, t.p, t.n);
	free(t.p);
	for (int32_t i = 0; i < k->nparts_out; i++)
		if (k->partition < 0 || k->partition == i)
			produce(k, h, i);
	free(h);
	TXN_CALL(k, "commit a transaction",
		 rd_kafka_commit_transaction(k->rk, ms));
	check_delivery(k);
	fs_ckpt_put_sink(c, id, k->txn_id, 0);	/* committed */
	fs_pipeline_complete(id, final);
	txn_begin(k);
}

/* ---- both ---- */

void fs_kafka_close(struct fs_kafka *k)
{
	if (!k)
		return;
	if (k->output) {
		for (int i = 0; i < PRODUCERS_MAX; i++)
			if (producers[i] == k)
				producers[i] = NULL;
		if (k->txn && !dying)
			txn_abort(k);
		else
			fs_kafka_flush(k);
		if (dying)	/* on the way out: do not wait for the rest */
			rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE |
				       RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_topic_destroy(k->rkt);
	} else {
		finish_held(k);
		commit(k, 1);
		if (metrics_k == k)
			metrics_k = NULL;
		rd_kafka_consumer_close(k->rk);
	}
	rd_kafka_destroy(k->rk);
	free(k->part);
	free(k->buf);
	free(k->brokers);
	free(k->topic);
	free(k->group);
	free(k->psel);
	free(k->src);
	free(k->txn_id);
	free(k);
}

/*
 * --metrics: the lag of each assigned partition (high watermark minus
 * the next offset to hand out), what an autoscaler watches; NaN until
 * a fetch has told the partition's high watermark.
 */
static const char *fmt_lag(double v)
{
	static char buf[FS_FMT_MAX];

	if (isnan(v))
		return "NaN";
	fs_fmt_f64(buf, v);
	return buf;
}

void fs_kafka_metrics(FILE *f)
{
	struct fs_kafka *k = metrics_k;
	double total = 0;

	if (!k)
		return;
	fputs("# HELP fs_kafka_consumer_lag messages in the partition after "
	      "the last one read\n# TYPE fs_kafka_consumer_lag gauge\n", f);
	for (int32_t i = 0; i < k->npart; i++) {
		int64_t lo, hi;
		struct kpart *p = &k->part[i];

		if (!p->assigned)
			continue;
		if (rd_kafka_get_watermark_offsets(k->rk, k->topic, i, &lo,
						   &hi) || hi < 0 || lo < 0)
			p->lag = NAN;
		else if ((p->lag = (double)(hi - (p->next >= 0 ? p->next
						  : lo))) < 0)
			p->lag = 0;
		total += p->lag;
		fprintf(f, "fs_kafka_consumer_lag{tool=\"%s\",topic=\"%s\","
			"partition=\"%d\"} %s\n", fs_progname, k->topic,
			(int)i, fmt_lag(p->lag));
	}
	fprintf(f, "# HELP fs_kafka_consumer_lag_total the sum over the "
		"assigned partitions\n# TYPE fs_kafka_consumer_lag_total "
		"gauge\nfs_kafka_consumer_lag_total{tool=\"%s\",topic=\"%s\"}"
		" %s\n", fs_progname, k->topic, fmt_lag(total));
}
