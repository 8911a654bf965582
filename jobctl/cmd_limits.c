/*
 * cmd_limits.c: the limits verb: each [limit:NAME] with its settings and
 * its state in Redis (docs/jobctl.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"

/* num_or_dash: an integer field, or "-" when null or absent. */
static const char *
num_or_dash(json_t *o, const char *k, char *buf, size_t len)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		return "-";
	snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	return buf;
}

static const char *
str_or_dash(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "-";
}

int
cmd_limits(struct jobctl *ctl, int argc, char **argv)
{
	json_t *resp, *all, *row;
	const char *name;
	char a[24], b[24];
	int rc;

	if ((rc = verb_args(ctl, argc, argv, 0, "no arguments")) != 0)
		return rc == EXIT_DONE ? EXIT_OK : rc;
	if ((rc = ctl_request(ctl, json_pack("{ss}", "op", "limits"), &resp))
	    != 0 || resp == NULL)
		return rc;
	if (ctl->json) {
		print_json(resp);
		json_decref(resp);
		return EXIT_OK;
	}
	all = json_object_get(resp, "limits");
	if (json_object_size(all) == 0) {
		puts("no limits");
		json_decref(resp);
		return EXIT_OK;
	}
	printf("%-20s %11s %8s %8s %6s %7s %6s  %s\n", "LIMIT", "CONCURRENCY",
	    "RUNNING", "RATE", "BURST", "PARKED", "KEYS", "NEXT");
	json_object_foreach(all, name, row) {
		printf("%-20s %11s %8lld %8s %6s %7lld %6lld  %s%s\n", name,
		    num_or_dash(row, "concurrency", a, sizeof(a)),
		    (long long)json_integer_value(json_object_get(row,
		    "running")), str_or_dash(row, "rate"),
		    num_or_dash(row, "burst", b, sizeof(b)),
		    (long long)json_integer_value(json_object_get(row,
		    "parked")), (long long)json_integer_value(json_object_get(row,
		    "keys")), str_or_dash(row, "next_at"),
		    json_is_true(json_object_get(row, "configured")) ? "" :
		    "  (not configured here)");
	}
	json_decref(resp);
	return EXIT_OK;
}
