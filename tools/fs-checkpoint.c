/*
 * fs-checkpoint - look after a pipeline's checkpoint store
 * (fs-checkpoint(5)): list and show checkpoints, prune old ones, export
 * one to a file of its own and import it elsewhere, restore an older one
 * (a savepoint) so that the next start of the pipeline resumes from it.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

struct opts {
	const char *state, *job, *out;
	int64_t keep;
	int json;
	int64_t *parts;		/* export --partitions: the set, ascending */
	size_t nparts;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-checkpoint init --state FILE\n"
"       fs-checkpoint list --state FILE [--job NAME] [--json]\n"
"       fs-checkpoint show --state FILE --job NAME [ID|latest] [--json]\n"
"       fs-checkpoint prune --state FILE --job NAME --keep N\n"
"       fs-checkpoint export --state FILE --job NAME ID [--partitions SET]\n"
"                     -o FILE\n"
"       fs-checkpoint import --state FILE [--job NAME] FILE...\n"
"       fs-checkpoint restore --state FILE --job NAME ID\n"
"Look after a pipeline's checkpoint store.\n"
"\n"
"      --state FILE      the store (an SQLite file, fs-checkpoint(5))\n"
"      --job NAME        the job whose checkpoints to use\n"
"      --keep N          prune: how many complete checkpoints to keep\n"
"  -o, --output FILE     export: the new store to write\n"
"      --partitions SET  export: only these partitions and key groups\n"
"                        (e.g. 0-3,6), for the instance taking them\n"
"      --json            list, show: one JSON object per line\n"
"  -h, --help            print this help and exit\n"
"      --version         print the version and exit\n");
}

enum { O_JOB = 256, O_JSON, O_KEEP, O_PARTS, O_STATE, O_VERSION };

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "job", required_argument, NULL, O_JOB },
	{ "json", no_argument, NULL, O_JSON },
	{ "keep", required_argument, NULL, O_KEEP },
	{ "output", required_argument, NULL, 'o' },
	{ "partitions", required_argument, NULL, O_PARTS },
	{ "state", required_argument, NULL, O_STATE },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* --partitions SET: numbers from 0 and ranges such as 0-3,6. */
static void parse_parts(struct opts *o, const char *v)
{
	char *s = fs_xstrdup(v), *tok, *save = NULL;
	int64_t a, b;

	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');

		if (dash)
			*dash = 0;
		if (fs_parse_i64(tok, (size_t)-1, 0, INT32_MAX, &a) < 0 ||
		    (dash && fs_parse_i64(dash + 1, (size_t)-1, a, a + 65535,
					  &b) < 0))
			fs_usage_error("bad --partitions '%s': want numbers "
				       "from 0 and ranges such as 0-3,6", v);
		for (int64_t i = a; i <= (dash ? b : a); i++) {
			o->parts = fs_xrealloc(o->parts, (o->nparts + 1) *
					       sizeof(*o->parts));
			o->parts[o->nparts++] = i;
		}
	}
	free(s);
	if (!o->nparts)
		fs_usage_error("bad --partitions '%s': want numbers from 0 "
			       "and ranges such as 0-3,6", v);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	int c;

	while ((c = fs_getopt(argc, argv, "ho:", long_options)) != -1) {
		switch (c) {
		case 'h': usage(stdout); exit(FS_EXIT_OK);
		case 'o': o->out = optarg; break;
		case O_JOB: o->job = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_KEEP:
			o->keep = fs_opt_i64("--keep", optarg, 1, INT64_MAX);
			break;
		case O_PARTS: parse_parts(o, optarg); break;
		case O_STATE: o->state = optarg; break;
		case O_VERSION: fs_print_version(NULL); exit(FS_EXIT_OK);
		default: fs_bug("option %d not handled", c);
		}
	}
}

/* An ISO 8601 time, or "-" for none. */
static const char *when(char *buf, int64_t ns)
{
	if (!ns)
		return "-";
	fs_fmt_time(buf, ns);
	return buf;
}

static void put_info(const struct fs_ckpt_info *i, void *arg)
{
	const struct opts *o = arg;
	char a[FS_FMT_MAX], b[FS_FMT_MAX];

	if (o->json) {
		printf("{\"job\":\"%s\",\"id\":%lld,\"status\":\"%s\","
		       "\"started\":\"%s\",\"completed\":\"%s\","
		       "\"positions\":%lld,\"snapshots\":%lld,"
		       "\"snapshot_bytes\":%lld,\"sinks\":%lld}\n", i->job,
		       (long long)i->id, i->complete ? "complete" : "pending",
		       when(a, i->started_ns), when(b, i->completed_ns),
		       (long long)i->npositions, (long long)i->nsnapshots,
		       (long long)i->snapshot_bytes, (long long)i->nsinks);
		return;
	}
	printf("%-12s %8lld  %-8s  %-30s  %-30s  %9lld  %9lld  %12lld  %5lld\n",
	       i->job, (long long)i->id, i->complete ? "complete" : "pending",
	       when(a, i->started_ns), when(b, i->completed_ns),
	       (long long)i->npositions, (long long)i->nsnapshots,
	       (long long)i->snapshot_bytes, (long long)i->nsinks);
}

static void put_part(const struct fs_ckpt_part *p, void *arg)
{
	const struct opts *o = arg;

	if (o->json)
		printf("{\"kind\":\"%s\",\"name\":\"%s\",\"partition\":%lld,"
		       "\"%s\":%lld}\n", p->kind, p->name,
		       (long long)p->partition, !strcmp(p->kind, "position") ?
		       "position" : !strcmp(p->kind, "sink") ? "length" :
		       "bytes", (long long)p->value);
	else
		printf("%-9s %-24s %9lld  %lld\n", p->kind, p->name,
		       (long long)p->partition, (long long)p->value);
}

/* An ID argument: a positive number, or "latest". */
static int64_t checkpoint_id(struct fs_ckpt *c, const char *s)
{
	int64_t id;

	if (!strcmp(s, "latest")) {
		if (!(id = fs_ckpt_latest(c)))
			fs_die(FS_EXIT_FAIL, "job '%s' has no complete "
			       "checkpoint", fs_ckpt_job(c));
		return id;
	}
	return fs_opt_i64("checkpoint id", s, 1, INT64_MAX);
}

/* The store, which must exist unless create. */
static struct fs_ckpt *open_store(const struct opts *o, int create)
{
	struct fs_ckpt *c;
	struct stat st;
	int fd;

	if (!o->state)
		fs_usage_error("--state FILE is required");
	if (!create && stat(o->state, &st) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open checkpoint store '%s'",
			     o->state);
	c = fs_ckpt_open(o->state, o->job);
	if ((fd = open(o->state, O_RDONLY | O_CLOEXEC)) >= 0) {
		fs_claim_fd(fd, o->state, 0);	/* export may not write it */
		close(fd);
	}
	return c;
}

static void need_job(const struct opts *o, const char *cmd)
{
	if (!o->job)
		fs_usage_error("%s needs --job NAME", cmd);
}

struct show {
	const struct opts *o;
	int64_t id;
	int found;
};

static void show_info(const struct fs_ckpt_info *i, void *arg)
{
	struct show *sh = arg;

	if (i->id != sh->id)
		return;
	sh->found = 1;
	put_info(i, (void *)sh->o);
}

/* The checkpoint's line as in list, then its positions, snapshots, sinks. */
static void cmd_show(const struct opts *o, struct fs_ckpt *c, int argc,
		     char **argv)
{
	struct show sh = { o, checkpoint_id(c, argc > 0 ? argv[0] :
					    "latest"), 0 };

	fs_ckpt_list(c, 0, show_info, &sh);
	if (!sh.found)
		fs_die(FS_EXIT_FAIL, "job '%s' has no checkpoint %lld",
		       o->job, (long long)sh.id);
	if (!o->json)
		printf("\n%-9s %-24s %9s  %s\n", "kind", "name", "partition",
		       "value");
	fs_ckpt_parts(c, sh.id, put_part, (void *)o);
}

int tool_main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct fs_ckpt *c;
	const char *cmd;
	int64_t n, id;
	char **rest;
	int nrest;

	if (argc < 2 || argv[1][0] == '-') {
		parse_opts(&o, argc, argv);	/* --help, --version */
		fs_usage_error("a command is needed: init, list, show, "
			       "prune, export, import or restore");
	}
	cmd = argv[1];
	parse_opts(&o, argc - 1, argv + 1);
	rest = argv + 1 + optind;
	nrest = argc - 1 - optind;
	if (strcmp(cmd, "import") &&
	    nrest > (strcmp(cmd, "list") && strcmp(cmd, "prune") &&
		     strcmp(cmd, "init") ? 1 : 0))
		fs_usage_error("unexpected argument '%s'", rest[nrest - 1]);
	if (!strcmp(cmd, "init")) {
		if (nrest > 0)
			fs_usage_error("unexpected argument '%s'", rest[0]);
		c = open_store(&o, 1);	/* the tables, nothing else */
	} else if (!strcmp(cmd, "list")) {
		c = open_store(&o, 0);
		if (!o.json)
			printf("%-12s %8s  %-8s  %-30s  %-30s  %9s  %9s  %12s  "
			       "%5s\n", "job", "id", "status", "started",
			       "completed", "positions", "snapshots", "bytes",
			       "sinks");
		fs_ckpt_list(c, !o.job, put_info, &o);
	} else if (!strcmp(cmd, "show")) {
		need_job(&o, cmd);
		c = open_store(&o, 0);
		cmd_show(&o, c, nrest, rest);
	} else if (!strcmp(cmd, "prune")) {
		need_job(&o, cmd);
		if (!o.keep)
			fs_usage_error("prune needs --keep N");
		c = open_store(&o, 0);
		n = fs_ckpt_prune(c, o.keep);
		fprintf(stderr, "fs-checkpoint: pruned %lld checkpoint%s of "
			"job '%s'\n", (long long)n, n == 1 ? "" : "s", o.job);
	} else if (!strcmp(cmd, "export")) {
		need_job(&o, cmd);
		if (nrest != 1 || !o.out)
			fs_usage_error("export needs an ID and -o FILE");
		c = open_store(&o, 0);
		id = checkpoint_id(c, rest[0]);
		fs_check_output_path(o.out);
		if (fs_ckpt_export(c, id, o.out, o.parts, o.nparts) < 0)
			fs_die(FS_EXIT_FAIL, "job '%s' has no complete "
			       "checkpoint %lld", o.job, (long long)id);
	} else if (!strcmp(cmd, "import")) {
		if (nrest < 1)
			fs_usage_error("import needs the FILE to import");
		if (nrest > 1 && !o.job)
			fs_usage_error("merging %d exports needs --job NAME, "
				       "the job they become", nrest);
		c = open_store(&o, 1);
		if (o.job) {
			id = fs_ckpt_merge(c, (const char *const *)rest,
					   (size_t)nrest);
			fprintf(stderr, "fs-checkpoint: merged %d export%s "
				"into checkpoint %lld of job '%s'\n", nrest,
				nrest == 1 ? "" : "s", (long long)id, o.job);
		} else {
			n = fs_ckpt_import(c, rest[0]);
			fprintf(stderr, "fs-checkpoint: imported %lld "
				"checkpoint%s\n", (long long)n,
				n == 1 ? "" : "s");
		}
	} else if (!strcmp(cmd, "restore")) {
		need_job(&o, cmd);
		if (nrest != 1)
			fs_usage_error("restore needs the ID to go back to");
		c = open_store(&o, 0);
		id = checkpoint_id(c, rest[0]);
		if (fs_ckpt_restore(c, id, &n) < 0)
			fs_die(FS_EXIT_FAIL, "job '%s' has no complete "
			       "checkpoint %lld", o.job, (long long)id);
		fprintf(stderr, "fs-checkpoint: job '%s' resumes from "
			"checkpoint %lld; %lld newer removed\n", o.job,
			(long long)id, (long long)n);
	} else {
		fs_usage_error("unknown command '%s' (init, list, show, "
			       "prune, export, import, restore)", cmd);
	}
	fs_ckpt_close(c);
	free(o.parts);
	fs_stdout_done();
	return FS_EXIT_OK;
}
