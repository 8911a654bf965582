/* test_request.c: request parsing and validation (docs/protocol.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "proto.h"
#include "request.h"

static struct config *cfg;
static struct request req;
static char err[512];

static const char conf[] =
	"[jobd]\n"
	"queues = high, default, low\n"
	"max_wait = 60\n"
	"result_ttl = 1000\n"
	"failure_ttl = 2000\n"
	"[type:gen]\n"
	"handler = exec\n"
	"command = /bin/true\n"
	"queue = high\n"
	"timeout = 600\n"
	"retries = 2\n";

static int
setup(void **state)
{
	(void)state;
	cfg = config_load_string(conf, "test.conf", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("config: %s", err);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	request_clear(&req);
	config_free(cfg);
	return 0;
}

/* parse: one request text, the previous one cleared. */
static int
parse(const char *json)
{
	request_clear(&req);
	err[0] = '\0';
	return request_parse(json, strlen(json), cfg, &req, err, sizeof(err));
}

static void
expect(const char *json, int code, const char *needle)
{
	int rc = parse(json);

	if (rc != code)
		fail_msg("%s: got %s (%s), want %s", json, proto_err_name(rc), err,
		    proto_err_name(code));
	if (needle != NULL && strstr(err, needle) == NULL)
		fail_msg("%s: '%s' not in: %s", json, needle, err);
	if (code != PERR_OK && err[0] == '\0')
		fail_msg("%s: no message", json);
}

static void
test_valid_ops(void **state)
{
	static const struct {
		const char *json;
		enum op op;
	} cases[] = {
		{ "{\"op\":\"hello\"}", OP_HELLO },
		{ "{\"op\":\"ping\"}", OP_PING },
		{ "{\"op\":\"stats\",\"junk\":[1,2]}", OP_STATS },
		{ "{\"op\":\"submit\",\"type\":\"gen\"}", OP_SUBMIT },
		{ "{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\"}]}",
		    OP_SUBMIT_MANY },
		{ "{\"op\":\"get\",\"job_id\":\"j_1\"}", OP_GET },
		{ "{\"op\":\"result\",\"job_id\":\"j_1\"}", OP_RESULT },
		{ "{\"op\":\"wait\",\"job_id\":\"j_1\"}", OP_WAIT },
		{ "{\"op\":\"cancel\",\"job_id\":\"j_1\"}", OP_CANCEL },
		{ "{\"op\":\"requeue\",\"job_id\":\"j_1\"}", OP_REQUEUE },
		{ "{\"op\":\"requeue\",\"all_failed\":true}", OP_REQUEUE },
		{ "{\"op\":\"list\"}", OP_LIST },
		{ "{\"op\":\"pause\",\"queue\":\"low\"}", OP_PAUSE },
		{ "{\"op\":\"resume\",\"queue\":\"low\"}", OP_RESUME },
		{ "{\"op\":\"progress\",\"job_id\":\"j_1\",\"percent\":40}",
		    OP_PROGRESS },
		{ "{\"op\":\"cron_list\"}", OP_CRON_LIST },
		{ "{\"op\":\"get\",\"job_id\":\"cron:a:2026-12-05T09:00:00Z\"}",
		    OP_GET },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect(cases[i].json, PERR_OK, NULL);
		assert_int_equal(req.op, cases[i].op);
		assert_null(req.id);
	}
	for (int op = 0; op < OP__COUNT; op++)
		assert_string_not_equal(op_name((enum op)op), "unknown");
	assert_string_equal(op_name(OP_SUBMIT_MANY), "submit_many");
	assert_string_equal(op_name(OP__COUNT), "unknown");
}

static void
test_op_fields(void **state)
{
	(void)state;
	expect("{\"op\":\"wait\",\"job_id\":\"j_1\"}", PERR_OK, NULL);
	assert_string_equal(req.job_id, "j_1");
	assert_true(req.timeout == 30);
	expect("{\"op\":\"wait\",\"job_id\":\"j_1\",\"timeout\":0.25}", PERR_OK,
	    NULL);
	assert_true(req.timeout == 0.25);
	expect("{\"op\":\"wait\",\"job_id\":\"j_1\",\"timeout\":0}", PERR_OK,
	    NULL);
	assert_true(req.timeout == 0);
	/* capped at max_wait, not refused */
	expect("{\"op\":\"wait\",\"job_id\":\"j_1\",\"timeout\":1e9}", PERR_OK,
	    NULL);
	assert_true(req.timeout == 60);

	expect("{\"op\":\"requeue\",\"all_failed\":true,\"queue\":\"high\"}",
	    PERR_OK, NULL);
	assert_true(req.all_failed);
	assert_string_equal(req.queue, "high");
	assert_null(req.job_id);
	expect("{\"op\":\"requeue\",\"all_failed\":true}", PERR_OK, NULL);
	assert_null(req.queue);
	expect("{\"op\":\"requeue\",\"job_id\":\"x\",\"all_failed\":false}",
	    PERR_OK, NULL);
	assert_false(req.all_failed);
	assert_string_equal(req.job_id, "x");

	expect("{\"op\":\"list\"}", PERR_OK, NULL);
	assert_null(req.status);
	assert_null(req.queue);
	assert_null(req.type);
	assert_int_equal(req.offset, 0);
	assert_int_equal(req.limit, 100);
	expect("{\"op\":\"list\",\"status\":\"failed\",\"queue\":\"low\","
	    "\"type\":\"gone.type\",\"offset\":20,\"limit\":1000}", PERR_OK,
	    NULL);
	assert_string_equal(req.status, "failed");
	assert_string_equal(req.queue, "low");
	assert_string_equal(req.type, "gone.type");
	assert_int_equal(req.offset, 20);
	assert_int_equal(req.limit, 1000);
	expect("{\"op\":\"list\",\"limit\":5.0,\"status\":null}", PERR_OK, NULL);
	assert_int_equal(req.limit, 5);
	assert_null(req.status);

	expect("{\"op\":\"progress\",\"job_id\":\"j\",\"percent\":100,"
	    "\"message\":\"done\"}", PERR_OK, NULL);
	assert_true(req.percent == 100);
	assert_string_equal(req.message, "done");
	expect("{\"op\":\"pause\",\"queue\":\"default\"}", PERR_OK, NULL);
	assert_string_equal(req.queue, "default");
}

/* every field of every op with a wrong value */
static const struct bad {
	const char *json;
	int code;
	const char *needle;
} bad_cases[] = {
	/* submit */
	{ "{\"op\":\"submit\"}", PERR_BAD_REQUEST, "missing 'type'" },
	{ "{\"op\":\"submit\",\"type\":7}", PERR_BAD_REQUEST,
	  "'type' must be a string" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"meta\":[]}", PERR_BAD_REQUEST,
	  "'meta' must be an object" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"meta\":\"x\"}", PERR_BAD_REQUEST,
	  "'meta'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"queue\":1}", PERR_BAD_REQUEST,
	  "'queue' must be a string" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"queue\":\"nope\"}",
	  PERR_BAD_REQUEST, "'queue': no queue 'nope'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"timeout\":\"5\"}",
	  PERR_BAD_REQUEST, "submit: 'timeout' must be a positive number" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"timeout\":0}", PERR_BAD_REQUEST,
	  "submit: 'timeout' must be a positive number" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"timeout\":-1}", PERR_BAD_REQUEST,
	  "'timeout'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"timeout\":604801}",
	  PERR_BAD_REQUEST, "'timeout' must be at most" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"timeout\":true}",
	  PERR_BAD_REQUEST, "'timeout'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"retries\":1.5}",
	  PERR_BAD_REQUEST, "'retries' must be an integer" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"retries\":-1}",
	  PERR_BAD_REQUEST, "'retries'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"retries\":101}",
	  PERR_BAD_REQUEST, "'retries'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"retries\":\"2\"}",
	  PERR_BAD_REQUEST, "'retries'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"job_id\":5}", PERR_BAD_REQUEST,
	  "'job_id' must be a string" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"job_id\":\"a b\"}",
	  PERR_BAD_REQUEST, "'job_id' must be 1 to 128" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"job_id\":\"\"}",
	  PERR_BAD_REQUEST, "'job_id'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"unique_key\":[]}",
	  PERR_BAD_REQUEST, "'unique_key' must be a string" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"unique_key\":\"\"}",
	  PERR_BAD_REQUEST, "'unique_key' must be 1 to 256" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"delay\":-1}", PERR_BAD_REQUEST,
	  "'delay'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"delay\":\"1\"}",
	  PERR_BAD_REQUEST, "'delay'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"delay\":31536001}",
	  PERR_BAD_REQUEST, "'delay' must be at most" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"run_at\":5}", PERR_BAD_REQUEST,
	  "'run_at' must be an ISO-8601 time" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"run_at\":\"tomorrow\"}",
	  PERR_BAD_REQUEST, "'run_at'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"delay\":1,"
	  "\"run_at\":\"2025-01-01T00:00:00Z\"}", PERR_BAD_REQUEST,
	  "'delay' or 'run_at', not both" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"run_at\":\"9999-12-31T00:00:00Z\"}",
	  PERR_BAD_REQUEST, "'run_at' must be at most 31536000 seconds" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"result_ttl\":-1}",
	  PERR_BAD_REQUEST, "'result_ttl'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"result_ttl\":0.5}",
	  PERR_BAD_REQUEST, "'result_ttl'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"result_ttl\":31536001}",
	  PERR_BAD_REQUEST, "'result_ttl'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"failure_ttl\":\"x\"}",
	  PERR_BAD_REQUEST, "'failure_ttl'" },
	/* submit_many */
	{ "{\"op\":\"submit_many\"}", PERR_BAD_REQUEST, "missing 'jobs'" },
	{ "{\"op\":\"submit_many\",\"jobs\":{}}", PERR_BAD_REQUEST,
	  "'jobs' must be an array" },
	{ "{\"op\":\"submit_many\",\"jobs\":[]}", PERR_BAD_REQUEST,
	  "'jobs' must hold 1 to 10000" },
	{ "{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\"},3]}",
	  PERR_BAD_REQUEST, "jobs[1]: must be an object" },
	{ "{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\"},{\"type\":"
	  "\"gen\"},{\"type\":\"gen\"},{\"type\":\"gen\",\"timeout\":0}]}",
	  PERR_BAD_REQUEST, "jobs[3]: 'timeout' must be a positive number" },
	{ "{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\"},"
	  "{\"type\":\"nope\"}]}", PERR_UNKNOWN_TYPE,
	  "jobs[1]: no handler for type 'nope'" },
	{ "{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\",\"job_id\":\"a\"},"
	  "{\"type\":\"gen\",\"job_id\":\"a\"}]}", PERR_BAD_REQUEST,
	  "jobs[1]: 'job_id' repeats" },
	/* get, result, cancel, wait */
	{ "{\"op\":\"get\"}", PERR_BAD_REQUEST, "missing 'job_id'" },
	{ "{\"op\":\"get\",\"job_id\":null}", PERR_BAD_REQUEST,
	  "missing 'job_id'" },
	{ "{\"op\":\"get\",\"job_id\":1}", PERR_BAD_REQUEST,
	  "get: 'job_id' must be a string" },
	{ "{\"op\":\"result\",\"job_id\":{}}", PERR_BAD_REQUEST,
	  "result: 'job_id'" },
	{ "{\"op\":\"cancel\",\"job_id\":\"x/y\"}", PERR_BAD_REQUEST,
	  "cancel: 'job_id' must be 1 to 128" },
	{ "{\"op\":\"wait\"}", PERR_BAD_REQUEST, "wait: missing 'job_id'" },
	{ "{\"op\":\"wait\",\"job_id\":\"j\",\"timeout\":-0.5}",
	  PERR_BAD_REQUEST, "wait: 'timeout'" },
	{ "{\"op\":\"wait\",\"job_id\":\"j\",\"timeout\":\"5\"}",
	  PERR_BAD_REQUEST, "wait: 'timeout'" },
	/* requeue */
	{ "{\"op\":\"requeue\"}", PERR_BAD_REQUEST, "missing 'job_id'" },
	{ "{\"op\":\"requeue\",\"all_failed\":false}", PERR_BAD_REQUEST,
	  "missing 'job_id'" },
	{ "{\"op\":\"requeue\",\"all_failed\":1}", PERR_BAD_REQUEST,
	  "'all_failed' must be a boolean" },
	{ "{\"op\":\"requeue\",\"all_failed\":true,\"queue\":\"zz\"}",
	  PERR_BAD_REQUEST, "'queue'" },
	{ "{\"op\":\"requeue\",\"all_failed\":true,\"queue\":3}",
	  PERR_BAD_REQUEST, "'queue' must be a string" },
	{ "{\"op\":\"requeue\",\"all_failed\":true,\"job_id\":\"j\"}",
	  PERR_BAD_REQUEST, "not both" },
	{ "{\"op\":\"requeue\",\"job_id\":[]}", PERR_BAD_REQUEST, "'job_id'" },
	/* list */
	{ "{\"op\":\"list\",\"status\":\"done\"}", PERR_BAD_REQUEST,
	  "list: 'status' must be queued" },
	{ "{\"op\":\"list\",\"status\":1}", PERR_BAD_REQUEST,
	  "'status' must be a string" },
	{ "{\"op\":\"list\",\"queue\":\"zz\"}", PERR_BAD_REQUEST, "'queue'" },
	{ "{\"op\":\"list\",\"type\":false}", PERR_BAD_REQUEST, "'type'" },
	{ "{\"op\":\"list\",\"type\":\"a b\"}", PERR_BAD_REQUEST, "'type'" },
	{ "{\"op\":\"list\",\"offset\":-1}", PERR_BAD_REQUEST, "'offset'" },
	{ "{\"op\":\"list\",\"offset\":\"0\"}", PERR_BAD_REQUEST, "'offset'" },
	{ "{\"op\":\"list\",\"limit\":0}", PERR_BAD_REQUEST, "'limit'" },
	{ "{\"op\":\"list\",\"limit\":1001}", PERR_BAD_REQUEST, "'limit'" },
	{ "{\"op\":\"list\",\"limit\":2.5}", PERR_BAD_REQUEST, "'limit'" },
	/* pause, resume */
	{ "{\"op\":\"pause\"}", PERR_BAD_REQUEST, "pause: missing 'queue'" },
	{ "{\"op\":\"pause\",\"queue\":7}", PERR_BAD_REQUEST,
	  "'queue' must be a string" },
	{ "{\"op\":\"resume\",\"queue\":\"zz\"}", PERR_BAD_REQUEST,
	  "resume: 'queue': no queue 'zz'" },
	/* progress */
	{ "{\"op\":\"progress\",\"percent\":5}", PERR_BAD_REQUEST,
	  "missing 'job_id'" },
	{ "{\"op\":\"progress\",\"job_id\":\"j\"}", PERR_BAD_REQUEST,
	  "missing 'percent'" },
	{ "{\"op\":\"progress\",\"job_id\":\"j\",\"percent\":\"5\"}",
	  PERR_BAD_REQUEST, "'percent' must be a number from 0 to 100" },
	{ "{\"op\":\"progress\",\"job_id\":\"j\",\"percent\":-1}",
	  PERR_BAD_REQUEST, "'percent'" },
	{ "{\"op\":\"progress\",\"job_id\":\"j\",\"percent\":100.5}",
	  PERR_BAD_REQUEST, "'percent'" },
	{ "{\"op\":\"progress\",\"job_id\":\"j\",\"percent\":1,\"message\":2}",
	  PERR_BAD_REQUEST, "'message' must be a string" },
	/* the envelope */
	{ "{}", PERR_BAD_REQUEST, "missing 'op'" },
	{ "{\"op\":5}", PERR_BAD_REQUEST, "'op' must be a string" },
	{ "{\"op\":null}", PERR_BAD_REQUEST, "'op' must be a string" },
	{ "{\"op\":\"foo\"}", PERR_UNKNOWN_OP, "unknown op 'foo'" },
	{ "{\"op\":\"submit\",\"type\":\"gen\",\"job_id\":\"cron:a:1\"}",
	  PERR_BAD_REQUEST, "'job_id': ids beginning with cron: are the "
	  "periodic jobs'" },
	{ "{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\","
	  "\"job_id\":\"cron:\"}]}", PERR_BAD_REQUEST, "ids beginning with "
	  "cron:" },
	{ "{\"op\":\"\"}", PERR_UNKNOWN_OP, "unknown op ''" },
	{ "{\"op\":\"SUBMIT\"}", PERR_UNKNOWN_OP, "unknown op 'SUBMIT'" },
	{ "{\"op\":\"submit\",\"type\":\"nope\"}", PERR_UNKNOWN_TYPE,
	  "no handler for type 'nope'" },
	{ "[1,2]", PERR_BAD_REQUEST, "must be a JSON object" },
	{ "42", PERR_BAD_REQUEST, "must be a JSON object" },
	{ "\"op\"", PERR_BAD_REQUEST, "must be a JSON object" },
	{ "null", PERR_BAD_REQUEST, "must be a JSON object" },
	{ "{\"op\":", PERR_BAD_JSON, "line 1" },
	{ "{\"op\":\"ping\"} x", PERR_BAD_JSON, NULL },
	{ "{'op':'ping'}", PERR_BAD_JSON, NULL },
	{ "{\"op\":\"p\\u0000ng\"}", PERR_BAD_JSON, NULL },
	{ "{\"op\":\"ping\",\"id\":[1]}", PERR_BAD_REQUEST,
	  "'id' must be a string, number, boolean or null" },
	{ "{\"op\":\"ping\",\"id\":{}}", PERR_BAD_REQUEST, "'id'" },
};

static void
test_bad_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		expect(bad_cases[i].json, bad_cases[i].code, bad_cases[i].needle);
}

static void
test_long_strings(void **state)
{
	char big[2048], field[1400];

	(void)state;
	memset(field, 'k', 257);
	field[257] = '\0';
	snprintf(big, sizeof(big), "{\"op\":\"submit\",\"type\":\"gen\","
	    "\"unique_key\":\"%s\"}", field);
	expect(big, PERR_BAD_REQUEST, "'unique_key' must be 1 to 256 bytes");
	field[256] = '\0';
	snprintf(big, sizeof(big), "{\"op\":\"submit\",\"type\":\"gen\","
	    "\"unique_key\":\"%s\"}", field);
	expect(big, PERR_OK, NULL);

	memset(field, 'i', 129);
	field[129] = '\0';
	snprintf(big, sizeof(big), "{\"op\":\"get\",\"job_id\":\"%s\"}", field);
	expect(big, PERR_BAD_REQUEST, "'job_id'");
	field[128] = '\0';
	snprintf(big, sizeof(big), "{\"op\":\"get\",\"job_id\":\"%s\"}", field);
	expect(big, PERR_OK, NULL);

	memset(field, 'm', 1025);
	field[1025] = '\0';
	snprintf(big, sizeof(big), "{\"op\":\"progress\",\"job_id\":\"j\","
	    "\"percent\":1,\"message\":\"%s\"}", field);
	expect(big, PERR_BAD_REQUEST, "'message' is longer than 1024");
	field[1024] = '\0';
	snprintf(big, sizeof(big), "{\"op\":\"progress\",\"job_id\":\"j\","
	    "\"percent\":1,\"message\":\"%s\"}", field);
	expect(big, PERR_OK, NULL);

	/* a long unknown op is cut short in the message */
	memset(field, 'o', 1000);
	field[1000] = '\0';
	snprintf(big, sizeof(big), "{\"op\":\"%s\"}", field);
	expect(big, PERR_UNKNOWN_OP, "...'");
	assert_true(strlen(err) < 120);
	/* and a non-ASCII one is kept printable */
	expect("{\"op\":\"\\u00e9t\\n\"}", PERR_UNKNOWN_OP, "unknown op '??t?'");
}

static void
test_submit_defaults(void **state)
{
	struct submit_spec *s;

	(void)state;
	expect("{\"op\":\"submit\",\"type\":\"gen\"}", PERR_OK, NULL);
	assert_int_equal(req.njobs, 1);
	s = &req.jobs[0];
	assert_string_equal(s->type, "gen");
	assert_string_equal(s->queue, "high");
	assert_true(s->timeout == 600);
	assert_int_equal(s->retries, 2);
	assert_true(json_is_object(s->payload) && json_object_size(s->payload) == 0);
	assert_true(json_is_object(s->meta) && json_object_size(s->meta) == 0);
	assert_null(s->job_id);
	assert_null(s->unique_key);
	assert_true(s->delay == 0);
	assert_int_equal(s->run_at_ms, -1);
	assert_int_equal(s->result_ttl, 1000);
	assert_int_equal(s->failure_ttl, 2000);

	/* builtins: queue "default", 60 s */
	expect("{\"op\":\"submit\",\"type\":\"jobd.echo\",\"payload\":[1]}",
	    PERR_OK, NULL);
	s = &req.jobs[0];
	assert_string_equal(s->queue, "default");
	assert_true(s->timeout == 60);
	assert_true(json_is_array(s->payload));

	/* every field given */
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"payload\":{\"idea\":\"x\"},"
	    "\"queue\":\"low\",\"timeout\":1.5,\"retries\":0,\"job_id\":\"mine-1\","
	    "\"unique_key\":\"story:1\",\"delay\":2.5,\"result_ttl\":0,"
	    "\"failure_ttl\":5,\"meta\":{\"by\":\"me\"},\"extra\":1,\"id\":7}",
	    PERR_OK, NULL);
	s = &req.jobs[0];
	assert_string_equal(s->queue, "low");
	assert_true(s->timeout == 1.5);
	assert_int_equal(s->retries, 0);
	assert_string_equal(s->job_id, "mine-1");
	assert_string_equal(s->unique_key, "story:1");
	assert_true(s->delay == 2.5);
	assert_int_equal(s->result_ttl, 0);
	assert_int_equal(s->failure_ttl, 5);
	assert_string_equal(json_string_value(json_object_get(s->payload,
	    "idea")), "x");
	assert_string_equal(json_string_value(json_object_get(s->meta, "by")),
	    "me");
	assert_int_equal(json_integer_value(req.id), 7);

	/* null is "absent" for optional fields; a null payload is kept */
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"payload\":null,"
	    "\"queue\":null,\"timeout\":null,\"meta\":null,\"delay\":null,"
	    "\"run_at\":\"2025-01-01T00:00:00Z\"}", PERR_OK, NULL);
	s = &req.jobs[0];
	assert_true(json_is_null(s->payload));
	assert_string_equal(s->queue, "high");
	assert_true(s->timeout == 600);
	assert_true(json_is_object(s->meta));
	assert_int_equal(s->run_at_ms, 1735689600000LL);

	/* submit_many: each job its own defaults */
	expect("{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\"},"
	    "{\"type\":\"jobd.noop\",\"queue\":\"low\"}]}", PERR_OK, NULL);
	assert_int_equal(req.njobs, 2);
	assert_string_equal(req.jobs[0].queue, "high");
	assert_string_equal(req.jobs[1].queue, "low");
	assert_true(json_is_object(req.jobs[1].payload));
}

static void
test_any_type(void **state)
{
	(void)state;
	expect("{\"op\":\"submit\",\"type\":\"free\"}", PERR_UNKNOWN_TYPE,
	    "no handler for type 'free'");
	cfg->accept_any_type = 1;
	expect("{\"op\":\"submit\",\"type\":\"free\"}", PERR_OK, NULL);
	assert_string_equal(req.jobs[0].queue, "default");
	assert_true(req.jobs[0].timeout == 180);
	assert_int_equal(req.jobs[0].retries, 0);
	expect("{\"op\":\"submit\",\"type\":\"free\",\"queue\":\"low\"}",
	    PERR_OK, NULL);
	assert_string_equal(req.jobs[0].queue, "low");
	expect("{\"op\":\"submit\",\"type\":\"has space\"}", PERR_BAD_REQUEST,
	    "'type' must be 1 to 64");
	expect("{\"op\":\"submit\",\"type\":\"\"}", PERR_BAD_REQUEST, "'type'");
	/* without a "default" queue, the first one */
	assert_int_equal(config_set(cfg, "jobd", "queues", "a,b", err,
	    sizeof(err)), 0);
	expect("{\"op\":\"submit\",\"type\":\"free\"}", PERR_OK, NULL);
	assert_string_equal(req.jobs[0].queue, "a");
	/* a type whose queue is gone falls back the same way */
	expect("{\"op\":\"submit\",\"type\":\"gen\"}", PERR_OK, NULL);
	assert_string_equal(req.jobs[0].queue, "a");
	assert_int_equal(config_set(cfg, "jobd", "queues", "high,default,low",
	    err, sizeof(err)), 0);
	cfg->accept_any_type = 0;
}

static void
test_bad_json(void **state)
{
	int rc;

	(void)state;
	rc = parse("{\"op\":\"ping\",\"id\":\"abc\",}");
	assert_int_equal(rc, PERR_BAD_JSON);
	assert_null(req.id);                /* never echoed from bad JSON */
	assert_null(req.root);
	assert_non_null(strstr(err, "column"));
	request_clear(&req);
	rc = request_parse("", 0, cfg, &req, err, sizeof(err));
	assert_int_equal(rc, PERR_BAD_JSON);
	rc = request_parse(NULL, 5, cfg, &req, err, sizeof(err));
	assert_int_equal(rc, PERR_BAD_JSON);
	/* bytes after a NUL: the length rules, not strlen */
	rc = request_parse("{\"op\":\"ping\"}\0junk", 18, cfg, &req, err,
	    sizeof(err));
	assert_int_equal(rc, PERR_BAD_JSON);
	rc = request_parse("{\"op\":\"ping\"}xx", 13, cfg, &req, err,
	    sizeof(err));
	assert_int_equal(rc, PERR_OK);
	/* invalid UTF-8 */
	assert_int_equal(parse("{\"op\":\"\xff\"}"), PERR_BAD_JSON);
	/* no config, no err buffer: still safe */
	request_clear(&req);
	rc = request_parse("{}", 2, NULL, &req, NULL, 0);
	assert_int_equal(rc, PERR_INTERNAL);
	rc = request_parse("{\"op\":1}", 8, cfg, &req, NULL, 0);
	assert_int_equal(rc, PERR_BAD_REQUEST);
	request_clear(&req);
	request_clear(NULL);
}

static void
test_id_echo(void **state)
{
	(void)state;
	expect("{\"op\":\"ping\",\"id\":\"r1\"}", PERR_OK, NULL);
	assert_string_equal(json_string_value(req.id), "r1");
	expect("{\"op\":\"ping\",\"id\":42}", PERR_OK, NULL);
	assert_int_equal(json_integer_value(req.id), 42);
	expect("{\"op\":\"ping\",\"id\":1.5}", PERR_OK, NULL);
	assert_true(json_real_value(req.id) == 1.5);
	expect("{\"op\":\"ping\",\"id\":true}", PERR_OK, NULL);
	assert_true(json_is_true(req.id));
	expect("{\"op\":\"ping\",\"id\":false}", PERR_OK, NULL);
	assert_true(json_is_false(req.id));
	expect("{\"op\":\"ping\",\"id\":null}", PERR_OK, NULL);
	assert_true(json_is_null(req.id));
	/* echoed on errors too */
	expect("{\"op\":\"nope\",\"id\":\"r2\"}", PERR_UNKNOWN_OP, NULL);
	assert_string_equal(json_string_value(req.id), "r2");
	expect("{\"id\":9,\"op\":\"get\"}", PERR_BAD_REQUEST, NULL);
	assert_int_equal(json_integer_value(req.id), 9);
	/* but never an array or object */
	expect("{\"op\":\"ping\",\"id\":[\"r3\"]}", PERR_BAD_REQUEST, "'id'");
	assert_null(req.id);
}

static char *
many_jobs(size_t n)
{
	static const char one[] = "{\"type\":\"jobd.noop\"},";
	size_t cap = 64 + n * (sizeof(one) - 1);
	char *s = malloc(cap);
	size_t off;

	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "{\"op\":\"submit_many\",\"jobs\":[");
	for (size_t i = 0; i < n; i++) {
		memcpy(s + off, one, sizeof(one) - 1);
		off += sizeof(one) - 1;
	}
	s[off - 1] = ']';
	s[off++] = '}';
	s[off] = '\0';
	return s;
}

static void
test_many_jobs(void **state)
{
	char *s;

	(void)state;
	s = many_jobs(REQUEST_MAX_JOBS);
	expect(s, PERR_OK, NULL);
	assert_int_equal(req.njobs, REQUEST_MAX_JOBS);
	assert_string_equal(req.jobs[REQUEST_MAX_JOBS - 1].type, "jobd.noop");
	free(s);
	s = many_jobs(REQUEST_MAX_JOBS + 1);
	expect(s, PERR_BAD_REQUEST, "'jobs' must hold 1 to 10000 jobs");
	free(s);
}

/* nested: a payload of depth arrays inside one another. */
static char *
nested(const char *field, int depth, const char *open, const char *close)
{
	size_t cap = 128 + (size_t)depth * 8;
	char *s = malloc(cap);
	size_t off;

	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "{\"op\":\"submit\",\"type\":\"gen\","
	    "\"%s\":", field);
	for (int i = 0; i < depth; i++)
		off += (size_t)snprintf(s + off, cap - off, "%s",
		    i == 0 && strcmp(field, "meta") == 0 ? "{\"k\":" : open);
	off += (size_t)snprintf(s + off, cap - off, "1");
	for (int i = depth - 1; i >= 0; i--)
		off += (size_t)snprintf(s + off, cap - off, "%s",
		    i == 0 && strcmp(field, "meta") == 0 ? "}" : close);
	snprintf(s + off, cap - off, "}");
	return s;
}

static void
test_depth(void **state)
{
	char *s;

	(void)state;
	s = nested("payload", REQUEST_MAX_DEPTH, "[", "]");
	expect(s, PERR_OK, NULL);
	free(s);
	s = nested("payload", REQUEST_MAX_DEPTH + 1, "[", "]");
	expect(s, PERR_BAD_REQUEST, "'payload' nests deeper than 64");
	free(s);
	s = nested("payload", REQUEST_MAX_DEPTH + 1, "{\"a\":", "}");
	expect(s, PERR_BAD_REQUEST, "'payload' nests deeper");
	free(s);
	s = nested("meta", REQUEST_MAX_DEPTH, "[", "]");
	expect(s, PERR_OK, NULL);
	free(s);
	s = nested("meta", REQUEST_MAX_DEPTH + 1, "[", "]");
	expect(s, PERR_BAD_REQUEST, "'meta' nests deeper than 64");
	free(s);
	/* deeper than jansson's own bound: bad JSON, no crash */
	s = nested("payload", 5000, "[", "]");
	expect(s, PERR_BAD_JSON, NULL);
	free(s);
}

/* run_at has delay's bound, measured from now: just inside is taken, just
 * outside is refused; a past time is taken as it is (the job runs now). */
static void
test_run_at_bound(void **state)
{
	char json[160], when[32];
	time_t t;
	struct tm tm;

	(void)state;
	t = time(NULL) + 365 * 86400 - 60;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(json, sizeof(json), "{\"op\":\"submit\",\"type\":\"gen\","
	    "\"run_at\":\"%s\"}", when);
	expect(json, PERR_OK, NULL);
	assert_int_equal(req.jobs[0].run_at_ms, (long long)t * 1000);

	t = time(NULL) + 365 * 86400 + 60;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(json, sizeof(json), "{\"op\":\"submit\",\"type\":\"gen\","
	    "\"run_at\":\"%s\"}", when);
	expect(json, PERR_BAD_REQUEST, "'run_at' must be at most");

	expect("{\"op\":\"submit\",\"type\":\"gen\","
	    "\"run_at\":\"2000-01-01T00:00:00Z\"}", PERR_OK, NULL);
	assert_int_equal(req.jobs[0].run_at_ms, 946684800000LL);
}

static void
test_parse_time(void **state)
{
	static const struct {
		const char *s;
		long long ms;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2025-01-01T12:00:00Z", 1735732800000LL },
		{ "2025-01-01T12:00:00.123Z", 1735732800123LL },
		{ "2025-01-01T12:00:00.1Z", 1735732800100LL },
		{ "2025-01-01T12:00:00.123456789Z", 1735732800123LL },
		{ "2025-01-01T12:00:00+01:00", 1735729200000LL },
		{ "2025-01-01T12:00:00-0230", 1735741800000LL },
		{ "2025-01-01t12:00:00z", 1735732800000LL },
		{ "2025-01-01 12:00:00", 1735732800000LL },
		{ "2024-02-29T00:00:00Z", 1709164800000LL },
		{ "2000-02-29T00:00:00Z", 951782400000LL },
		{ "9999-12-31T23:59:59Z", 253402300799000LL },
		{ "2025-02-29T00:00:00Z", -1 },
		{ "1900-02-29T00:00:00Z", -1 },
		{ "2025-13-01T00:00:00Z", -1 },
		{ "2025-00-01T00:00:00Z", -1 },
		{ "2025-01-32T00:00:00Z", -1 },
		{ "2025-04-31T00:00:00Z", -1 },
		{ "2025-01-01T24:00:00Z", -1 },
		{ "2025-01-01T12:60:00Z", -1 },
		{ "2025-01-01T12:00:61Z", -1 },
		{ "2025-01-01T12:00:00.Z", -1 },
		{ "2025-01-01T12:00:00.1234567890Z", -1 },
		{ "2025-01-01T12:00:00+24:00", -1 },
		{ "2025-01-01T12:00:00+01", -1 },
		{ "2025-01-01T12:00:00ZZ", -1 },
		{ "2025-01-01", -1 },
		{ "2025-1-01T12:00:00Z", -1 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "1970-01-01T00:00:00+00:01", -1 },
		{ "", -1 },
		{ "garbage", -1 },
		{ "+2025-01-01T12:00:00Z", -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long got = request_parse_time(cases[i].s);

		if (got != cases[i].ms)
			fail_msg("%s: got %lld, want %lld", cases[i].s, got,
			    cases[i].ms);
	}
	assert_int_equal(request_parse_time(NULL), -1);
}

static void
test_valid_id(void **state)
{
	char id[130];

	(void)state;
	assert_true(request_valid_id("j_01HF0000000000000000000000"));
	assert_true(request_valid_id("a.b:c-d_e"));
	assert_false(request_valid_id(""));
	assert_false(request_valid_id(NULL));
	assert_false(request_valid_id("a b"));
	assert_false(request_valid_id("a/b"));
	assert_false(request_valid_id("\xc3\xa9"));
	memset(id, 'x', 128);
	id[128] = '\0';
	assert_true(request_valid_id(id));
	id[128] = 'x';
	id[129] = '\0';
	assert_false(request_valid_id(id));
}

/* ---- the fuzz loop ----------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static const char *const seeds[] = {
	"{\"op\":\"submit\",\"type\":\"gen\",\"payload\":{\"a\":[1,2,{\"b\":null}]},"
	"\"queue\":\"low\",\"timeout\":5,\"retries\":1,\"job_id\":\"x\","
	"\"unique_key\":\"k\",\"delay\":1,\"result_ttl\":5,\"meta\":{},\"id\":1}",
	"{\"op\":\"submit_many\",\"jobs\":[{\"type\":\"gen\"},{\"type\":"
	"\"jobd.echo\",\"run_at\":\"2025-01-01T00:00:00.5+01:00\"}]}",
	"{\"op\":\"wait\",\"job_id\":\"j_1\",\"timeout\":2.5,\"id\":\"w\"}",
	"{\"op\":\"requeue\",\"all_failed\":true,\"queue\":\"high\"}",
	"{\"op\":\"list\",\"status\":\"failed\",\"queue\":\"low\",\"type\":\"t\","
	"\"offset\":1,\"limit\":10}",
	"{\"op\":\"progress\",\"job_id\":\"j\",\"percent\":50,\"message\":\"m\"}",
	"{\"op\":\"pause\",\"queue\":\"high\"}",
	"{\"op\":\"hello\",\"id\":[1]}",
};

static const char *const tokens[] = {
	"{", "}", "[", "]", ",", ":", "\"", "null", "true", "false", "-1",
	"1e308", "1e999", "0.5", "\"op\"", "\"submit\"", "\"jobs\"", "\"type\"",
	"\"gen\"", "\"id\"", "\\u0000", "\\ud800", "\xff", "\xc3", " ",
	"\"payload\"", "\"timeout\"", "\"run_at\"", "\"queue\"", "9999999999999999999",
};

static void
test_fuzz(void **state)
{
	char buf[4096];
	size_t len;
	int rc, counts[PERR__COUNT] = { 0 };

	(void)state;
	for (int i = 0; i < 10000; i++) {
		const char *seed = seeds[rnd() % (sizeof(seeds) / sizeof(seeds[0]))];
		int edits = 1 + (int)(rnd() % 8);

		len = strlen(seed);
		memcpy(buf, seed, len);
		if (i % 10 == 0) {                  /* pure noise */
			len = rnd() % 256;
			for (size_t j = 0; j < len; j++)
				buf[j] = (char)rnd();
			edits = 0;
		}
		for (int e = 0; e < edits; e++) {
			size_t pos = len ? rnd() % len : 0;

			switch (rnd() % 4) {
			case 0:                     /* flip a byte */
				if (len)
					buf[pos] = (char)rnd();
				break;
			case 1:                     /* delete a run */
				if (len) {
					size_t n = 1 + rnd() % 8;

					if (n > len - pos)
						n = len - pos;
					memmove(buf + pos, buf + pos + n,
					    len - pos - n);
					len -= n;
				}
				break;
			case 2: {                   /* insert a token */
				const char *t = tokens[rnd() %
				    (sizeof(tokens) / sizeof(tokens[0]))];
				size_t n = strlen(t);

				if (len + n < sizeof(buf)) {
					memmove(buf + pos + n, buf + pos, len - pos);
					memcpy(buf + pos, t, n);
					len += n;
				}
				break;
			}
			default:                    /* duplicate a slice */
				if (len && len * 2 < sizeof(buf)) {
					size_t n = rnd() % (len - pos + 1);

					memmove(buf + pos + n, buf + pos, len - pos);
					len += n;
				}
				break;
			}
		}
		request_clear(&req);
		rc = request_parse(buf, len, cfg, &req, err, sizeof(err));
		assert_true(rc >= PERR_OK && rc < PERR__COUNT);
		counts[rc]++;
		if (rc == PERR_OK) {
			if (req.op == OP_SUBMIT || req.op == OP_SUBMIT_MANY) {
				assert_true(req.njobs >= 1);
				for (size_t j = 0; j < req.njobs; j++) {
					assert_non_null(req.jobs[j].type);
					assert_non_null(req.jobs[j].queue);
					assert_true(req.jobs[j].timeout > 0);
				}
			}
		} else {
			assert_true(err[0] != '\0');
			/* the message can go into a JSON reply */
			json_t *m = json_string(err);

			assert_non_null(m);
			json_decref(m);
		}
		if (req.id != NULL)
			assert_false(json_is_array(req.id) ||
			    json_is_object(req.id));
	}
	request_clear(&req);
	/* the mutations reach past the JSON parser */
	assert_true(counts[PERR_OK] > 100);
	assert_true(counts[PERR_BAD_REQUEST] > 100);
	assert_true(counts[PERR_BAD_JSON] > 100);
}

/* delete {job_id} and reload {}, and who may run each op. */
static void
test_delete_reload(void **state)
{
	(void)state;
	expect("{\"op\":\"delete\",\"job_id\":\"j_1\"}", PERR_OK, NULL);
	assert_int_equal(req.op, OP_DELETE);
	assert_string_equal(req.job_id, "j_1");
	expect("{\"op\":\"delete\"}", PERR_BAD_REQUEST, "delete: missing "
	    "'job_id'");
	expect("{\"op\":\"delete\",\"job_id\":7}", PERR_BAD_REQUEST,
	    "'job_id' must be a string");
	expect("{\"op\":\"delete\",\"job_id\":\"a b\"}", PERR_BAD_REQUEST,
	    "'job_id' must be 1 to 128");
	expect("{\"op\":\"reload\"}", PERR_OK, NULL);
	assert_int_equal(req.op, OP_RELOAD);
	expect("{\"op\":\"reload\",\"id\":3,\"extra\":1}", PERR_OK, NULL);
	assert_string_equal(op_name(OP_DELETE), "delete");
	assert_string_equal(op_name(OP_RELOAD), "reload");

	assert_int_equal(op_access(OP_HELLO), ACCESS_OPEN);
	assert_int_equal(op_access(OP_PING), ACCESS_OPEN);
	assert_int_equal(op_access(OP_GET), ACCESS_OPEN);
	assert_int_equal(op_access(OP_RESULT), ACCESS_OPEN);
	assert_int_equal(op_access(OP_WAIT), ACCESS_OPEN);
	assert_int_equal(op_access(OP_LIST), ACCESS_OPEN);
	assert_int_equal(op_access(OP_STATS), ACCESS_OPEN);
	assert_int_equal(op_access(OP_SUBMIT), ACCESS_SUBMIT);
	assert_int_equal(op_access(OP_SUBMIT_MANY), ACCESS_SUBMIT);
	assert_int_equal(op_access(OP_PROGRESS), ACCESS_SUBMIT);
	assert_int_equal(op_access(OP_CANCEL), ACCESS_ADMIN);
	assert_int_equal(op_access(OP_REQUEUE), ACCESS_ADMIN);
	assert_int_equal(op_access(OP_DELETE), ACCESS_ADMIN);
	assert_int_equal(op_access(OP_PAUSE), ACCESS_ADMIN);
	assert_int_equal(op_access(OP_RESUME), ACCESS_ADMIN);
	assert_int_equal(op_access(OP_RELOAD), ACCESS_ADMIN);
	assert_int_equal(op_access(OP__COUNT), ACCESS_ADMIN);
}

/* The op table (optable.h): every row has a name, an access class, a
 * parser and a handler; names are unique and found again by lookup; a name
 * not in the table gets the unknown_op error clients have always had. */
static void
test_op_table(void **state)
{
	/* the rows as written, for the handler column, which request.c
	 * does not keep (ops.c does) */
	static const struct {
		const char *name, *parse, *handle;
	} rows[] = {
#define ROW(id, name, access, parse, handle) { name, #parse, #handle },
		OP_TABLE(ROW)
#undef ROW
	};

	(void)state;
	assert_int_equal(sizeof(rows) / sizeof(rows[0]), OP__COUNT);
	for (int i = 0; i < OP__COUNT; i++) {
		const struct op_def *d = op_def((enum op)i);
		char json[128];

		assert_non_null(d);
		assert_non_null(d->name);
		if (d->name[0] == '\0' || strlen(d->name) > 32)
			fail_msg("op %d: name '%s'", i, d->name);
		assert_string_equal(d->name, rows[i].name);
		assert_string_equal(op_name((enum op)i), d->name);
		assert_non_null(d->parse);
		if (strncmp(rows[i].parse, "parse_", 6) != 0 ||
		    strncmp(rows[i].handle, "op_", 3) != 0)
			fail_msg("op %s: parse %s, handle %s", d->name,
			    rows[i].parse, rows[i].handle);
		assert_true(d->access == ACCESS_OPEN ||
		    d->access == ACCESS_SUBMIT || d->access == ACCESS_ADMIN);
		assert_int_equal(op_access((enum op)i), d->access);
		for (int j = 0; j < i; j++)
			if (strcmp(op_def((enum op)j)->name, d->name) == 0)
				fail_msg("ops %d and %d are both '%s'", j, i,
				    d->name);
		assert_int_equal(op_lookup(d->name, strlen(d->name)), i);
		/* an embedded NUL is not the name */
		assert_int_equal(op_lookup(d->name, strlen(d->name) + 1), -1);
		/* the table is what request_parse reads */
		snprintf(json, sizeof(json), "{\"op\":\"%s\"}", d->name);
		if (parse(json) == PERR_UNKNOWN_OP)
			fail_msg("%s: %s", json, err);
		assert_int_equal(req.op, i);
	}
	assert_null(op_def(OP__COUNT));
	assert_null(op_def((enum op)-1));
	assert_string_equal(op_name(OP__COUNT), "unknown");
	assert_int_equal(op_access(OP__COUNT), ACCESS_ADMIN);
	assert_int_equal(op_lookup("nosuch", 6), -1);
	assert_int_equal(op_lookup(NULL, 0), -1);
	assert_int_equal(op_lookup("", 0), -1);

	/* unknown ops: the code and the whole message, as before the table */
	assert_int_equal(parse("{\"op\":\"nosuch\"}"), PERR_UNKNOWN_OP);
	assert_string_equal(err, "unknown op 'nosuch'");
	assert_int_equal(parse("{\"op\":\"Ping\",\"id\":4}"), PERR_UNKNOWN_OP);
	assert_string_equal(err, "unknown op 'Ping'");
	assert_int_equal(json_integer_value(req.id), 4);
}

/* Found by tests/fuzz/fuzz_request.c (corpus/request/regress-*): jansson
 * quotes the offending input in its message ("near '\x01'"), which put
 * control bytes, and cut UTF-8 sequences, into bad_json replies and logs.
 * Messages are printable ASCII whatever the input. */
static void
test_bad_json_message_printable(void **state)
{
	static const char *const bodies[] = {
		"{\"op\": \"submit\", \"type\"\x01\x04\"gen\"}",
		"{\"op\":\"ping\",\"payload\":\"\x1b[2J\"}",
		"{\"op\":\"ping\"}\x7f",
		"{\"op\":\"ping\",\"x\":\"\xff\xfe\"}",
		/* a long token cut by jansson's 160-byte message buffer */
		"{\"op\":\"ping\",\"x\":\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		int rc = parse(bodies[i]);

		if (rc != PERR_BAD_JSON)
			fail_msg("body %zu: got %s (%s)", i, proto_err_name(rc),
			    err);
		assert_true(err[0] != '\0');
		for (const char *p = err; *p != '\0'; p++)
			if (!(*p >= 0x20 && *p < 0x7f))
				fail_msg("body %zu: byte 0x%02x in: %s", i,
				    (unsigned char)*p, err);
		/* what reply.c builds the reply from */
		json_t *m = json_string(err);
		assert_non_null(m);
		json_decref(m);
	}
}

/* Values are counted before decoding: commas, brackets and braces outside
 * strings, plus one; a request over max_json_values is refused. */
static void
test_json_values(void **state)
{
	size_t n = 2000, len;
	char *s;

	(void)state;
	assert_int_equal(request_count_values("0", 1), 1);
	assert_int_equal(request_count_values("[1,2,3]", 7), 4);
	/* a bound: the empty object counts twice */
	assert_int_equal(request_count_values("{\"a\":[1,{}]}", 12), 5);
	/* commas, brackets and escaped quotes inside strings do not count */
	assert_int_equal(request_count_values("[\"a,[{\\\",\"]", 11), 2);
	/* an unterminated string or escape at the end reads no further */
	assert_int_equal(request_count_values("[\"abc\\", 6), 2);

	cfg->max_json_values = 1000;
	len = strlen("{\"op\":\"submit\",\"type\":\"gen\",\"payload\":[]}") + 2 * n;
	s = malloc(len + 1);
	strcpy(s, "{\"op\":\"submit\",\"type\":\"gen\",\"payload\":[");
	for (size_t i = 0; i < n; i++)
		strcat(s, i + 1 < n ? "0," : "0");
	strcat(s, "]}");
	expect(s, PERR_BAD_REQUEST, "more than max_json_values (1000)");
	assert_null(req.root);
	cfg->max_json_values = 1000000;
	expect(s, PERR_OK, NULL);
	assert_true(req.nvalues >= n);
	free(s);
}

/* depends_on, on_dep_failure, batch_id, and the batch ops. */
static void
test_workflow(void **state)
{
	(void)state;
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"depends_on\":[\"a\","
	    "\"b_1\"],\"on_dep_failure\":\"hold\",\"batch_id\":\"b_2\"}",
	    PERR_OK, NULL);
	assert_int_equal(json_array_size(req.jobs[0].depends_on), 2);
	assert_string_equal(req.jobs[0].on_dep, "hold");
	assert_string_equal(req.jobs[0].batch_id, "b_2");
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"depends_on\":[\"a\"],"
	    "\"on_dep_failure\":\"cancel\"}", PERR_OK, NULL);
	assert_null(req.jobs[0].on_dep);       /* the default: not stored */
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"depends_on\":\"a\"}",
	    PERR_BAD_REQUEST, "'depends_on' must be an array");
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"depends_on\":[1]}",
	    PERR_BAD_REQUEST, "'depends_on'[0]");
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"depends_on\":[\"a\","
	    "\"a\"]}", PERR_BAD_REQUEST, "repeats");
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"job_id\":\"x\","
	    "\"depends_on\":[\"x\"]}", PERR_BAD_REQUEST, "itself");
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"on_dep_failure\":"
	    "\"run\"}", PERR_BAD_REQUEST, "needs 'depends_on'");
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"depends_on\":[\"a\"],"
	    "\"on_dep_failure\":\"later\"}", PERR_BAD_REQUEST,
	    "'on_dep_failure' must be cancel, run or hold");
	expect("{\"op\":\"submit\",\"type\":\"gen\",\"batch_id\":\"a b\"}",
	    PERR_BAD_REQUEST, "'batch_id'");
	expect("{\"op\":\"batch_open\"}", PERR_OK, NULL);
	assert_int_equal(req.op, OP_BATCH_OPEN);
	assert_int_equal(req.njobs, 0);
	expect("{\"op\":\"batch_open\",\"description\":\"d\",\"callback\":"
	    "{\"type\":\"gen\"}}", PERR_OK, NULL);
	assert_int_equal(req.njobs, 1);
	assert_string_equal(req.description, "d");
	expect("{\"op\":\"batch_open\",\"callback\":[]}", PERR_BAD_REQUEST,
	    "'callback' must be a submit object");
	expect("{\"op\":\"batch_open\",\"callback\":{}}", PERR_BAD_REQUEST,
	    "batch_open: callback: missing 'type'");
	expect("{\"op\":\"batch_open\",\"callback\":{\"type\":\"gen\","
	    "\"job_id\":\"x\"}}", PERR_BAD_REQUEST, "'job_id' is not allowed");
	expect("{\"op\":\"batch_open\",\"description\":7}", PERR_BAD_REQUEST,
	    "'description' must be a string");
	expect("{\"op\":\"batch_seal\",\"batch_id\":\"b_1\"}", PERR_OK, NULL);
	assert_string_equal(req.batch_id, "b_1");
	expect("{\"op\":\"batch_get\"}", PERR_BAD_REQUEST, "missing 'batch_id'");
	expect("{\"op\":\"list\",\"status\":\"deferred\"}", PERR_OK, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_ops),
		cmocka_unit_test(test_op_fields),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_submit_defaults),
		cmocka_unit_test(test_any_type),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_id_echo),
		cmocka_unit_test(test_many_jobs),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_json_values),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_run_at_bound),
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_bad_json_message_printable),
		cmocka_unit_test(test_delete_reload),
		cmocka_unit_test(test_op_table),
		cmocka_unit_test(test_workflow),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
