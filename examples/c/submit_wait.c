/*
 * submit_wait.c: the smallest complete libjobclient program.  Submits one
 * job and waits for its end, printing the job record.
 *
 *   cc submit_wait.c $(pkg-config --cflags --libs libjobclient) -o submit_wait
 *   ./submit_wait jobd.echo '{"hello": "world"}'
 *
 * The socket comes from $JOBD_SOCKET (or the default path).  Exit status:
 * 0 finished, 3 failed or canceled, 1 any other error.
 */
#include <stdio.h>
#include <string.h>

#include <jobclient.h>

int
main(int argc, char **argv)
{
	const char *type = argc > 1 ? argv[1] : "jobd.echo";
	const char *payload = argc > 2 ? argv[2] : "{}";
	jc_client *c;
	char *id = NULL, *job = NULL;
	int rc;

	/* A handle comes back even when the daemon is down: read its error. */
	if (jc_open(NULL, &c) != JC_OK) {
		fprintf(stderr, "submit_wait: %s\n",
		    c != NULL ? jc_errmsg(c) : "out of memory");
		jc_close(c);
		return 1;
	}
	rc = jc_submit(c, type, payload, "{\"timeout\": 60}", &id);
	if (rc != JC_OK) {
		fprintf(stderr, "submit_wait: %s: %s\n", jc_code_name(rc),
		    jc_errmsg(c));
		jc_free(id);
		jc_close(c);
		return 1;
	}
	printf("submitted %s\n", id);
	rc = jc_wait(c, id, 60.0, &job);
	if (rc == JC_OK)
		printf("%s\n", job);
	else
		fprintf(stderr, "submit_wait: %s: %s\n", jc_code_name(rc),
		    jc_errmsg(c));
	/* The wait response holds the record: did the job succeed? */
	if (rc == JC_OK && strstr(job, "\"status\":\"finished\"") == NULL)
		rc = 3;
	jc_free(job);
	jc_free(id);
	jc_close(c);
	return rc == JC_OK ? 0 : rc == 3 ? 3 : 1;
}
