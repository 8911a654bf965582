/*
 * main.c: jobctl's command line, verb dispatch and the one path through
 * which every verb talks to the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"

static const struct verb verbs[] = {
	{ "ping", cmd_ping, "ping" },
	{ "health", cmd_health, "health" },
	{ "submit", cmd_submit, "submit TYPE [PAYLOAD|-] [--queue Q] "
	    "[--timeout S] [--retries N] [--delay S]\n"
	    "                [--job-id ID] [--unique-key K] [--limit-key K]\n"
	    "                [--callback-url URL] [--wait] [--wait-timeout S]\n"
	    "                [--depends-on ID]... [--on-dep-failure "
	    "cancel|run|hold] [--batch ID]" },
	{ "status", cmd_status, "status ID" },
	{ "result", cmd_result, "result ID" },
	{ "wait", cmd_wait, "wait ID [--timeout S]" },
	{ "cancel", cmd_cancel, "cancel ID" },
	{ "requeue", cmd_requeue, "requeue ID | --all-failed [--queue Q]" },
	{ "delete", cmd_delete, "delete ID" },
	{ "list", cmd_list, "list [--status S] [--queue Q] [--type T] "
	    "[--limit N] [--offset N]" },
	{ "stats", cmd_stats, "stats" },
	{ "workers", cmd_workers, "workers" },
	{ "limits", cmd_limits, "limits" },
	{ "pause", cmd_pause, "pause QUEUE" },
	{ "resume", cmd_resume, "resume QUEUE" },
	{ "reload", cmd_reload, "reload" },
	{ "cron", cmd_cron, "cron" },
	{ "batch", cmd_batch, "batch open [DESCRIPTION] [--callback JSON] | "
	    "batch show ID | batch seal ID" },
	{ "passwd", cmd_passwd, "passwd USER [--role admin|viewer]" },
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: jobctl [-s SOCKET] [--json] VERB [ARGS...]\n"
	    "       jobctl --help | --version\n\nverbs:\n");
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(f, "  %s\n", verbs[i].usage);
	fprintf(f, "\noptions:\n"
	    "  -s, --socket SOCKET  the daemon's socket (default: $JOBD_SOCKET,"
	    " else %s)\n"
	    "  --json               print the daemon's JSON responses\n"
	    "  -h, --help           this help\n"
	    "  --version            print the version\n\n"
	    "exit status: 0 success, 1 error, 2 usage error, 3 the waited-for"
	    " job failed or was canceled\n", JC_DEFAULT_SOCKET);
}

void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("jobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'jobctl --help'.\n", stderr);
}

/* usage_verb: help for one verb, on stdout (asked for with -h). */
int
usage_verb(const char *verb)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (strcmp(verbs[i].name, verb) == 0)
			printf("usage: jobctl [-s SOCKET] [--json] %s\n",
			    verbs[i].usage);
	return EXIT_OK;
}

/*
 * verb_common_opt: handle an option every verb takes.  Returns -1 if opt
 * is not one, 0 when handled, else an exit status (EXIT_DONE after help).
 */
int
verb_common_opt(struct jobctl *ctl, int opt, const char *verb)
{
	switch (opt) {
	case OPT_JSON:
		ctl->json = 1;
		return 0;
	case 'h':
		usage_verb(verb);
		return EXIT_DONE;
	case '?':
		usage_error("%s: bad usage", verb);
		return EXIT_USAGE;
	default:
		return -1;
	}
}

/* verb_args: parse a verb that takes only the common options and exactly
 * nargs arguments, left at argv[optind]. */
int
verb_args(struct jobctl *ctl, int argc, char **argv, int nargs,
    const char *what)
{
	static const struct option opts[] = { COMMON_OPTS, { 0 } };
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if ((rc = verb_common_opt(ctl, c, argv[0])) != 0)
			return rc < 0 ? EXIT_USAGE : rc;
	}
	if (argc - optind != nargs) {
		usage_error("%s: expected %s", argv[0], what);
		return EXIT_USAGE;
	}
	return 0;
}

int
parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 ||
	    v > 1e9)
		return -1;
	*out = v;
	return 0;
}

int
parse_count(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* ctl_client: connect on first use; 0 or an exit status. */
int
ctl_client(struct jobctl *ctl)
{
	int rc;

	if (ctl->jc != NULL)
		return 0;
	rc = jc_open(ctl->socket, &ctl->jc);
	if (rc == JC_OK)
		return 0;
	if (ctl->jc == NULL) {
		fprintf(stderr, "jobctl: %s: %s\n", jc_code_name(rc),
		    jc_strerror(rc));
		return EXIT_ERR;
	}
	return ctl_fail(ctl, rc);
}

/* ctl_fail: report the handle's last error; returns EXIT_ERR. */
int
ctl_fail(struct jobctl *ctl, int err)
{
	const char *msg = ctl->jc != NULL ? jc_errmsg(ctl->jc) : "";
	char *safe = text_escape(*msg != '\0' ? msg : jc_strerror(err));

	/* The daemon's message may quote what a handler or client wrote. */
	fprintf(stderr, "jobctl: %s: %s\n", jc_code_name(err),
	    safe != NULL ? safe : jc_strerror(err));
	free(safe);
	return EXIT_ERR;
}

/*
 * ctl_request: send req (consumed) and parse the reply into *resp.
 * Returns 0, or an exit status after reporting the error (with --json
 * the daemon's error response is printed too).
 */
int
ctl_request(struct jobctl *ctl, json_t *req, json_t **resp)
{
	char *text, *out = NULL;
	const char *held;
	int rc;

	*resp = NULL;
	if ((rc = ctl_client(ctl)) != 0) {
		json_decref(req);
		return rc;
	}
	text = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (text == NULL) {
		fputs("jobctl: out of memory\n", stderr);
		return EXIT_ERR;
	}
	rc = jc_call(ctl->jc, text, &out);
	free(text);
	if (out != NULL) {
		*resp = json_loads(out, 0, NULL);
		jc_free(out);
		if (*resp != NULL)
			json_object_del(*resp, "id");
		/* Human output shows what handlers wrote: made safe here, once. */
		if (*resp != NULL && !ctl->json && json_escape_text(*resp) == -1) {
			json_decref(*resp);
			*resp = NULL;
		}
	}
	if (rc == JC_OK && *resp != NULL)
		return 0;
	if (rc == JC_OK) {
		fputs("jobctl: protocol: unreadable response\n", stderr);
		return EXIT_ERR;
	}
	if (ctl->json && *resp != NULL)
		print_json(*resp);
	held = jstr(*resp, "job_id");
	if (rc == JC_ERR_CONFLICT && held != NULL) {
		char *safe = text_escape(jc_errmsg(ctl->jc));
		char *by = text_escape(held);

		fprintf(stderr, "jobctl: conflict: %s (held by %s)\n",
		    safe != NULL ? safe : "", by != NULL ? by : "?");
		free(safe);
		free(by);
	} else if (rc == JC_ERR_IN_DOUBT && held != NULL) {
		char *safe = text_escape(jc_errmsg(ctl->jc));
		char *id = text_escape(held);

		fprintf(stderr, "jobctl: in_doubt: %s (look up job %s before "
		    "submitting again)\n", safe != NULL ? safe : "",
		    id != NULL ? id : "?");
		free(safe);
		free(id);
	} else
		ctl_fail(ctl, rc);
	json_decref(*resp);
	*resp = NULL;
	return EXIT_ERR;
}

/* take_arg: the value of -s/--socket given as "-sX", "--socket=X" or as
 * the next argument; NULL when missing. */
static const char *
take_arg(int argc, char **argv, int *i, const char *arg, size_t prefix)
{
	if (arg[prefix] == '=')
		return arg + prefix + 1;
	if (arg[prefix] != '\0')
		return prefix == 2 ? arg + 2 : NULL;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

int
main(int argc, char **argv)
{
	struct jobctl ctl = { 0 };
	const char *arg;
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		} else if (strcmp(arg, "--json") == 0) {
			ctl.json = 1;
		} else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(arg, "--version") == 0) {
			printf("jobctl %s (libjobclient %s)\n",
			    JC_VERSION_STRING, jc_version());
			return EXIT_OK;
		} else if (strncmp(arg, "-s", 2) == 0 ||
		    strncmp(arg, "--socket", 8) == 0) {
			size_t prefix = arg[1] == 's' ? 2 : 8;

			if (prefix == 8 && arg[8] != '\0' && arg[8] != '=') {
				usage_error("unknown option '%s'", arg);
				return EXIT_USAGE;
			}
			if ((ctl.socket = take_arg(argc, argv, &i, arg,
			    prefix)) == NULL || *ctl.socket == '\0') {
				usage_error("option '%s' needs a socket path",
				    arg);
				return EXIT_USAGE;
			}
		} else {
			usage_error("unknown option '%s'", arg);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t v = 0; v < NVERBS; v++) {
		if (strcmp(verbs[v].name, argv[i]) != 0)
			continue;
		rc = verbs[v].run(&ctl, argc - i, argv + i);
		jc_close(ctl.jc);
		return rc;
	}
	usage_error("unknown verb '%s'", argv[i]);
	return EXIT_USAGE;
}
