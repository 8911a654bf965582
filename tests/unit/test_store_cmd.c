/* test_store_cmd.c: the store's Redis commands, byte for byte (RESP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "config.h"
#include "request.h"
#include "store_cmd.h"
#include "store_library.h"

#define MAX_ARGS 64

/* The arguments of a finished command, checked to be well-formed RESP. */
struct args {
	int argc;
	const char *v[MAX_ARGS];
	size_t len[MAX_ARGS];
};

static void
split(const struct cmd *c, struct args *a)
{
	const char *p = c->buf + c->start, *end = c->buf + c->len;
	char *e;
	long n, i, l;

	/* cmocka's asserts are not noreturn: the analyzer follows a failed
	 * one on, and must not find garbage there. */
	memset(a, 0, sizeof(*a));
	assert_int_equal(*p, '*');
	n = strtol(p + 1, &e, 10);
	assert_true(e[0] == '\r' && e[1] == '\n');
	assert_true(n >= 0 && n <= MAX_ARGS);
	assert_int_equal(n, c->argc);
	p = e + 2;
	for (i = 0; i < n; i++) {
		assert_true(p < end);
		assert_int_equal(*p, '$');
		l = strtol(p + 1, &e, 10);
		assert_true(e[0] == '\r' && e[1] == '\n');
		p = e + 2;
		assert_true(l >= 0 && p + l + 2 <= end);
		a->v[i] = p;
		a->len[i] = (size_t)l;
		assert_true(p[l] == '\r' && p[l + 1] == '\n');
		p += l + 2;
	}
	assert_ptr_equal(p, end);
	a->argc = (int)n;
}

static void
assert_arg(const struct args *a, int i, const char *want)
{
	if (i >= a->argc || a->v[i] == NULL) {
		fail_msg("arg %d: missing (%d args)", i, a->argc);
		return;         /* it does not: said for the static analyzer */
	}
	if (a->len[i] != strlen(want) || memcmp(a->v[i], want, a->len[i]) != 0)
		fail_msg("arg %d: '%.*s', expected '%s'", i, (int)a->len[i],
		    a->v[i], want);
}

static void
test_resp_exact(void **state)
{
	static const char want[] = "*4\r\n$3\r\nSET\r\n$0\r\n\r\n$3\r\na\0b\r\n"
	    "$20\r\n-9223372036854775808\r\n";
	struct cmd c;

	(void)state;
	cmd_init(&c);
	cmd_add(&c, "SET");
	cmd_add(&c, NULL);
	cmd_addn(&c, "a\0b", 3);
	cmd_addll(&c, -9223372036854775807LL - 1);
	assert_int_equal(cmd_finish(&c), 0);
	assert_int_equal(c.len - c.start, sizeof(want) - 1);
	assert_memory_equal(c.buf + c.start, want, sizeof(want) - 1);
	cmd_free(&c);
}

/* A big argument and many arguments: the buffer grows, RESP stays exact. */
static void
test_growth(void **state)
{
	size_t big = 3 * 1024 * 1024 + 7, i;
	char *s = malloc(big);
	struct args a;
	struct cmd c;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < big; i++)
		s[i] = (char)('a' + i % 26);
	cmd_init(&c);
	for (i = 0; i < 40; i++)
		cmd_addll(&c, (long long)i);
	cmd_addn(&c, s, big);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal(a.argc, 41);
	assert_arg(&a, 39, "39");
	assert_int_equal(a.len[40], big);
	assert_memory_equal(a.v[40], s, big);
	cmd_free(&c);
	free(s);
}

static void
test_oom_fails_finish(void **state)
{
	struct cmd c;

	(void)state;
	cmd_init(&c);
	cmd_add(&c, "GET");
	c.oom = 1;
	cmd_add(&c, "k");
	assert_int_equal(cmd_finish(&c), -1);
	cmd_free(&c);
	cmd_init(&c);               /* nothing added: nothing to send */
	assert_int_equal(cmd_finish(&c), -1);
	cmd_free(&c);
}

static void
test_names_and_fcall(void **state)
{
	struct config *cfg = config_new_default();
	char lib_get[64];
	struct cmd_names n;
	struct args a;
	struct cmd c;

	(void)state;
	assert_non_null(cfg);
	free(cfg->prefix);
	free(cfg->ns);
	cfg->prefix = strdup("pfx");
	cfg->ns = strdup("blue");
	cfg->result_ttl = 600;
	cfg->failure_ttl = 86400;
	/* The library's versioned name: jobd_v<N>_get. */
	snprintf(lib_get, sizeof(lib_get), "%s_get", store_lib_name());
	assert_int_equal(cmd_names_init(&n, cfg), 0);
	assert_string_equal(n.K, "pfx:{blue}:");
	assert_string_equal(n.meta, "pfx:{blue}:meta");
	assert_string_equal(n.events, "pfx:{blue}:events");
	assert_string_equal(n.ends, "pfx:{blue}:ends");
	assert_string_equal(n.wake, "pfx:{blue}:wake");
	cmd_fcall(&c, &n, cfg, "jobd_get");
	cmd_add(&c, "01JOB");
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal(a.argc, 8);
	assert_arg(&a, 0, "FCALL");
	assert_arg(&a, 1, lib_get);
	assert_arg(&a, 2, "1");
	assert_arg(&a, 3, "pfx:{blue}:meta");
	assert_arg(&a, 4, "pfx:{blue}:");
	assert_arg(&a, 5, "600");
	assert_arg(&a, 6, "86400");
	assert_arg(&a, 7, "01JOB");
	cmd_free(&c);
	cmd_names_free(&n);
	config_free(cfg);
}

/* The library's versioned names come from jobd.lua's first line. */
static void
test_library_names(void **state)
{
	const char *lib = store_lib_name();
	char want[64], buf[64], tiny[8];
	size_t i;

	(void)state;
	assert_int_equal(strncmp(lib, "jobd_v", 6), 0);
	assert_true(strlen(lib) > 6);
	for (i = 6; lib[i] != '\0'; i++)
		assert_true(lib[i] >= '0' && lib[i] <= '9');
	snprintf(want, sizeof(want), "%s_submit", lib);
	assert_string_equal(store_lib_fn(buf, sizeof(buf), "jobd_submit"), want);
	assert_string_equal(store_lib_fn(buf, sizeof(buf), "submit"), want);
	/* Too long for the buffer: "", which no function is called. */
	assert_string_equal(store_lib_fn(tiny, sizeof(tiny), "jobd_submit"), "");
	assert_string_equal(store_lib_refused("SCHEMA - too new"), "too new");
	assert_null(store_lib_refused("CONFLICT j_1 held"));
	assert_null(store_lib_refused("SCHEMA"));
	assert_null(store_lib_refused(NULL));
}

static void
test_take_tail_and_queues(void **state)
{
	struct config *cfg = config_new_default();
	struct args a;
	struct cmd c;

	(void)state;
	assert_non_null(cfg);
	cfg->lease = 2.5;
	cfg->nqueues = 2;
	strcpy(cfg->queues[0], "high");
	strcpy(cfg->queues[1], "low");
	cmd_init(&c);
	cmd_take_tail(&c, "host:42", " a b ", cfg);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal(a.argc, 6);
	assert_arg(&a, 0, "host:42");
	assert_arg(&a, 1, "2500");
	assert_arg(&a, 2, " a b ");
	assert_arg(&a, 3, "2");
	assert_arg(&a, 4, "high");
	assert_arg(&a, 5, "low");
	cmd_free(&c);
	/* A count out of bounds is clamped, never read past the table. */
	cfg->nqueues = CONFIG_MAX_QUEUES + 5;
	cmd_init(&c);
	cmd_queues(&c, cfg);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal(a.argc, CONFIG_MAX_QUEUES + 1);
	cfg->nqueues = -3;
	cmd_free(&c);
	cmd_init(&c);
	cmd_queues(&c, cfg);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal(a.argc, 1);
	assert_arg(&a, 0, "0");
	cmd_free(&c);
	config_free(cfg);
}

/* The types a take and the heartbeat say a daemon serves: every type of
 * the config between spaces, '*' first with accept_any_type. */
static void
test_served_types(void **state)
{
	struct config *cfg = config_new_default();
	struct args a;
	struct cmd c;
	char *s;

	(void)state;
	assert_non_null(cfg);
	assert_true(cfg->ntypes == 4);          /* the builtins */
	s = cmd_served_types(cfg);
	assert_string_equal(s, " jobd.noop jobd.echo jobd.sleep jobd.fail ");
	free(s);
	cfg->accept_any_type = 1;
	s = cmd_served_types(cfg);
	assert_string_equal(s, "* jobd.noop jobd.echo jobd.sleep jobd.fail ");
	free(s);
	cfg->ntypes = 0;
	cfg->accept_any_type = 0;
	s = cmd_served_types(cfg);
	assert_string_equal(s, " ");            /* serves nothing */
	free(s);
	cfg->ntypes = 4;
	cmd_init(&c);
	cmd_add_key(&c, "jobd:{main}:", "wake:", "jobd.noop");
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_arg(&a, 0, "jobd:{main}:wake:jobd.noop");
	cmd_free(&c);
	config_free(cfg);
}

/* The record a submit stores: a MessagePack map of strings, byte for
 * byte, its header counting the 3 fields jobd.lua appends. */
static void
test_submit_job(void **state)
{
	static const char rec[] =
	    "\x8a"                                  /* map of 7 + 3 */
	    "\xa4type" "\xa4" "echo"
	    "\xa5queue" "\xa7" "default"
	    "\xa7payload" "\xa7" "{\"a\":1}"
	    "\xaatimeout_ms" "\xa4" "1500"
	    "\xabmax_retries" "\xa1" "2"
	    "\xaaresult_ttl" "\xa2" "60"
	    "\xab" "failure_ttl" "\xa2" "70";
	struct submit_spec s = {
		.type = "echo", .queue = NULL, .timeout = 1.5, .retries = 2,
		.result_ttl = 60, .failure_ttl = 70, .run_at_ms = -1,
	};
	msgpack_sbuffer sb;
	struct args a;
	struct cmd c;

	(void)state;
	s.payload = json_pack("{s:i}", "a", 1);
	s.meta = json_object();         /* {} is not stored */
	msgpack_sbuffer_init(&sb);
	cmd_init(&c);
	cmd_submit_job(&c, &s, "01ID", &sb);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal(a.argc, 7);
	assert_arg(&a, 0, "01ID");
	assert_arg(&a, 1, "default");
	assert_arg(&a, 2, "");
	assert_arg(&a, 3, "0");
	assert_arg(&a, 4, "0");
	assert_arg(&a, 5, "1");             /* no caller id: fresh */
	assert_int_equal(a.len[6], sizeof(rec) - 1);
	assert_memory_equal(a.v[6], rec, sizeof(rec) - 1);
	cmd_free(&c);

	/* Every optional part: caller id, unique key, delay, meta. */
	json_decref(s.meta);
	s.meta = json_pack("{s:s}", "k", "v");
	s.queue = "q";
	s.job_id = "mine";
	s.unique_key = "u1";
	s.delay = 0.25;
	s.run_at_ms = 1700000000123LL;
	cmd_init(&c);
	cmd_submit_job(&c, &s, "mine", &sb);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_arg(&a, 1, "q");
	assert_arg(&a, 2, "u1");
	assert_arg(&a, 3, "250");
	assert_arg(&a, 4, "1700000000123");
	assert_arg(&a, 5, "0");
	assert_int_equal((unsigned char)a.v[6][0], 0x80 | (9 + 3));
	assert_non_null(memmem(a.v[6], a.len[6], "\xa4meta\xa9{\"k\":\"v\"}",
	    15));
	assert_non_null(memmem(a.v[6], a.len[6], "\xaaunique_key\xa2u1", 14));
	cmd_free(&c);

	/* Workflow fields: deps, then batch, first in the map (jobd.lua's
	 * wf_flagged reads them there), then on_dep. */
	s.depends_on = json_pack("[s,s]", "a", "b_1");
	s.batch_id = "b_2";
	s.on_dep = "hold";
	cmd_init(&c);
	cmd_submit_job(&c, &s, "mine", &sb);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal((unsigned char)a.v[6][0], 0x80 | (12 + 3));
	assert_memory_equal(a.v[6] + 1, "\xa4" "deps\xa5" "a b_1\xa5" "batch\xa3"
	    "b_2\xa6" "on_dep\xa4" "hold", 33);
	cmd_free(&c);
	json_decref(s.depends_on);
	s.depends_on = NULL;
	s.on_dep = NULL;
	cmd_init(&c);
	cmd_submit_job(&c, &s, "mine", &sb);     /* a batch alone: first */
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_memory_equal(a.v[6] + 1, "\xa5" "batch\xa3" "b_2", 10);
	cmd_free(&c);
	msgpack_sbuffer_destroy(&sb);
	json_decref(s.payload);
	json_decref(s.meta);
}

static void
test_fail_args(void **state)
{
	size_t n = CMD_ERROR_TEXT_MAX + 100;
	char *err = malloc(n + 1);
	struct args a;
	struct cmd c;

	(void)state;
	memset(err, 'x', 100);
	memset(err + 100, 'y', CMD_ERROR_TEXT_MAX);
	err[n] = '\0';
	cmd_init(&c);
	cmd_fail_args(&c, "01J", "tok", err, STORE_FAIL, 1500);
	cmd_fail_args(&c, "01J", "tok", NULL, STORE_REQUEUE, -5);
	cmd_fail_args(&c, "01J", "tok", "e", STORE_FAIL_FINAL, 0);
	assert_int_equal(cmd_finish(&c), 0);
	split(&c, &a);
	assert_int_equal(a.argc, 15);
	assert_arg(&a, 0, "01J");
	assert_arg(&a, 1, "tok");
	/* The tail of a long error is kept: stderr ends with the cause. */
	assert_int_equal(a.len[2], CMD_ERROR_TEXT_MAX);
	assert_true(a.len[2] == CMD_ERROR_TEXT_MAX && a.v[2][0] == 'y' &&
	    a.v[2][CMD_ERROR_TEXT_MAX - 1] == 'y');
	assert_arg(&a, 3, "fail");
	assert_arg(&a, 4, "1500");
	assert_arg(&a, 7, "");
	assert_arg(&a, 8, "requeue");
	assert_arg(&a, 9, "0");
	assert_arg(&a, 13, "final");
	cmd_free(&c);
	free(err);
}

static void
test_progress_json(void **state)
{
	char *p;

	(void)state;
	p = cmd_progress_json(50, "half");
	assert_string_equal(p, "{\"percent\":50.0,\"message\":\"half\"}");
	free(p);
	p = cmd_progress_json(0, NULL);
	assert_string_equal(p, "{\"percent\":0.0,\"message\":null}");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resp_exact),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_oom_fails_finish),
		cmocka_unit_test(test_names_and_fcall),
		cmocka_unit_test(test_library_names),
		cmocka_unit_test(test_take_tail_and_queues),
		cmocka_unit_test(test_served_types),
		cmocka_unit_test(test_submit_job),
		cmocka_unit_test(test_fail_args),
		cmocka_unit_test(test_progress_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
