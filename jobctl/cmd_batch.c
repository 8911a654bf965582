/*
 * cmd_batch.c: the batch verb (docs/jobctl.md): batch open, batch show,
 * batch seal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"

enum { OPT_CALLBACK = OPT_JSON + 1 };

/* The job statuses a batch counts, in the order shown. */
static const char *const counted[] = {
	"deferred", "queued", "scheduled", "started", "finished", "failed",
	"canceled", "pending",
};

static void
show_batch(json_t *b)
{
	json_t *counts = json_object_get(b, "counts");
	const char *sep = "";

	printf("%s %s\n", jstr(b, "batch_id") ? jstr(b, "batch_id") : "?",
	    jstr(b, "status") ? jstr(b, "status") : "?");
	if (jstr(b, "description") && *jstr(b, "description")) {
		char *d = text_escape(jstr(b, "description"));

		printf("  description: %s\n", d ? d : "?");
		free(d);
	}
	printf("  jobs: %lld (", (long long)json_integer_value(
	    json_object_get(b, "total")));
	for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
		json_t *n = json_object_get(counts, counted[i]);

		if (json_integer_value(n) > 0) {
			printf("%s%s %lld", sep, counted[i],
			    (long long)json_integer_value(n));
			sep = ", ";
		}
	}
	printf(")\n");
	if (jstr(b, "callback_job_id"))
		printf("  callback: %s\n", jstr(b, "callback_job_id"));
	if (jstr(b, "created_at"))
		printf("  opened: %s\n", jstr(b, "created_at"));
	if (jstr(b, "sealed_at"))
		printf("  sealed: %s\n", jstr(b, "sealed_at"));
	if (jstr(b, "ended_at"))
		printf("  ended:  %s\n", jstr(b, "ended_at"));
}

int
cmd_batch(struct jobctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "callback", required_argument, NULL, OPT_CALLBACK },
		{ 0 }
	};
	const char *callback = NULL, *what;
	json_t *req = NULL, *resp, *cb;
	json_error_t jerr;
	int c, rc, nargs;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_CALLBACK) {
			callback = optarg;
			continue;
		}
		if ((rc = verb_common_opt(ctl, c, argv[0])) != 0)
			return rc < 0 ? EXIT_USAGE : rc == EXIT_DONE ? EXIT_OK : rc;
	}
	nargs = argc - optind;
	what = nargs > 0 ? argv[optind] : "";
	if (strcmp(what, "open") == 0 && nargs <= 2) {
		req = json_pack("{ss}", "op", "batch_open");
		if (nargs == 2)
			json_object_set_new(req, "description",
			    json_string(argv[optind + 1]));
		if (callback != NULL) {
			if ((cb = json_loads(callback, 0, &jerr)) == NULL) {
				usage_error("batch: --callback: %s", jerr.text);
				json_decref(req);
				return EXIT_USAGE;
			}
			json_object_set_new(req, "callback", cb);
		}
	} else if ((strcmp(what, "show") == 0 || strcmp(what, "seal") == 0) &&
	    nargs == 2 && callback == NULL) {
		req = json_pack("{ssss}", "op", *what == 's' && what[1] == 'h' ?
		    "batch_get" : "batch_seal", "batch_id", argv[optind + 1]);
	} else {
		usage_error("batch: expected open [DESCRIPTION] [--callback "
		    "JSON], show ID or seal ID");
		return EXIT_USAGE;
	}
	if ((rc = ctl_request(ctl, req, &resp)) != 0)
		return rc;
	if (ctl->json)
		print_json(resp);
	else if (strcmp(what, "open") == 0)
		printf("%s%s%s\n", jstr(resp, "batch_id"),
		    jstr(resp, "callback_job_id") ? " callback " : "",
		    jstr(resp, "callback_job_id") ? jstr(resp,
		    "callback_job_id") : "");
	else if (strcmp(what, "seal") == 0)
		printf("%s %s\n", argv[optind + 1], jstr(resp, "status"));
	else
		show_batch(resp);
	json_decref(resp);
	return EXIT_OK;
}
