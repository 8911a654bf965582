/*
 * cmd_cron.c: the cron verb: the daemon's periodic jobs ([cron:NAME]),
 * each with its last run (from Redis) and its next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"

int
cmd_cron(struct jobctl *ctl, int argc, char **argv)
{
	static const char *const head[] = { "NAME", "SCHEDULE", "TIMEZONE",
	    "TYPE", "LAST", "LAST JOB STATUS", "NEXT" };
	json_t *resp, *s;
	struct table *t;
	size_t i;
	int rc;

	if ((rc = verb_args(ctl, argc, argv, 0, "no arguments")) != 0)
		return rc == EXIT_DONE ? EXIT_OK : rc;
	if ((rc = ctl_request(ctl, json_pack("{ss}", "op", "cron_list"),
	    &resp)) != 0 || resp == NULL)
		return rc;
	if (ctl->json) {
		print_json(resp);
		json_decref(resp);
		return EXIT_OK;
	}
	t = table_new(7, head);
	json_array_foreach(json_object_get(resp, "schedules"), i, s) {
		const char *row[7] = {
			jstr(s, "name"), jstr(s, "schedule"), jstr(s, "timezone"),
			jstr(s, "type"), jstr(s, "last"), jstr(s, "last_status"),
			jstr(s, "next"),
		};
		char *esc[7];

		for (int k = 0; k < 7; k++) {
			esc[k] = text_escape(row[k] != NULL && row[k][0] != '\0' ?
			    row[k] : "-");
			row[k] = esc[k] != NULL ? esc[k] : "?";
		}
		table_add(t, row);
		for (int k = 0; k < 7; k++)
			free(esc[k]);
	}
	table_print(t);
	table_free(t);
	json_decref(resp);
	return EXIT_OK;
}
