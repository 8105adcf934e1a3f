/*
 * fs-devbroker - a development Kafka broker: librdkafka's mock cluster
 * (rdkafka_mock.h) held by a small program, on loopback, for trying the
 * kafka:// endpoints, for tests and for fault injection.
 *
 * The mock's own threads serve the Kafka protocol; the main thread only
 * waits: for SIGINT/SIGTERM (libcommon's stop pipe) and, when asked, for
 * commands on a control channel (a FIFO or stdin), one a line, which it
 * applies through the mock's fault-injection calls and answers with
 * "ok" or "error: WHY" on stdout.  Without --control, stdin is never
 * read, so "fs-devbroker ... &" in a script cannot hang on it.
 *
 * The mock is not Kafka: it has no transactions, no offsets_for_times,
 * no fencing (fs-devbroker(1) lists what it lacks); nothing in finstream
 * may depend on its behaviour.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

#define BROKERS_MAX 64
#define PARTITIONS_MAX 10000
#define TOPIC_NAME_MAX 249	/* Kafka's limit */
#define LINE_SIZE 1024		/* longest control command, newline included */
#define ERRORS_MAX 1000000	/* COUNT of one "error" command */
#define RTT_MAX_MS 600000

struct topic {
	const char *name;	/* points into argv */
	size_t namelen;
	int partitions;
};

struct devbroker {
	rd_kafka_t *rk;			/* the handle the mock lives in */
	rd_kafka_mock_cluster_t *mc;
	int nbrokers;
	struct topic *topics;
	int ntopics;
	const char *bsfile;		/* --bootstrap-file, or NULL */
	struct stat bs_st;		/* what we wrote, to remove it at exit */
	int bs_written;
	const char *control;		/* --control: a FIFO path or "-" */
	int ctl_fd;			/* -1: no control channel */
	int made_fifo;			/* we created the FIFO: remove it */
	char line[LINE_SIZE];		/* a command being read */
	size_t len;
	int overlong;			/* skipping the rest of a long line */
	int quiet;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-devbroker [-q] [--brokers N] [--topic NAME:PARTITIONS]...\n"
"                    [--bootstrap-file FILE] [--control FIFO|-]\n"
"                    [-X PROP=VALUE]...\n"
"Run librdkafka's mock Kafka cluster on loopback, for development, tests\n"
"and fault injection (not a real broker: see fs-devbroker(1)).  Prints\n"
"its bootstrap list on stdout and runs until SIGINT or SIGTERM.\n"
"\n"
"  -b, --brokers N          brokers in the cluster, 1 to 64 (default 3)\n"
"  -t, --topic NAME:PARTITIONS\n"
"                           create topic NAME with PARTITIONS partitions\n"
"                           at start (repeatable)\n"
"  -f, --bootstrap-file FILE\n"
"                           write the bootstrap list to FILE (atomically)\n"
"  -c, --control FIFO|-     read commands from FIFO (created if missing)\n"
"                           or from stdin (-); replies on stdout:\n"
"                             down BROKER         up BROKER\n"
"                             leader TOPIC PARTITION BROKER|none\n"
"                             rtt BROKER MS       topic NAME:PARTITIONS\n"
"                             error API ERROR [COUNT]   clear API\n"
"                           (BROKER: 1..N or all)\n"
"  -X PROP=VALUE            set a librdkafka property of the mock's\n"
"                           handle (debug=mock traces the protocol)\n"
"  -q, --quiet              no ready line on stderr\n"
"  -h, --help               print this help and exit\n"
"      --version            print the version and exit\n");
}

/* ---- names: Kafka API keys and librdkafka error codes ---- */

/* The Kafka protocol's API keys, by number (as Apache Kafka names them). */
static const char *const api_names[] = {
	"Produce", "Fetch", "ListOffsets", "Metadata", "LeaderAndIsr",
	"StopReplica", "UpdateMetadata", "ControlledShutdown",
	"OffsetCommit", "OffsetFetch", "FindCoordinator", "JoinGroup",
	"Heartbeat", "LeaveGroup", "SyncGroup", "DescribeGroups",
	"ListGroups", "SaslHandshake", "ApiVersions", "CreateTopics",
	"DeleteTopics", "DeleteRecords", "InitProducerId",
	"OffsetForLeaderEpoch", "AddPartitionsToTxn", "AddOffsetsToTxn",
	"EndTxn", "WriteTxnMarkers", "TxnOffsetCommit", "DescribeAcls",
	"CreateAcls", "DeleteAcls", "DescribeConfigs", "AlterConfigs",
	"AlterReplicaLogDirs", "DescribeLogDirs", "SaslAuthenticate",
	"CreatePartitions", "CreateDelegationToken",
	"RenewDelegationToken", "ExpireDelegationToken",
	"DescribeDelegationToken", "DeleteGroups", "ElectLeaders",
	"IncrementalAlterConfigs", "AlterPartitionReassignments",
	"ListPartitionReassignments", "OffsetDelete",
};
#define NAPIS ((int)(sizeof(api_names) / sizeof(api_names[0])))

/* An API key from its name (any case) or number; -1 if neither. */
static int api_key(const char *s)
{
	int64_t v;

	if (fs_parse_i64(s, (size_t)-1, 0, NAPIS - 1, &v) == 0)
		return (int)v;
	for (int i = 0; i < NAPIS; i++)
		if (!strcasecmp(s, api_names[i]))
			return i;
	return -1;
}

/*
 * A librdkafka error code from its name as rd_kafka_err2name() gives it
 * ("NOT_LEADER_FOR_PARTITION", any case, "RD_KAFKA_RESP_ERR_" allowed
 * before it) or its number; 1 and *err set when it is a code librdkafka
 * knows, else 0.  0 (NO_ERROR) is refused: it injects nothing.
 */
static int err_code(const char *s, rd_kafka_resp_err_t *err)
{
	const struct rd_kafka_err_desc *d;
	size_t n;
	int64_t v;

	rd_kafka_get_err_descs(&d, &n);
	if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
		s += 18;
	if (fs_parse_i64(s, (size_t)-1, -1000, 1000, &v) == 0) {
		for (size_t i = 0; i < n; i++)
			if (d[i].name && d[i].code == v && v != 0) {
				*err = d[i].code;
				return 1;
			}
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (d[i].name && d[i].code != 0 && !strcasecmp(s, d[i].name)) {
			*err = d[i].code;
			return 1;
		}
	return 0;
}

/*
 * Parse "NAME:PARTITIONS" into t (t->name points into spec).  Returns 0,
 * or -1 with what is wrong in why.  Names are Kafka's: 1 to 249 of
 * [A-Za-z0-9._-], not "." or "..".
 */
static int parse_topic(const char *spec, struct topic *t, char *why,
		       size_t whylen)
{
	const char *colon = strrchr(spec, ':');
	int64_t parts;
	size_t n;

	if (!colon) {
		snprintf(why, whylen, "want NAME:PARTITIONS");
		return -1;
	}
	n = (size_t)(colon - spec);
	if (n == 0 || n > TOPIC_NAME_MAX ||
	    strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789._-") != n ||
	    (n == 1 && spec[0] == '.') || (n == 2 && !strncmp(spec, "..", 2))) {
		snprintf(why, whylen, "a topic name is 1 to %d of the "
			 "characters A-Z a-z 0-9 . _ -", TOPIC_NAME_MAX);
		return -1;
	}
	if (fs_parse_i64(colon + 1, (size_t)-1, 1, PARTITIONS_MAX,
			 &parts) < 0) {
		snprintf(why, whylen, "want a partition count from 1 to %d",
			 PARTITIONS_MAX);
		return -1;
	}
	t->name = spec;
	t->namelen = n;
	t->partitions = (int)parts;
	return 0;
}

/*
 * Create topic t in the cluster, replicated on min(3, brokers) brokers
 * (the mock's default).  Returns librdkafka's error code.
 */
static rd_kafka_resp_err_t create_topic(struct devbroker *d,
					const struct topic *t)
{
	char name[TOPIC_NAME_MAX + 1];

	memcpy(name, t->name, t->namelen);
	name[t->namelen] = '\0';
	return rd_kafka_mock_topic_create(d->mc, name, t->partitions,
					  d->nbrokers < 3 ? d->nbrokers : 3);
}

/* ---- the control channel ---- */

/*
 * Give the mock's thread a moment after a call before the next one.
 * librdkafka 2.0.2's mock wakes its thread through a pipe and then
 * drains it; a call made in between loses its wake-up and waits for the
 * thread's 1 s poll timeout.  2 ms is far longer than that window.
 */
static void settle(void)
{
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, NULL);
}

/* Reply to a command on stdout: "ok", or "error: " and why. */
static void reply(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (fflush(stdout) != 0 && errno != EPIPE)
		fs_die_errno(FS_EXIT_FAIL, "cannot write replies to stdout");
	clearerr(stdout);	/* a reader gone away: keep serving */
	settle();
}

/* A broker id: 1..N, or "all" (-1); 0 and a reply if neither. */
static int broker_arg(const struct devbroker *d, const char *s,
		      int32_t *id)
{
	int64_t v;

	if (!strcmp(s, "all")) {
		*id = -1;
		return 1;
	}
	if (fs_parse_i64(s, (size_t)-1, 1, d->nbrokers, &v) < 0) {
		reply("error: bad broker '%s': want 1 to %d or all", s,
		      d->nbrokers);
		return 0;
	}
	*id = (int32_t)v;
	return 1;
}

/* The answer to a mock call: ok, or its error in words. */
static void reply_err(const char *what, rd_kafka_resp_err_t err)
{
	if (err)
		reply("error: %s: %s", what, rd_kafka_err2str(err));
	else
		reply("ok");
}

/* "error API ERROR [COUNT]": the next COUNT requests fail with ERROR. */
static void cmd_error(struct devbroker *d, char **w, int n)
{
	rd_kafka_resp_err_t errs[256], err;
	int api = api_key(w[1]);
	int64_t cnt = 1;

	if (api < 0) {
		reply("error: unknown API '%s': want a Kafka API name such "
		      "as Produce, Fetch, Metadata, or a number from 0 to %d",
		      w[1], NAPIS - 1);
		return;
	}
	if (!err_code(w[2], &err)) {
		reply("error: unknown error code '%s': want a librdkafka "
		      "name such as NOT_LEADER_FOR_PARTITION, or its number",
		      w[2]);
		return;
	}
	if (n == 4 && fs_parse_i64(w[3], (size_t)-1, 1, ERRORS_MAX,
				   &cnt) < 0) {
		reply("error: bad count '%s': want 1 to %d", w[3],
		      ERRORS_MAX);
		return;
	}
	for (size_t i = 0; i < 256; i++)
		errs[i] = err;
	while (cnt > 0) {
		size_t k = cnt > 256 ? 256 : (size_t)cnt;

		rd_kafka_mock_push_request_errors_array(d->mc, (int16_t)api,
							k, errs);
		cnt -= (int64_t)k;
	}
	reply("ok");
}

/* "leader TOPIC PARTITION BROKER|none" */
static void cmd_leader(struct devbroker *d, char **w)
{
	int64_t part;
	int32_t id = -1;
	rd_kafka_resp_err_t err;

	if (fs_parse_i64(w[2], (size_t)-1, 0, INT32_MAX, &part) < 0) {
		reply("error: bad partition '%s'", w[2]);
		return;
	}
	if (strcmp(w[3], "none") != 0) {
		if (!strcmp(w[3], "all")) {
			reply("error: a partition has one leader: want a "
			      "broker from 1 to %d or none", d->nbrokers);
			return;
		}
		if (!broker_arg(d, w[3], &id))
			return;
	}
	err = rd_kafka_mock_partition_set_leader(d->mc, w[1], (int32_t)part,
						 id);
	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		reply("error: no partition %s [%s]", w[1], w[2]);
	else
		reply_err("leader", err);
}

/*
 * Run one command line (NUL-terminated, no newline).  Blank lines and
 * lines starting with '#' are skipped without a reply; every other
 * line gets one reply.  A bad command is answered and otherwise ignored.
 */
static void command(struct devbroker *d, char *line)
{
	char *w[6];
	int n = 0;
	int32_t id;
	int64_t ms;
	struct topic t;
	char why[128];

	for (char *p = line; n < 6;) {
		p += strspn(p, " \t\r");
		if (!*p)
			break;
		w[n++] = p;
		p += strcspn(p, " \t\r");
		if (*p)
			*p++ = '\0';
	}
	if (n == 0 || w[0][0] == '#')
		return;
#define ARGS(lo, hi, form)						\
	if (n < (lo) || n > (hi)) {					\
		reply("error: usage: %s", form);			\
		return;							\
	}
	if (!strcmp(w[0], "down") || !strcmp(w[0], "up")) {
		ARGS(2, 2, "down|up BROKER");
		if (!broker_arg(d, w[1], &id))
			return;
		reply_err(w[0], w[0][0] == 'd' ?
			  rd_kafka_mock_broker_set_down(d->mc, id) :
			  rd_kafka_mock_broker_set_up(d->mc, id));
	} else if (!strcmp(w[0], "leader")) {
		ARGS(4, 4, "leader TOPIC PARTITION BROKER|none");
		cmd_leader(d, w);
	} else if (!strcmp(w[0], "rtt")) {
		ARGS(3, 3, "rtt BROKER MS");
		if (!broker_arg(d, w[1], &id))
			return;
		if (fs_parse_i64(w[2], (size_t)-1, 0, RTT_MAX_MS, &ms) < 0) {
			reply("error: bad round-trip time '%s': want 0 to %d "
			      "ms", w[2], RTT_MAX_MS);
			return;
		}
		reply_err("rtt", rd_kafka_mock_broker_set_rtt(d->mc, id,
							      (int)ms));
	} else if (!strcmp(w[0], "error")) {
		ARGS(3, 4, "error API ERROR [COUNT]");
		cmd_error(d, w, n);
	} else if (!strcmp(w[0], "clear")) {
		ARGS(2, 2, "clear API");
		if (api_key(w[1]) < 0) {
			reply("error: unknown API '%s'", w[1]);
			return;
		}
		rd_kafka_mock_clear_request_errors(d->mc,
						   (int16_t)api_key(w[1]));
		reply("ok");
	} else if (!strcmp(w[0], "topic")) {
		ARGS(2, 2, "topic NAME:PARTITIONS");
		if (parse_topic(w[1], &t, why, sizeof(why)) < 0)
			reply("error: bad topic '%s': %s", w[1], why);
		else
			reply_err("topic", create_topic(d, &t));
	} else {
		reply("error: unknown command '%s': want down, up, leader, "
		      "rtt, error, clear or topic", w[0]);
	}
#undef ARGS
}

/*
 * Read what the control channel has and run each whole line.  Returns 0,
 * or -1 at the end of stdin (the channel is then closed; the cluster
 * keeps serving).
 */
static int control_read(struct devbroker *d)
{
	char buf[4096];
	ssize_t got = read(d->ctl_fd, buf, sizeof(buf));

	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (got < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot read commands from '%s'",
			     d->control);
	if (got == 0)
		return -1;
	for (ssize_t i = 0; i < got; i++) {
		if (buf[i] != '\n') {
			if (d->len < LINE_SIZE - 1)
				d->line[d->len++] = buf[i];
			else
				d->overlong = 1;
			continue;
		}
		d->line[d->len] = '\0';
		if (d->overlong)
			reply("error: command longer than %d bytes",
			      LINE_SIZE - 1);
		else
			command(d, d->line);
		d->len = 0;
		d->overlong = 0;
	}
	return 0;
}

/*
 * Open the control channel: stdin for "-", else the FIFO at path,
 * created when missing (and then removed at exit).  The FIFO is opened
 * read-write so that it never reads end-of-file when a writer closes
 * it: every "echo down 1 > FIFO" reaches the same broker.
 */
static void control_open(struct devbroker *d)
{
	struct stat st;

	if (!strcmp(d->control, "-")) {
		d->ctl_fd = 0;
		return;
	}
	if (stat(d->control, &st) != 0) {
		if (errno != ENOENT || mkfifo(d->control, 0600) != 0)
			fs_die_errno(FS_EXIT_FAIL, "cannot create FIFO '%s'",
				     d->control);
		d->made_fifo = 1;
	} else if (!S_ISFIFO(st.st_mode)) {
		fs_usage_error("refusing '%s' as --control: it is not a FIFO "
			       "(give a new path, or - for stdin)",
			       d->control);
	}
	d->ctl_fd = open(d->control, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (d->ctl_fd < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open FIFO '%s'",
			     d->control);
}

/* ---- the cluster ---- */

/* librdkafka's log lines, as this tool's messages. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	(void)rk;
	(void)level;
	if (!strcmp(fac, "CONFWARN") && strstr(buf, "bootstrap.servers"))
		return;		/* the handle connects nowhere, by design */
	fs_warn("librdkafka: %s: %s", fac, buf);
}

/*
 * The handle the mock cluster lives in: a producer with no bootstrap
 * servers, which connects nowhere.  props are the -X settings.
 */
static rd_kafka_t *make_handle(char **props, int nprops)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	rd_kafka_conf_set_log_cb(conf, log_cb);
	if (rd_kafka_conf_set(conf, "client.id", "fs-devbroker", err,
			      sizeof(err)) != RD_KAFKA_CONF_OK)
		fs_bug("client.id: %s", err);
	for (int i = 0; i < nprops; i++) {
		char *eq = strchr(props[i], '=');

		if (!eq || eq == props[i]) {
			rd_kafka_conf_destroy(conf);
			fs_usage_error("bad -X '%s': want PROP=VALUE",
				       props[i]);
		}
		*eq = '\0';
		if (rd_kafka_conf_set(conf, props[i], eq + 1, err,
				      sizeof(err)) != RD_KAFKA_CONF_OK) {
			rd_kafka_conf_destroy(conf);
			fs_usage_error("bad -X '%s=%s': %s", props[i], eq + 1,
				       err);
		}
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		fs_die(FS_EXIT_UNAVAIL, "cannot start librdkafka: %s", err);
	}
	return rk;
}

/*
 * Write the bootstrap list and a newline to d->bsfile: a temporary name
 * in the same folder, then rename, so a reader sees the whole list or
 * no file.  Returns 0, or -1 after a message.
 */
static int write_bootstrap(struct devbroker *d, const char *list)
{
	char tmp[4096];
	int fd, ok, e;
	size_t n = strlen(list);

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", d->bsfile,
		     (long)getpid()) >= (int)sizeof(tmp))
		return fs_error("cannot write '%s': name too long", d->bsfile);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fs_error("cannot create '%s': %s", tmp,
				strerror(errno));
	ok = write(fd, list, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
	     fstat(fd, &d->bs_st) == 0;
	e = errno;
	if (close(fd) != 0 && ok) {
		ok = 0;
		e = errno;
	}
	if (!ok) {
		unlink(tmp);
		return fs_error("cannot write '%s': %s", tmp, strerror(e));
	}
	if (rename(tmp, d->bsfile) != 0) {
		int e = errno;

		unlink(tmp);
		return fs_error("cannot rename '%s' to '%s': %s", tmp,
				d->bsfile, strerror(e));
	}
	d->bs_written = 1;
	return 0;
}

/*
 * Start the cluster and its topics.  Exit 4 when the mock cannot start
 * (no loopback, no free port); the caller writes the bootstrap file.
 */
static void start(struct devbroker *d, char **props, int nprops)
{
	rd_kafka_resp_err_t err;

	d->rk = make_handle(props, nprops);
	d->mc = rd_kafka_mock_cluster_new(d->rk, d->nbrokers);
	if (!d->mc) {
		rd_kafka_destroy(d->rk);
		fs_die(FS_EXIT_UNAVAIL, "cannot start the mock cluster of %d "
		       "brokers on 127.0.0.1 (librdkafka %s)", d->nbrokers,
		       rd_kafka_version_str());
	}
	for (int i = 0; i < d->ntopics; i++) {
		err = create_topic(d, &d->topics[i]);
		settle();
		if (err) {
			rd_kafka_mock_cluster_destroy(d->mc);
			rd_kafka_destroy(d->rk);
			fs_die(FS_EXIT_UNAVAIL, "cannot create topic '%.*s': "
			       "%s", (int)d->topics[i].namelen,
			       d->topics[i].name, rd_kafka_err2str(err));
		}
	}
}

/* Remove the bootstrap file (while it is still ours) and a FIFO we made. */
static void remove_files(struct devbroker *d)
{
	struct stat st;

	if (d->bs_written && stat(d->bsfile, &st) == 0 &&
	    st.st_ino == d->bs_st.st_ino && st.st_dev == d->bs_st.st_dev)
		unlink(d->bsfile);	/* it would name dead ports */
	if (d->made_fifo)
		unlink(d->control);
	if (d->ctl_fd > 0)
		close(d->ctl_fd);
	d->ctl_fd = -1;
}

/* The ready line on stderr: brokers, bootstrap list, topics. */
static void ready_line(const struct devbroker *d, const char *list)
{
	char topics[512] = "";
	size_t at = 0;

	for (int i = 0; i < d->ntopics && at < sizeof(topics); i++)
		at += (size_t)snprintf(topics + at, sizeof(topics) - at,
				       "%s%.*s:%d", i ? ", " : "; topics ",
				       (int)d->topics[i].namelen,
				       d->topics[i].name,
				       d->topics[i].partitions);
	fs_warn("ready: %d broker%s at %s%s%s%s", d->nbrokers,
		d->nbrokers == 1 ? "" : "s", list, topics,
		d->control ? "; control on " : "",
		d->control ? (strcmp(d->control, "-") ? d->control :
			      "stdin") : "");
}

/*
 * Serve until SIGINT/SIGTERM: wait on the control channel when there is
 * one, else only on the stop pipe.  The mock's threads do the work.
 */
static void serve(struct devbroker *d)
{
	for (;;) {
		if (d->ctl_fd < 0) {
			if (fs_sleep_until(fs_mono_ns() + 3600000000000LL) < 0)
				return;
			continue;
		}
		int r = fs_poll_in(d->ctl_fd, -1);

		if (r < 0)
			return;
		if (r > 0 && control_read(d) < 0)
			d->ctl_fd = -1;	/* end of stdin: serve on */
	}
}

/* --topic SPEC: a usage error when malformed or given twice. */
static void add_topic(struct devbroker *d, const char *spec)
{
	struct topic *t = &d->topics[d->ntopics];
	char why[128];

	if (parse_topic(spec, t, why, sizeof(why)) < 0)
		fs_usage_error("bad --topic '%s': %s", spec, why);
	for (int i = 0; i < d->ntopics; i++)
		if (d->topics[i].namelen == t->namelen &&
		    !memcmp(d->topics[i].name, t->name, t->namelen))
			fs_usage_error("bad --topic '%s': topic '%.*s' is "
				       "given twice", spec, (int)t->namelen,
				       t->name);
	d->ntopics++;
}

enum { O_VERSION = 256 };

static const struct option long_options[] = {
	{ "bootstrap-file", required_argument, NULL, 'f' },
	{ "brokers", required_argument, NULL, 'b' },
	{ "control", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "topic", required_argument, NULL, 't' },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

int tool_main(int argc, char **argv)
{
	static struct devbroker broker;
	struct devbroker *d = &broker;
	char **props = fs_xcalloc((size_t)argc + 1, sizeof(*props));
	int nprops = 0, ch;
	const char *list;

	d->nbrokers = 3;
	d->ctl_fd = -1;
	d->topics = fs_xcalloc((size_t)argc + 1, sizeof(*d->topics));
	while ((ch = fs_getopt(argc, argv, "b:c:f:hqt:X:", long_options)) !=
	       -1) {
		switch (ch) {
		case 'b':
			d->nbrokers = (int)fs_opt_i64("--brokers", optarg, 1,
						      BROKERS_MAX);
			break;
		case 'c': d->control = optarg; break;
		case 'f': d->bsfile = optarg; break;
		case 'h': usage(stdout); return FS_EXIT_OK;
		case 'q': d->quiet = 1; break;
		case 't': add_topic(d, optarg); break;
		case 'X': props[nprops++] = optarg; break;
		case O_VERSION: fs_print_version(NULL); return FS_EXIT_OK;
		default: fs_bug("option %d not handled", ch);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	if (d->bsfile)
		fs_check_output_path(d->bsfile);
	if (d->control)
		control_open(d);
	start(d, props, nprops);
	free(props);
	list = rd_kafka_mock_cluster_bootstraps(d->mc);
	if (d->bsfile && write_bootstrap(d, list) < 0) {
		remove_files(d);
		rd_kafka_mock_cluster_destroy(d->mc);
		rd_kafka_destroy(d->rk);
		free(d->topics);
		return FS_EXIT_FAIL;
	}
	reply("%s", list);
	if (!d->quiet)
		ready_line(d, list);
	serve(d);
	/*
	 * Stopped.  The cluster is left to the process's exit, not torn
	 * down: librdkafka 2.0.2's rd_kafka_mock_cluster_destroy() often
	 * takes a second (its internal broker thread, woken before its
	 * last reference drops, sleeps out a 1 s wait), and a test suite
	 * starts and stops brokers all day.  The mock holds nothing that
	 * needs flushing; the kernel closes its sockets.
	 */
	remove_files(d);
	free(d->topics);
	d->topics = NULL;
	return FS_EXIT_OK;
}
