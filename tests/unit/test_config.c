/* test_config.c: the config file, defaults, overrides and retry delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "config_limit.h"
#include "log.h"

static char err[512];

static struct config *
load_ok(const char *text)
{
	struct config *cfg;

	err[0] = '\0';
	cfg = config_load_string(text, "t.conf", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("unexpected error: %s", err);
	return cfg;
}

/* load_bad: the text must fail with a message holding every needle. */
static void
load_bad(const char *text, const char *n1, const char *n2, const char *n3)
{
	struct config *cfg;

	err[0] = '\0';
	cfg = config_load_string(text, "t.conf", err, sizeof(err));
	if (cfg != NULL) {
		config_free(cfg);
		fail_msg("loaded, expected an error with '%s'", n1);
	}
	if (strchr(err, '\n') != NULL)
		fail_msg("message is not one line: %s", err);
	if (n1 != NULL && strstr(err, n1) == NULL)
		fail_msg("'%s' not in: %s", n1, err);
	if (n2 != NULL && strstr(err, n2) == NULL)
		fail_msg("'%s' not in: %s", n2, err);
	if (n3 != NULL && strstr(err, n3) == NULL)
		fail_msg("'%s' not in: %s", n3, err);
}

static void
test_defaults(void **state)
{
	struct config *cfg = config_new_default();
	const struct job_type *t;

	(void)state;
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_string_equal(cfg->socket, "/run/jobd/jobd.sock");
	assert_int_equal(cfg->socket_mode, 0660);
	assert_null(cfg->socket_group);
	assert_string_equal(cfg->redis, "managed");
	assert_string_equal(cfg->state_dir, "/var/lib/jobd");
	assert_string_equal(cfg->redis_appendfsync, "everysec");
	assert_null(cfg->redis_server);
	assert_string_equal(cfg->prefix, "jobd");
	assert_string_equal(cfg->ns, "main");
	assert_true(cfg->workers >= 1 && cfg->workers <= 256);
	assert_int_equal(cfg->nqueues, 3);
	assert_string_equal(cfg->queues[0], "high");
	assert_string_equal(cfg->queues[1], "default");
	assert_string_equal(cfg->queues[2], "low");
	assert_int_equal(cfg->max_frame, 8 * 1024 * 1024);
	assert_int_equal(cfg->max_connections, 1024);
	assert_int_equal(cfg->max_pending, 1024);
	assert_int_equal(cfg->max_connections_per_user, 128);
	assert_int_equal(cfg->admin_connections, 16);
	assert_int_equal(cfg->max_inflight, 32);
	assert_int_equal(cfg->max_inflight_total, 1024);
	assert_int_equal(cfg->max_inflight_bytes, 4 * 1024 * 1024);
	assert_true(cfg->builtins);
	assert_false(cfg->accept_any_type);
	assert_true(cfg->lease == 30);
	assert_true(cfg->grace == 5);
	assert_true(cfg->shutdown_grace == 30);
	assert_int_equal(cfg->result_ttl, 86400);
	assert_int_equal(cfg->failure_ttl, 604800);
	assert_true(cfg->max_wait == 3600);
	assert_int_equal(cfg->max_result, 1024 * 1024);
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_int_equal(cfg->log_target, LOG_TARGET_STDERR);
	assert_null(cfg->log_file);
	assert_int_equal(cfg->log_format, LOG_FORMAT_TEXT);
	assert_null(cfg->pidfile);
	assert_int_equal(cfg->ntypes, 4);
	t = config_find_type(cfg, "jobd.sleep");
	assert_non_null(t);
	assert_int_equal(t->kind, HANDLER_BUILTIN);
	assert_string_equal(t->builtin, "sleep");
	assert_string_equal(t->queue, "default");
	assert_true(t->timeout == 60);
	assert_int_equal(t->retries, 0);
	assert_non_null(config_find_type(cfg, "jobd.noop"));
	assert_non_null(config_find_type(cfg, "jobd.echo"));
	assert_non_null(config_find_type(cfg, "jobd.fail"));
	assert_null(config_find_type(cfg, "jobd.nope"));
	assert_int_equal(config_queue_index(cfg, "low"), 2);
	assert_int_equal(config_queue_index(cfg, "nope"), -1);
	config_free(cfg);

	/* an empty file is the defaults too */
	cfg = load_ok("");
	assert_string_equal(cfg->path, "t.conf");
	assert_int_equal(cfg->ntypes, 4);
	config_free(cfg);
}

static const char full[] =
	"; a full configuration\n"
	"[jobd]\n"
	"socket = /tmp/jobd-test.sock\n"
	"socket_mode = 0600\n"
	"socket_group = jobd\n"
	"redis = unix:///run/redis/redis-server.sock   ; or redis://\n"
	"prefix = jq\n"
	"namespace = test:1\n"
	"workers = 3\n"
	"queues = critical , default,bulk\n"
	"max_frame = 65536\n"
	"max_connections = 10\n"
	"max_pending = 20\n"
	"builtins = on\n"
	"accept_any_type = TRUE\n"
	"lease = 12.5\n"
	"grace = 0\n"
	"shutdown_grace = 60\n"
	"result_ttl = 100\n"
	"failure_ttl = 200\n"
	"max_wait = 30\n"
	"max_result = 4096\n"
	"log_level = debug\n"
	"log_target = syslog\n"
	"pidfile = /run/jobd.pid\n"
	"\n"
	"[type:generate_story]\n"
	"handler = exec\n"
	"command = /usr/bin/python3 -m storyapp.jobs generate\n"
	"persistent = yes\n"
	"queue = critical\n"
	"timeout = 600\n"
	"retries = 2\n"
	"backoff = 5, 30,120\n"
	"backoff_base = 3\n"
	"backoff_max = 90\n"
	"max_output = 2048\n"
	"user = nobody\n"
	"cwd = /var/lib/story\n"
	"env = STORY_DB=/var/lib/story/stories.db\n"
	"env = LANG=C.UTF-8\n"
	"  MODE=fast\n"
	"\n"
	"[type:notify]\n"
	"handler = http\n"
	"url = https://127.0.0.1:8080/hook?a=b\n"
	"timeout = 30\n"
	"\n"
	"# builtin, queue from the defaults\n"
	"[type:slow]\n"
	"handler = builtin\n"
	"builtin = sleep\n";

static void
test_full_file(void **state)
{
	struct config *cfg = load_ok(full);
	const struct job_type *t;

	(void)state;
	assert_string_equal(cfg->socket, "/tmp/jobd-test.sock");
	assert_int_equal(cfg->socket_mode, 0600);
	assert_string_equal(cfg->socket_group, "jobd");
	assert_string_equal(cfg->redis, "unix:///run/redis/redis-server.sock");
	assert_string_equal(cfg->prefix, "jq");
	assert_string_equal(cfg->ns, "test:1");
	assert_int_equal(cfg->workers, 3);
	assert_int_equal(cfg->nqueues, 3);
	assert_string_equal(cfg->queues[0], "critical");
	assert_string_equal(cfg->queues[1], "default");
	assert_string_equal(cfg->queues[2], "bulk");
	assert_int_equal(cfg->max_frame, 65536);
	assert_int_equal(cfg->max_connections, 10);
	assert_int_equal(cfg->max_pending, 20);
	assert_true(cfg->builtins);
	assert_true(cfg->accept_any_type);
	assert_true(cfg->lease == 12.5);
	assert_true(cfg->grace == 0);
	assert_true(cfg->shutdown_grace == 60);
	assert_int_equal(cfg->result_ttl, 100);
	assert_int_equal(cfg->failure_ttl, 200);
	assert_true(cfg->max_wait == 30);
	assert_int_equal(cfg->max_result, 4096);
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	assert_int_equal(cfg->log_target, LOG_TARGET_SYSLOG);
	assert_string_equal(cfg->pidfile, "/run/jobd.pid");
	assert_int_equal(cfg->ntypes, 3 + 4);

	t = config_find_type(cfg, "generate_story");
	assert_non_null(t);
	assert_int_equal(t->kind, HANDLER_EXEC);
	assert_string_equal(t->argv[0], "/usr/bin/python3");
	assert_string_equal(t->argv[1], "-m");
	assert_string_equal(t->argv[2], "storyapp.jobs");
	assert_string_equal(t->argv[3], "generate");
	assert_null(t->argv[4]);
	assert_true(t->persistent);
	assert_string_equal(t->queue, "critical");
	assert_true(t->timeout == 600);
	assert_int_equal(t->retries, 2);
	assert_int_equal(t->backoff, BACKOFF_FIXED_LIST);
	assert_int_equal(t->backoff_count, 3);
	assert_true(t->backoff_list[0] == 5 && t->backoff_list[1] == 30 &&
	    t->backoff_list[2] == 120);
	assert_true(t->backoff_base == 3);
	assert_true(t->backoff_max == 90);
	assert_int_equal(t->max_output, 2048);
	assert_string_equal(t->user, "nobody");
	assert_string_equal(t->cwd, "/var/lib/story");
	assert_string_equal(t->env[0], "STORY_DB=/var/lib/story/stories.db");
	assert_string_equal(t->env[1], "LANG=C.UTF-8");
	assert_string_equal(t->env[2], "MODE=fast");  /* continuation line */
	assert_null(t->env[3]);

	t = config_find_type(cfg, "notify");
	assert_non_null(t);
	assert_int_equal(t->kind, HANDLER_HTTP);
	assert_string_equal(t->url, "https://127.0.0.1:8080/hook?a=b");
	assert_string_equal(t->queue, "default");
	assert_true(t->timeout == 30);
	assert_int_equal(t->retries, 0);
	assert_int_equal(t->backoff, BACKOFF_EXPONENTIAL);
	assert_true(t->backoff_base == 2 && t->backoff_max == 300);
	assert_int_equal(t->max_output, 1024 * 1024);

	t = config_find_type(cfg, "slow");
	assert_non_null(t);
	assert_int_equal(t->kind, HANDLER_BUILTIN);
	assert_string_equal(t->builtin, "sleep");
	assert_true(t->timeout == 180);
	assert_null(t->user);
	assert_null(t->cwd);
	assert_null(t->env[0]);
	config_free(cfg);
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/test_config_XXXXXX";
	struct config *cfg;
	int fd;
	FILE *f;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(full, f);
	fclose(f);
	cfg = config_load_file(path, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->workers, 3);
	config_free(cfg);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[jobd]\nworkers = 2\nworkers = x\n", f);
	fclose(f);
	assert_null(config_load_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":3: [jobd] workers: not a number: 'x'"));

	/* a NUL byte is refused, with its line */
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("[jobd]\nworkers = 2\0\n", 1, 21, f);
	fclose(f);
	assert_null(config_load_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, ":2: NUL or control byte in line"));
	unlink(path);

	assert_null(config_load_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
}

/* every [jobd] setting through config_set: good values apply, bad ones
 * are refused with the setting named and the config unchanged. */
struct setcase {
	const char *key, *value;
	int ok;
};

static const struct setcase setcases[] = {
	{ "socket", "/tmp/x.sock", 1 },
	{ "socket", "", 0 },
	{ "socket", "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock", 0 },
	{ "socket_mode", "0666", 1 },
	{ "socket_mode", "660", 1 },
	{ "socket_mode", "0999", 0 },
	{ "socket_mode", "rw", 0 },
	{ "socket_mode", "-1", 0 },
	{ "socket_mode", "017777", 0 },
	{ "socket_group", "www-data", 1 },
	{ "socket_group", "", 1 },
	{ "socket_group", "a b", 0 },
	{ "redis", "redis://localhost", 1 },
	{ "redis", "redis://10.0.0.1:6380", 1 },
	{ "redis", "redis://h:6379/15", 1 },
	{ "redis", "redis://[::1]:6379/2", 1 },
	{ "redis", "unix:///run/redis.sock", 1 },
	{ "redis", "unix://run/redis.sock", 0 },
	{ "redis", "unix://", 0 },
	{ "redis", "http://localhost", 0 },
	{ "redis", "redis://", 0 },
	{ "redis", "redis://h:0", 0 },
	{ "redis", "redis://h:65536", 0 },
	{ "redis", "redis://h:x", 0 },
	{ "redis", "redis://h/x", 0 },
	{ "redis", "redis://h:1/-1", 0 },
	{ "redis", "redis://h h", 0 },
	{ "redis", "redis://[zz]:1", 0 },
	{ "redis", "managed", 1 },
	{ "redis", "Managed", 0 },
	{ "state_dir", "/var/lib/jobd", 1 },
	{ "state_dir", "var/lib/jobd", 0 },
	{ "state_dir", "", 0 },
	/* 96 bytes fit with /redis.sock in sun_path, 97 do not */
	{ "state_dir", "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1 },
	{ "state_dir", "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	{ "redis_server", "/usr/bin/redis-server", 1 },
	{ "redis_server", "redis-server", 0 },
	{ "redis_server", "", 1 },
	{ "redis_appendfsync", "always", 1 },
	{ "redis_appendfsync", "everysec", 1 },
	{ "redis_appendfsync", "no", 1 },
	{ "redis_appendfsync", "sometimes", 0 },
	{ "prefix", "myapp", 1 },
	{ "prefix", "{x}", 0 },
	{ "prefix", "", 0 },
	{ "namespace", "prod.eu-1", 1 },
	{ "namespace", "a b", 0 },
	{ "workers", "0", 1 },
	{ "workers", "256", 1 },
	{ "workers", "257", 0 },
	{ "workers", "-1", 0 },
	{ "workers", "4x", 0 },
	{ "workers", "", 0 },
	{ "workers", "99999999999999999999999", 0 },
	{ "queues", "one", 1 },
	{ "queues", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", 1 },
	{ "queues", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", 0 },
	{ "queues", "a,,b", 0 },
	{ "queues", "a,b,a", 0 },
	{ "queues", "a b", 0 },
	{ "queues", "", 0 },
	{ "queues", "a,", 0 },
	{ "queues", "q:1", 0 },
	{ "max_frame", "64", 1 },
	{ "max_frame", "1073741824", 1 },
	{ "max_frame", "63", 0 },
	{ "max_frame", "1073741825", 0 },
	{ "max_connections", "1", 1 },
	{ "max_connections", "0", 0 },
	{ "max_pending", "65536", 1 },
	{ "max_pending", "65537", 0 },
	{ "max_connections_per_user", "1", 1 },
	{ "max_connections_per_user", "0", 0 },
	{ "max_connections_per_user", "-5", 0 },
	{ "max_connections_per_user", "many", 0 },
	{ "max_connections_per_user", "65537", 0 },
	{ "admin_connections", "0", 1 },
	{ "admin_connections", "-1", 0 },
	{ "admin_connections", "1.5", 0 },
	{ "admin_connections", "65537", 0 },
	{ "max_inflight", "1", 1 },
	{ "max_inflight", "0", 0 },
	{ "max_inflight", "", 0 },
	{ "max_inflight", "99999999999999999999", 0 },
	{ "max_inflight_total", "1048576", 1 },
	{ "max_inflight_total", "1048577", 0 },
	{ "max_inflight_total", "0", 0 },
	{ "max_inflight_bytes", "64K", 1 },
	{ "max_inflight_bytes", "1G", 1 },
	{ "max_inflight_bytes", "63K", 0 },
	{ "max_inflight_bytes", "2G", 0 },
	{ "max_inflight_bytes", "-1M", 0 },
	{ "max_inflight_bytes", "16 apples", 0 },
	{ "redis_timeout", "1", 1 },
	{ "redis_timeout", "1h", 1 },
	{ "redis_timeout", "0", 0 },
	{ "redis_timeout", "0.5", 0 },
	{ "redis_timeout", "2h", 0 },
	{ "redis_timeout", "soon", 0 },
	{ "builtins", "off", 1 },
	{ "builtins", "1", 1 },
	{ "builtins", "maybe", 0 },
	{ "accept_any_type", "Yes", 1 },
	{ "accept_any_type", "2", 0 },
	{ "lease", "1", 1 },
	{ "lease", "0.5", 0 },
	{ "lease", "nan", 0 },
	{ "lease", "inf", 0 },
	{ "lease", "0x10", 0 },
	{ "grace", "0", 1 },
	{ "grace", "-1", 0 },
	{ "shutdown_grace", "2.5", 1 },
	{ "shutdown_grace", "86401", 0 },
	{ "result_ttl", "0", 1 },
	{ "result_ttl", "31536000", 1 },
	{ "result_ttl", "31536001", 0 },
	{ "result_ttl", "1.5", 0 },
	{ "failure_ttl", "60", 1 },
	{ "failure_ttl", "-5", 0 },
	{ "max_wait", "0.5", 1 },
	{ "max_wait", "0", 0 },
	{ "max_result", "1", 1 },
	{ "max_result", "0", 0 },
	{ "log_level", "error", 1 },
	{ "log_level", "WARNING", 1 },
	{ "log_level", "notice", 1 },
	{ "log_level", "info", 1 },
	{ "log_level", "trace", 0 },
	{ "log_target", "stderr", 1 },
	{ "log_target", "syslog", 1 },
	{ "log_target", "file", 0 },
	{ "log_target", "file:/tmp/jobd-unit-test.log", 1 },
	{ "log_target", "file:relative.log", 0 },
	{ "log_target", "file:/nonexistent-dir/jobd.log", 0 },
	{ "log_target", "file:/tmp", 0 },
	{ "log_format", "text", 1 },
	{ "log_format", "json", 1 },
	{ "log_format", "xml", 0 },
	{ "pidfile", "/run/jobd.pid", 1 },
	{ "pidfile", "", 1 },
	{ "no_such_setting", "1", 0 },
};

static void
test_every_setting(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(setcases) / sizeof(setcases[0]); i++) {
		const struct setcase *c = &setcases[i];
		struct config *cfg = config_new_default();
		char want[128];
		int rc;

		assert_non_null(cfg);
		err[0] = '\0';
		rc = config_set(cfg, "jobd", c->key, c->value, err, sizeof(err));
		if (c->ok && rc != 0)
			fail_msg("%s = '%s' refused: %s", c->key, c->value, err);
		if (!c->ok) {
			if (rc == 0)
				fail_msg("%s = '%s' accepted", c->key, c->value);
			snprintf(want, sizeof(want), "[jobd] %s: ", c->key);
			if (strstr(err, want) == NULL)
				fail_msg("'%s' not in: %s", want, err);
			/* The redis URL is not quoted: it may hold a password. */
			snprintf(want, sizeof(want), "'%s'", strcmp(c->key,
			    "redis") == 0 ? "(not shown)" : c->value);
			if (strstr(err, want) == NULL)
				fail_msg("'%s' not in: %s", want, err);
		}
		/* and the config is still whole */
		if (config_finish(cfg, err, sizeof(err)) != 0 &&
		    strcmp(c->key, "queues") != 0)
			fail_msg("%s = '%s': finish: %s", c->key, c->value, err);
		config_free(cfg);
	}
}

static void
test_setting_values(void **state)
{
	struct config *cfg = config_new_default();

	(void)state;
	assert_int_equal(config_set(cfg, "jobd", "socket_mode", "0640", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg->socket_mode, 0640);
	assert_int_equal(config_set(cfg, "jobd", "socket_group", "", err,
	    sizeof(err)), 0);
	assert_null(cfg->socket_group);
	assert_int_equal(config_set(cfg, "jobd", "log_level", "warning", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg->log_level, LOG_WARNING);
	assert_int_equal(config_set(cfg, "jobd", "log_level", "error", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg->log_level, LOG_ERR);
	assert_int_equal(config_set(cfg, "jobd", "queues", " x , y ", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg->nqueues, 2);
	assert_string_equal(cfg->queues[0], "x");
	assert_string_equal(cfg->queues[1], "y");
	/* a refused queue list leaves the old one */
	assert_int_equal(config_set(cfg, "jobd", "queues", "a,a", err,
	    sizeof(err)), -1);
	assert_int_equal(cfg->nqueues, 2);
	assert_int_equal(config_set(cfg, "nope", "x", "1", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "[nope]"));
	assert_int_equal(config_set(cfg, "jobd", "workers", NULL, err,
	    sizeof(err)), -1);
	config_free(cfg);
}

static void
test_overrides(void **state)
{
	struct config *cfg = load_ok("[jobd]\nworkers = 2\nsocket = /a.sock\n");

	(void)state;
	assert_int_equal(config_set(cfg, "jobd", "workers", "4", err,
	    sizeof(err)), 0);
	assert_int_equal(config_set(cfg, "jobd", "socket", "/b.sock", err,
	    sizeof(err)), 0);
	assert_int_equal(config_set(cfg, "jobd", "redis", "redis://db:7000/3",
	    err, sizeof(err)), 0);
	assert_int_equal(config_set(cfg, "jobd", "pidfile", "/run/x.pid", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->workers, 4);
	assert_string_equal(cfg->socket, "/b.sock");
	assert_string_equal(cfg->redis, "redis://db:7000/3");
	assert_string_equal(cfg->pidfile, "/run/x.pid");

	assert_int_equal(config_set(cfg, "jobd", "workers", "many", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "[jobd] workers: not a number: 'many'");
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(config_set(cfg, "jobd", "redis", "localhost", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "[jobd] redis: "));

	/* workers 0 on the command line means the CPU count again */
	assert_int_equal(config_set(cfg, "jobd", "workers", "0", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_true(cfg->workers >= 1 && cfg->workers <= 256);
	if (sysconf(_SC_NPROCESSORS_ONLN) <= 256)
		assert_int_equal(cfg->workers, sysconf(_SC_NPROCESSORS_ONLN));

	/* a type through config_set, checked by config_finish */
	assert_int_equal(config_set(cfg, "type:extra", "handler", "http", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[type:extra] url: required"));
	assert_int_equal(config_set(cfg, "type:extra", "url", "http://x/", err,
	    sizeof(err)), 0);
	assert_int_equal(config_set(cfg, "type:extra", "queue", "nope", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf: [type:extra] queue: "));
	assert_int_equal(config_set(cfg, "type:extra", "queue", "low", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_int_equal(config_set(cfg, "type:extra", "retries", "101", err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "[type:extra] retries: out of range (0..100): '101'");
	config_free(cfg);
}

static void
test_commands(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	cfg = load_ok("[type:a]\nhandler = exec\n"
	    "command = /bin/sh  -c \"echo \\\"hi\\\" there\" \"\" x\\y\n"
	    "[type:b]\nhandler = exec\n"
	    "command = [\"/usr/bin/env\", \"a b\", \"\", \"c;d\"]\n"
	    "[type:c]\nhandler = exec\ncommand = /bin/true\n"
	    "command = /bin/false now\n");
	t = config_find_type(cfg, "a");
	assert_non_null(t);
	assert_string_equal(t->argv[0], "/bin/sh");
	assert_string_equal(t->argv[1], "-c");
	assert_string_equal(t->argv[2], "echo \"hi\" there");
	assert_string_equal(t->argv[3], "");
	assert_string_equal(t->argv[4], "x\\y");
	assert_null(t->argv[5]);
	t = config_find_type(cfg, "b");
	assert_string_equal(t->argv[0], "/usr/bin/env");
	assert_string_equal(t->argv[1], "a b");
	assert_string_equal(t->argv[2], "");
	assert_string_equal(t->argv[3], "c;d");
	assert_null(t->argv[4]);
	t = config_find_type(cfg, "c");    /* given again: replaced */
	assert_string_equal(t->argv[0], "/bin/false");
	assert_string_equal(t->argv[1], "now");
	assert_null(t->argv[2]);
	config_free(cfg);

	load_bad("[type:a]\nhandler = exec\ncommand = /bin/x \"open\n",
	    "t.conf:3: [type:a] command: unterminated quote", NULL, NULL);
	load_bad("[type:a]\nhandler = exec\ncommand = [\"/bin/x\", 3]\n",
	    "t.conf:3: [type:a] command: element 1 is not a string", NULL, NULL);
	load_bad("[type:a]\nhandler = exec\ncommand = [\"/bin/x\"\n",
	    "t.conf:3: [type:a] command: bad JSON array", NULL, NULL);
	load_bad("[type:a]\nhandler = exec\ncommand = []\n",
	    "t.conf:3: [type:a] command: empty command", NULL, NULL);
	load_bad("[type:a]\nhandler = exec\ncommand = \"\" x\n",
	    "t.conf:3: [type:a] command: empty command", NULL, NULL);
	load_bad("[type:a]\nhandler = exec\ncommand = [{\"a\": 1}]\n",
	    "t.conf:3: [type:a] command: element 0 is not a string", NULL, NULL);

	load_bad("[type:a]\nhandler = exec\ncommand = python3 -m x\n",
	    "t.conf:3: [type:a] command: the program must be a path",
	    "'python3 -m x'", NULL);
	load_bad("[type:a]\nhandler = exec\ncommand = [\"sh\"]\n",
	    "t.conf:3: [type:a] command: the program must be a path", NULL,
	    NULL);

	/* at most CONFIG_MAX_ARGV words */
	{
		char text[512] = "[type:a]\nhandler = exec\ncommand = /x";
		struct config *c2;

		for (int i = 1; i < CONFIG_MAX_ARGV; i++)
			strcat(text, " a");
		c2 = load_ok(text);
		t = config_find_type(c2, "a");
		assert_string_equal(t->argv[CONFIG_MAX_ARGV - 1], "a");
		assert_null(t->argv[CONFIG_MAX_ARGV]);
		config_free(c2);
		strcat(text, " b");
		load_bad(text, "t.conf:3: [type:a] command: more than 64 arguments",
		    NULL, NULL);
	}
}

static void
test_type_settings(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	cfg = load_ok("[type:t]\nhandler = builtin\nbuiltin = echo\n"
	    "timeout = 0.25\nretries = 100\nbackoff = 7\n"
	    "backoff = exponential\nenv = A=1\nenv = A=2\nuser =\ncwd =\n");
	t = config_find_type(cfg, "t");
	assert_true(t->timeout == 0.25);
	assert_int_equal(t->retries, 100);
	assert_int_equal(t->backoff, BACKOFF_EXPONENTIAL);
	assert_string_equal(t->env[0], "A=2");
	assert_null(t->env[1]);
	assert_null(t->user);
	assert_null(t->cwd);
	config_free(cfg);

	load_bad("[type:t]\nhandler = builtin\nbuiltin = dance\n",
	    "t.conf:3: [type:t] builtin: expected noop, echo, sleep or fail: "
	    "'dance'", NULL, NULL);
	load_bad("[type:t]\nhandler = shell\n",
	    "t.conf:2: [type:t] handler: expected exec, http or builtin: "
	    "'shell'", NULL, NULL);
	load_bad("[type:t]\nhandler = http\nurl = ftp://x/\n",
	    "t.conf:3: [type:t] url: expected an http:// or https:// URL: "
	    "'ftp://x/'", NULL, NULL);
	load_bad("[type:t]\nhandler = http\nurl = http://\n",
	    "t.conf:3: [type:t] url: missing host", NULL, NULL);
	load_bad("[type:t]\nhandler = http\n",
	    "t.conf:1: [type:t] url: required for handler http", NULL, NULL);
	load_bad("[type:t]\nhandler = builtin\n",
	    "t.conf:1: [type:t] builtin: required for handler builtin",
	    NULL, NULL);
	load_bad("[type:t]\nbuiltin = echo\n",
	    "t.conf:1: [type:t] handler: required", NULL, NULL);
	load_bad("[type:t]\nhandler = builtin\nbuiltin = echo\n"
	    "url = http://x/\n",
	    "t.conf:1: [type:t] url: only for handler http", NULL, NULL);
	load_bad("[type:t]\nhandler = http\nurl = http://x/\n"
	    "command = /bin/x\n",
	    "t.conf:1: [type:t] command: only for handler exec", NULL, NULL);
	load_bad("[type:t]\nhandler = http\nurl = http://x/\npersistent = 1\n",
	    "[type:t] persistent: only for handler exec", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nbuiltin = noop\n",
	    "[type:t] builtin: only for handler builtin", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\ntimeout = 0\n",
	    "t.conf:4: [type:t] timeout: out of range", "'0'", NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\ntimeout = 604801\n",
	    "t.conf:4: [type:t] timeout: out of range", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nretries = 101\n",
	    "t.conf:4: [type:t] retries: out of range (0..100): '101'",
	    NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nretries = two\n",
	    "t.conf:4: [type:t] retries: not a number: 'two'", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nbackoff = 1,,2\n",
	    "t.conf:4: [type:t] backoff: expected 'exponential' or a list",
	    NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nbackoff = fast\n",
	    "t.conf:4: [type:t] backoff:", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\n"
	    "backoff = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n",
	    "t.conf:4: [type:t] backoff: more than 16 intervals", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nbackoff_base = 0\n",
	    "t.conf:4: [type:t] backoff_base: out of range", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nbackoff_max = -1\n",
	    "t.conf:4: [type:t] backoff_max: out of range", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nmax_output = 0\n",
	    "t.conf:4: [type:t] max_output: out of range", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\npersistent = sure\n",
	    "t.conf:4: [type:t] persistent: not a boolean", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\ncwd = tmp\n",
	    "t.conf:4: [type:t] cwd: not an absolute path: 'tmp'", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nuser = a b\n",
	    "t.conf:4: [type:t] user: bad user name", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nenv = novalue\n",
	    "t.conf:4: [type:t] env: expected NAME=VALUE: 'novalue'", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nenv = 1A=b\n",
	    "t.conf:4: [type:t] env: bad variable name", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nenv = JOBD_JOB_ID=1\n",
	    "t.conf:4: [type:t] env: JOBD_* variables are set by jobd", NULL,
	    NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nqueue = a b\n",
	    "t.conf:4: [type:t] queue: bad queue name", NULL, NULL);
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nfoo = 1\n",
	    "t.conf:4: [type:t] foo: unknown setting: '1'", NULL, NULL);
}

static void
test_broken_files(void **state)
{
	(void)state;
	load_bad("[jobd]\nsocket = /x\nfrobnicate = 3\n",
	    "t.conf:3: [jobd] frobnicate: unknown setting: '3'", NULL, NULL);
	load_bad("[jobd]\n\n[server]\nport = 1\n",
	    "t.conf:3: [server]: unknown section", NULL, NULL);
	/* even when the unknown section is empty */
	load_bad("[jobd]\n[server]\n", "t.conf:2: [server]: unknown section",
	    NULL, NULL);
	load_bad("; c\n[jobd]\nworkers = four\n",
	    "t.conf:3: [jobd] workers: not a number: 'four'", NULL, NULL);
	/* every size takes K, M, G */
	load_bad("[jobd]\nmax_frame = 12x\n",
	    "t.conf:2: [jobd] max_frame: not a size", "'12x'", NULL);
	load_bad("[jobd]\nworkers = 1000\n",
	    "t.conf:2: [jobd] workers: out of range (0..256): '1000'", NULL,
	    NULL);
	load_bad("[jobd]\nsocket_mode = 0778\n",
	    "t.conf:2: [jobd] socket_mode: not an octal mode: '0778'", NULL,
	    NULL);
	load_bad("[jobd]\nredis = redis:/localhost\n",
	    "t.conf:2: [jobd] redis: expected redis://", "'(not shown)'",
	    NULL);
	load_bad("[jobd]\nredis = redis://localhost:99999\n",
	    "t.conf:2: [jobd] redis: bad port", NULL, NULL);
	load_bad("[jobd]\nqueues = high, high\n",
	    "t.conf:2: [jobd] queues: queue 'high' listed twice: 'high, high'",
	    NULL, NULL);
	load_bad("[jobd]\nqueues = high, lo w\n",
	    "t.conf:2: [jobd] queues: bad queue name 'lo w'", NULL, NULL);
	load_bad("[jobd]\nqueues = a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n",
	    "t.conf:2: [jobd] queues: more than 16 queues", NULL, NULL);
	load_bad("[jobd]\nlog_level = loud\n",
	    "t.conf:2: [jobd] log_level: expected error, warning, notice, "
	    "info or debug: 'loud'", NULL, NULL);
	/* the type's queue is checked against the final queue list, and
	 * the message points at the queue line */
	load_bad("[type:t]\nhandler = exec\ncommand = /x\nqueue = urgent\n"
	    "[jobd]\nqueues = high, low\n",
	    "t.conf:4: [type:t] queue: not one of the configured queues: "
	    "'urgent'", NULL, NULL);
	load_bad("[jobd]\nworkers = 1\n[type:gen]\nhandler = exec\n"
	    "timeout = 5\n",
	    "t.conf:3: [type:gen] command: required for handler exec", NULL,
	    NULL);
	load_bad("[type:gen]\nhandler = builtin\nbuiltin = echo\n\n"
	    "[type:gen]\nhandler = builtin\nbuiltin = echo\n",
	    "t.conf:5: [type:gen]: duplicate type", NULL, NULL);
	/* a duplicate with nothing between the headers */
	load_bad("[type:gen]\n[type:gen]\n", "t.conf:2: [type:gen]: duplicate",
	    NULL, NULL);
	load_bad("[type:bad name]\n", "t.conf:1: [type:bad name]: bad type name",
	    NULL, NULL);
	load_bad("[type:]\n", "t.conf:1: [type:]: bad type name", NULL, NULL);
	load_bad("workers = 3\n",
	    "t.conf:1: workers: setting outside of a section: '3'", NULL, NULL);
	load_bad("[jobd]\nworkers = 3\njust words\n",
	    "t.conf:3: syntax error", "'just words'", NULL);
	load_bad("[jobd\nworkers = 3\n", "t.conf:1: syntax error", NULL, NULL);
	/* a syntax error before a bad setting is the one reported */
	load_bad("[jobd]\noops\nworkers = x\n", "t.conf:2: syntax error", NULL,
	    NULL);
	/* and a bad setting before a syntax error */
	load_bad("[jobd]\nworkers = x\noops\n", "t.conf:2: [jobd] workers",
	    NULL, NULL);
}

static void
test_ini_syntax(void **state)
{
	struct config *cfg;

	(void)state;
	/* BOM, comments, inline comments, ':' separators, CRLF */
	cfg = load_ok("\xEF\xBB\xBF# top\r\n[jobd]\r\n  workers: 5 ; five\r\n"
	    "prefix = ab ; comment\r\n; [type:x]\r\n");
	assert_int_equal(cfg->workers, 5);
	assert_string_equal(cfg->prefix, "ab");
	config_free(cfg);
	/* ';' not after a blank is part of the value (and not valid here) */
	load_bad("[jobd]\nprefix = a;b\n", "t.conf:2: [jobd] prefix:", NULL,
	    NULL);
	/* long type names survive */
	cfg = load_ok("[type:aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee1234]\n"
	    "handler = builtin\nbuiltin = noop\n");
	assert_non_null(config_find_type(cfg,
	    "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee1234"));
	config_free(cfg);
}

/* long lines read whole */
static void
test_long_lines(void **state)
{
	size_t cap = 80000;
	char *text = malloc(cap), *v = malloc(cap);
	struct config *cfg;
	const struct job_type *t;
	size_t off = 0;

	(void)state;
	assert_non_null(text);
	assert_non_null(v);
	memset(v, 'a', 300);
	v[300] = '\0';
	off += (size_t)snprintf(text + off, cap - off,
	    "[jobd]\npidfile = /%s   ; and a comment\n"
	    "[type:%s]\n"
	    "handler = exec\ncommand = [\"/bin/%s\"", v, "t", v);
	for (int i = 1; i < CONFIG_MAX_ARGV; i++)
		off += (size_t)snprintf(text + off, cap - off, ", \"arg %d\"", i);
	snprintf(text + off, cap - off, "]\n"
	    "env = A=%s\n  B=%s\n"
	    "queue = low ; %s\n"
	    "; %s\n"
	    "[jobd] ; %s\n"
	    "workers = 2\n", v, v, v, v, v);
	cfg = load_ok(text);
	assert_int_equal(strlen(cfg->pidfile), 301);
	assert_int_equal(cfg->workers, 2);
	t = config_find_type(cfg, "t");
	assert_non_null(t);
	assert_int_equal(strlen(t->argv[0]), 305);
	assert_string_equal(t->argv[63], "arg 63");
	assert_int_equal(strlen(t->env[0]), 302);
	assert_int_equal(strncmp(t->env[1], "B=aaa", 5), 0);
	assert_string_equal(t->queue, "low");
	config_free(cfg);

	/* a long bad setting is reported with its line */
	snprintf(text, cap, "[jobd]\n\nworkers = %s\n", v);
	load_bad(text, "t.conf:3: [jobd] workers: not a number", NULL, NULL);
	/* a long syntax error too */
	snprintf(text, cap, "[jobd]\n%s\n", v);
	load_bad(text, "t.conf:2: syntax error", NULL, NULL);
	snprintf(text, cap, "[type:%s]\n", v);
	load_bad(text, "t.conf:1: [", "section name too long", NULL);
	/* but not without bound */
	memset(v, 'b', 70000);
	v[70000] = '\0';
	snprintf(text, cap, "[jobd]\npidfile = /%s\n", v);
	load_bad(text, "t.conf:2: line longer than 65536", NULL, NULL);
	free(v);
	free(text);
}

static void
test_builtins(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	cfg = load_ok("[jobd]\nbuiltins = no\n");
	assert_int_equal(cfg->ntypes, 0);
	assert_null(config_find_type(cfg, "jobd.noop"));
	config_free(cfg);

	/* no "default" queue: the builtins go to the first */
	cfg = load_ok("[jobd]\nqueues = fast, slow\n");
	t = config_find_type(cfg, "jobd.echo");
	assert_non_null(t);
	assert_string_equal(t->queue, "fast");
	config_free(cfg);

	/* a type the file defines keeps its own settings */
	cfg = load_ok("[type:jobd.echo]\nhandler = builtin\nbuiltin = echo\n"
	    "timeout = 5\nqueue = low\n");
	t = config_find_type(cfg, "jobd.echo");
	assert_true(t->timeout == 5);
	assert_string_equal(t->queue, "low");
	assert_int_equal(cfg->ntypes, 4);
	config_free(cfg);

	/* config_finish twice adds nothing twice */
	cfg = config_new_default();
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->ntypes, 4);
	config_free(cfg);
}

static void
test_many_types(void **state)
{
	size_t cap = (size_t)(CONFIG_MAX_TYPES + 2) * 64;
	char *text = malloc(cap);
	size_t off = 0;
	struct config *cfg;

	(void)state;
	assert_non_null(text);
	for (int i = 0; i < CONFIG_MAX_TYPES; i++)
		off += (size_t)snprintf(text + off, cap - off,
		    "[type:t%d]\nhandler = builtin\nbuiltin = noop\n", i);
	cfg = config_load_string(text, "t.conf", err, sizeof(err));
	/* 256 file types leave no room for the 4 builtins */
	assert_null(cfg);
	assert_non_null(strstr(err, "too many types"));
	off += (size_t)snprintf(text + off, cap - off,
	    "[jobd]\nbuiltins = off\n");
	cfg = load_ok(text);
	assert_int_equal(cfg->ntypes, CONFIG_MAX_TYPES);
	config_free(cfg);
	snprintf(text + off, cap - off, "[type:one_more]\n");
	load_bad(text, "[type:one_more]: too many types", NULL, NULL);
	free(text);
}

static void
test_retry_delays(void **state)
{
	struct job_type t;
	long long d;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.backoff = BACKOFF_EXPONENTIAL;
	t.backoff_base = 2;
	t.backoff_max = 300;
	for (int round = 0; round < 200; round++) {
		long long want = 2000;

		for (int n = 1; n <= 12; n++) {
			d = config_retry_delay_ms(&t, n);
			if (d < want || d > want + want / 5)
				fail_msg("attempt %d: %lld not in [%lld, %lld]", n,
				    d, want, want + want / 5);
			want = want * 2 > 300000 ? 300000 : want * 2;
		}
	}
	/* growth: 2, 4, 8 s; the cap: 300 s at attempt 9 and beyond */
	d = config_retry_delay_ms(&t, 3);
	assert_true(d >= 8000 && d <= 9600);
	d = config_retry_delay_ms(&t, 9);
	assert_true(d >= 300000 && d <= 360000);
	d = config_retry_delay_ms(&t, 1000000);
	assert_true(d >= 300000 && d <= 360000);
	d = config_retry_delay_ms(&t, 0);      /* treated as the first */
	assert_true(d >= 2000 && d <= 2400);

	/* the list, the last entry repeated */
	t.backoff = BACKOFF_FIXED_LIST;
	t.backoff_list[0] = 5;
	t.backoff_list[1] = 30;
	t.backoff_list[2] = 120;
	t.backoff_count = 3;
	d = config_retry_delay_ms(&t, 1);
	assert_true(d >= 5000 && d <= 6000);
	d = config_retry_delay_ms(&t, 2);
	assert_true(d >= 30000 && d <= 36000);
	d = config_retry_delay_ms(&t, 3);
	assert_true(d >= 120000 && d <= 144000);
	d = config_retry_delay_ms(&t, 50);
	assert_true(d >= 120000 && d <= 144000);

	/* jitter is there: not every draw is the same */
	{
		long long first = config_retry_delay_ms(&t, 3);
		int differ = 0;

		for (int i = 0; i < 100 && !differ; i++)
			differ = config_retry_delay_ms(&t, 3) != first;
		assert_true(differ);
	}
	t.backoff_list[0] = 0;
	t.backoff_count = 1;
	assert_int_equal(config_retry_delay_ms(&t, 1), 0);
	assert_int_equal(config_retry_delay_ms(NULL, 1), 0);
}

/* [access]: users, uids, @groups, @gids, "*"; names resolved at load. */
static void
test_access(void **state)
{
	struct config *cfg;
	gid_t g65534 = 65534, g0 = 0;

	(void)state;
	cfg = config_new_default();
	assert_non_null(cfg);
	assert_true(cfg->acl_submit.any);
	assert_true(cfg->acl_admin.any);
	assert_true(config_acl_allows(&cfg->acl_admin, 12345, NULL, 0));
	config_free(cfg);

	cfg = load_ok("[access]\nsubmit = root, 1000 , @0, @nogroup\n"
	    "admin = root\n");
	assert_false(cfg->acl_submit.any);
	assert_int_equal(cfg->acl_submit.nuids, 2);
	assert_int_equal(cfg->acl_submit.uids[0], 0);
	assert_int_equal(cfg->acl_submit.uids[1], 1000);
	assert_int_equal(cfg->acl_submit.ngids, 2);
	assert_int_equal(cfg->acl_submit.gids[0], 0);
	assert_int_equal(cfg->acl_submit.gids[1], 65534);
	assert_true(config_acl_has_groups(&cfg->acl_submit));
	assert_false(config_acl_has_groups(&cfg->acl_admin));
	assert_true(config_acl_allows(&cfg->acl_submit, 1000, NULL, 0));
	assert_true(config_acl_allows(&cfg->acl_submit, 5, &g65534, 1));
	assert_false(config_acl_allows(&cfg->acl_submit, 5, NULL, 0));
	assert_false(config_acl_allows(&cfg->acl_admin, 65534, &g0, 1));
	assert_true(config_acl_allows(&cfg->acl_admin, 0, NULL, 0));
	config_free(cfg);

	cfg = load_ok("[access]\nsubmit = *\nadmin =\n");
	assert_true(cfg->acl_submit.any);
	assert_false(cfg->acl_admin.any);
	assert_false(config_acl_allows(&cfg->acl_admin, 0, NULL, 0));
	config_free(cfg);

	/* two loads never share a serial (connections key their rights on it) */
	{
		struct config *a = load_ok("[jobd]\n"), *b = load_ok("[jobd]\n");

		assert_int_not_equal(a->serial, b->serial);
		config_free(a);
		config_free(b);
	}

	load_bad("[jobd]\n[access]\nsubmit = no_such_user_xyz\n",
	    "t.conf:3:", "[access] submit", "no such user 'no_such_user_xyz'");
	load_bad("[access]\n\nadmin = root, @no_such_group_xyz\n",
	    "t.conf:3:", "[access] admin", "no such group 'no_such_group_xyz'");
	load_bad("[access]\nadmin = root,,0\n", "t.conf:2:", "empty entry",
	    NULL);
	load_bad("[access]\nadmin = @\n", "t.conf:2:", "bad group name",
	    NULL);
	load_bad("[access]\nadmin = a b\n", "t.conf:2:", "bad user name",
	    NULL);
	load_bad("[access]\nadmin = 99999999999999999999\n", "t.conf:2:",
	    "bad id", NULL);
	load_bad("[access]\nwho = root\n", "t.conf:2:",
	    "[access] who: unknown setting", NULL);

	cfg = config_new_default();
	assert_int_equal(config_set(cfg, "access", "admin", "root", err,
	    sizeof(err)), 0);
	assert_false(cfg->acl_admin.any);
	assert_int_equal(config_set(cfg, "access", "submit", "nobody_xyz_q",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no such user"));
	config_free(cfg);
}

/* limit_cpu, limit_memory (K/M/G), limit_files: exec only, bounded. */
static void
test_limits(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	cfg = load_ok("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_cpu = 5\nlimit_memory = 256M\nlimit_files = 64\n"
	    "[type:y]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_memory = 1g\n[type:z]\nhandler = exec\n"
	    "command = /bin/true\nlimit_memory = 20000000\n"
	    "[type:w]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_memory = 20480k\nlimit_memory = 0\nlimit_files = 0\n");
	t = config_find_type(cfg, "x");
	assert_int_equal(t->limit_cpu, 5);
	assert_int_equal(t->limit_memory, 256LL * 1024 * 1024);
	assert_int_equal(t->limit_files, 64);
	assert_int_equal(config_find_type(cfg, "y")->limit_memory,
	    1024LL * 1024 * 1024);
	assert_int_equal(config_find_type(cfg, "z")->limit_memory, 20000000);
	assert_int_equal(config_find_type(cfg, "w")->limit_memory, 0);
	assert_int_equal(config_find_type(cfg, "w")->limit_files, 0);
	assert_int_equal(config_find_type(cfg, "jobd.noop")->limit_cpu, 0);
	config_free(cfg);

	load_bad("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_cpu = -1\n", "t.conf:4:", "[type:x] limit_cpu",
	    "out of range");
	load_bad("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_cpu = 1.5\n", "t.conf:4:", "not a number", NULL);
	load_bad("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_memory = 1M\n", "t.conf:4:", "[type:x] limit_memory",
	    "out of range");
	load_bad("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_memory = 12T\n", "t.conf:4:", "not a size", NULL);
	load_bad("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_memory = M\n", "t.conf:4:", "not a size", NULL);
	load_bad("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_memory = 99999999G\n", "t.conf:4:", "out of range", NULL);
	load_bad("[type:x]\nhandler = exec\ncommand = /bin/true\n"
	    "limit_files = 3\n", "t.conf:4:", "[type:x] limit_files",
	    "out of range");
	load_bad("[type:x]\nhandler = builtin\nbuiltin = noop\n"
	    "limit_cpu = 3\n", "t.conf:1:", "[type:x] limit_cpu",
	    "only for handler exec");
}

/* every row: a doc line; a default that validates; bounds enforced */
static void
test_rows(void **state)
{
	struct config_setting_info in;
	int n = 0, required = 0;

	(void)state;
	for (int i = 0; config_setting_info(i, &in) == 0; i++) {
		char section[32], v[64];
		struct config *cfg = config_new_default();

		n++;
		assert_non_null(cfg);
		if (in.doc == NULL || in.doc[0] == '\0')
			fail_msg("%s has no doc line", in.name);
		snprintf(section, sizeof(section), "%s",
		    strcmp(in.section, "types") == 0 ? "type:x" : in.section);
		if (in.def == NULL) {
			/* no default: what a handler requires */
			required++;
		} else if (config_set(cfg, section, in.name, in.def, err,
		    sizeof(err)) != 0) {
			fail_msg("%s default '%s': %s", in.name, in.def, err);
		}
		if (in.bounded) {
			snprintf(v, sizeof(v), "%.0f", in.max);
			if (config_set(cfg, section, in.name, v, err,
			    sizeof(err)) != 0)
				fail_msg("%s max '%s': %s", in.name, v, err);
			snprintf(v, sizeof(v), "%.0f", in.max + 1);
			if (config_set(cfg, section, in.name, v, err,
			    sizeof(err)) == 0)
				fail_msg("%s = %s above max accepted", in.name,
				    v);
			assert_non_null(strstr(err, "out of range"));
			snprintf(v, sizeof(v), "%.10g", in.min_open ? in.min :
			    in.min - 1);
			if ((in.min > 0 || in.min_open) && !(in.zero_ok &&
			    strcmp(v, "0") == 0) && config_set(cfg, section,
			    in.name, v, err, sizeof(err)) == 0)
				fail_msg("%s = %s below min accepted", in.name,
				    v);
		}
		config_free(cfg);
	}
	assert_true(n > 40);
	/* handler, command, url, builtin; [cron:NAME] schedule and type */
	assert_int_equal(required, 6);
	assert_int_equal(config_setting_info(-1, &in), -1);
}

/* sizes all take K/M/G; durations all take s/m/h/d */
static void
test_units(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	cfg = load_ok("[jobd]\nmax_frame = 64K\nmax_result = 2m\nlease = 2m\n"
	    "result_ttl = 2h\nfailure_ttl = 1d\nmax_wait = 90s\n"
	    "[type:t]\nhandler = exec\ncommand = /x\nmax_output = 1G\n"
	    "timeout = 1.5m\nlimit_cpu = 1h\nbackoff = 1s, 2m, 1h\n");
	assert_int_equal(cfg->max_frame, 65536);
	assert_int_equal(cfg->max_result, 2 * 1024 * 1024);
	assert_true(cfg->lease == 120);
	assert_int_equal(cfg->result_ttl, 7200);
	assert_int_equal(cfg->failure_ttl, 86400);
	assert_true(cfg->max_wait == 90);
	t = config_find_type(cfg, "t");
	assert_int_equal(t->max_output, 1024LL * 1024 * 1024);
	assert_true(t->timeout == 90);
	assert_int_equal(t->limit_cpu, 3600);
	assert_int_equal(t->backoff_count, 3);
	assert_true(t->backoff_list[2] == 3600);
	config_free(cfg);
	load_bad("[jobd]\nlease = 2w\n", "t.conf:2: [jobd] lease: not a number",
	    NULL, NULL);
	load_bad("[jobd]\nlease = 2h\n", "t.conf:2: [jobd] lease: out of range",
	    NULL, NULL);
	load_bad("[jobd]\nresult_ttl = 1.5\n", "result_ttl: not a number of "
	    "whole seconds", NULL, NULL);
	load_bad("[jobd]\nlease = s\n", "[jobd] lease: not a number", NULL,
	    NULL);
	load_bad("[jobd]\nmax_result = 1T\n", "max_result: not a size", NULL,
	    NULL);
}

/* the INI reader: comments, continuation, CRLF, NUL, ']', duplicates */
static void
test_ini_reader(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	/* a later line wins; env lines add; a continuation line continues */
	cfg = load_ok("[jobd]\r\nworkers = 1\r\nworkers = 2 ; later wins\r\n"
	    "# comment\r\n[type:t]\nhandler = exec\ncommand = /x\n"
	    "env = A=1\n  B=2\n\n  C=3\nenv = A=4\n");
	assert_int_equal(cfg->workers, 2);
	t = config_find_type(cfg, "t");
	assert_string_equal(t->env[0], "A=4");
	assert_string_equal(t->env[1], "B=2");
	assert_string_equal(t->env[2], "C=3");
	config_free(cfg);
	load_bad("[jobd]\nworkers = 2\x01\n", "t.conf:2: NUL or control byte",
	    NULL, NULL);
	load_bad("[jobd]\nworkers = 2\rx\n", "t.conf:2: NUL or control byte",
	    NULL, NULL);
	load_bad("\n[jobd\n", "t.conf:2: syntax error", "'[jobd'", NULL);
	load_bad("[jobd] x\n", "t.conf:1: syntax error", NULL, NULL);
	load_bad("[jobd]\n= 3\n", "t.conf:2: syntax error", NULL, NULL);
	load_bad("[types]\n[types]\nhandler = nope\n",
	    "t.conf:3: [types] handler: expected exec", NULL, NULL);
	/* a line of 1 MB: tests/unit/test_ini.c */
}

static struct config *
load_opts(const char *text, const char *const *opts, int n)
{
	char path[] = "/tmp/test_config_XXXXXX";
	struct config *cfg;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	err[0] = '\0';
	cfg = config_load(path, opts, n, err, sizeof(err));
	unlink(path);
	return cfg;
}

/* -o SECTION.KEY=VALUE: any setting, last dot ends the section */
static void
test_override_args(void **state)
{
	const char *ok[] = {
		"jobd.workers=3", "type:a.b.handler=builtin",
		"type:a.b.builtin = echo", "access.admin=root",
		"type:new.handler=exec", "type:new.command=/bin/x a=b c",
		"types.timeout=7", "jobd.workers=4",
	};
	static const struct { const char *arg, *msg; } bad[] = {
		{ "nosuch.key=1", "-o nosuch.key=1: [nosuch]: unknown section" },
		{ "jobd.workers=abc",
		  "-o jobd.workers=abc: [jobd] workers: not a number: 'abc'" },
		{ "jobd.workers", "-o jobd.workers: expected SECTION.KEY=VALUE" },
		{ "workers=3", "-o workers=3: expected SECTION.KEY=VALUE" },
		{ ".workers=3", "expected SECTION.KEY=VALUE" },
		{ "jobd.=3", "expected SECTION.KEY=VALUE" },
		{ "jobd.nope=3", "[jobd] nope: unknown setting" },
		{ "type:bad name.timeout=3", "bad type name" },
		{ "jobd.include=/etc/x", "include is for files" },
		{ "type:q.handler=exec", "[type:q] command: required" },
		{ "type:q.env=A=1\nB=2", "control character in the value" },
	};
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	cfg = load_opts("[jobd]\nworkers = 1\n[type:new]\nhandler = exec\n"
	    "command = /bin/old\n", ok, 8);
	if (cfg == NULL) {
		fail_msg("%s", err);
		return;         /* it does not: said for the static analyzer */
	}
	assert_int_equal(cfg->workers, 4);          /* the last -o wins */
	assert_false(cfg->acl_admin.any);
	t = config_find_type(cfg, "a.b");
	assert_non_null(t);
	assert_string_equal(t->builtin, "echo");
	t = config_find_type(cfg, "new");           /* -o over the file */
	assert_int_equal(t->kind, HANDLER_EXEC);
	assert_string_equal(t->argv[1], "a=b");
	assert_true(t->timeout == 7);               /* from types. */
	config_free(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *o = bad[i].arg;

		cfg = load_opts("[jobd]\n", &o, 1);
		if (cfg != NULL)
			fail_msg("-o %s accepted", o);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("'%s' not in: %s", bad[i].msg, err);
	}
	/* a huge value is refused, and the message stays one bounded line */
	{
		char *o = malloc(100000);

		assert_non_null(o);
		strcpy(o, "jobd.prefix=");
		memset(o + 12, 'x', 99000);
		o[99012] = '\0';
		cfg = load_opts("", (const char *const *)&o, 1);
		assert_null(cfg);
		assert_non_null(strstr(err, "[jobd] prefix: expected 1..64"));
		assert_true(strlen(err) < sizeof(err));
		free(o);
	}
}

static char tmpdir[64];

static void
put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct config *
load_main(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
	err[0] = '\0';
	return config_load(path, NULL, 0, err, sizeof(err));
}

/* include = GLOB: sorted, relative, in place, depth, cycles */
static void
test_include(void **state)
{
	struct config *cfg;
	const struct job_type *t;
	char want[256];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config_inc_XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	assert_int_equal(system("true"), 0);
	snprintf(want, sizeof(want), "mkdir %s/conf.d", tmpdir);
	assert_int_equal(system(want), 0);
	/* the include's lines override the earlier ones, later ones win */
	put("main.conf", "[jobd]\nworkers = 1\nprefix = a\n"
	    "include = conf.d/*.conf\nprefix = main\n"
	    "[type:t]\nhandler = exec\ncommand = /x\ntimeout = 5\n"
	    "include = conf.d/t.inc\n");
	put("conf.d/10-a.conf", "workers = 2\nprefix = inc\n");
	put("conf.d/20-b.conf", "[jobd]\nworkers = 3\n[type:u]\n"
	    "handler = builtin\nbuiltin = noop\n");
	put("conf.d/t.inc", "timeout = 9\n");
	cfg = load_main();
	if (cfg == NULL) {
		fail_msg("%s", err);
		return;         /* it does not: said for the static analyzer */
	}
	assert_int_equal(cfg->workers, 3);
	assert_string_equal(cfg->prefix, "main");
	t = config_find_type(cfg, "t");
	assert_true(t->timeout == 9);   /* read in [type:t] */
	assert_non_null(config_find_type(cfg, "u"));
	config_free(cfg);

	/* no match: fine for a wildcard, an error for a plain name */
	put("main.conf", "include = none.d/*.conf\n[jobd]\nworkers = 2\n");
	cfg = load_main();
	if (cfg == NULL)
		fail_msg("%s", err);
	config_free(cfg);
	put("main.conf", "[jobd]\ninclude = missing.conf\n");
	assert_null(load_main());
	assert_non_null(strstr(err, "main.conf:2: include "));
	assert_non_null(strstr(err, "missing.conf: no such file"));

	/* an error inside names the included file and its line */
	put("main.conf", "[jobd]\ninclude = conf.d/bad.inc\n");
	put("conf.d/bad.inc", "\nworkers = x\n");
	assert_null(load_main());
	assert_non_null(strstr(err, "conf.d/bad.inc:2: [jobd] workers: "));

	/* cycles and depth: tests/unit/test_ini.c */

	/* a binary file */
	{
		char path[256];
		FILE *f;

		snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
		f = fopen(path, "w");
		assert_non_null(f);
		for (int i = 0; i < 4096; i++)
			fputc((i * 7919) & 0xff, f);
		fclose(f);
		assert_null(load_main());
		assert_non_null(strstr(err, "main.conf:"));
	}
	/* the same type header twice in one file is still an error */
	put("main.conf", "[type:a]\nhandler = builtin\nbuiltin = noop\n"
	    "[type:a]\n");
	assert_null(load_main());
	assert_non_null(strstr(err, "main.conf:4: [type:a]: duplicate type"));
	snprintf(want, sizeof(want), "rm -rf %s", tmpdir);
	assert_int_equal(system(want), 0);
}

/* [cron:NAME]: the settings, defaults, -o, and what is refused */
static void
test_cron_sections(void **state)
{
	static const char *const opts[] = { "cron:b.schedule=@hourly",
	    "cron:b.type=jobd.noop", "cron:a.misfire=once" };
	struct config *cfg;
	char path[] = "/tmp/test_cron_confXXXXXX";
	const char *text = "[type:t]\nhandler = builtin\nbuiltin = noop\n"
	    "[cron:a]\nschedule = */5 9-17 * * mon-fri\ntype = t\n"
	    "payload = { \"k\" : [1, 2] }\nqueue = default\n"
	    "timezone = Europe/Berlin\n";
	int fd;

	(void)state;
	cfg = load_ok(text);
	assert_int_equal(cfg->ncrons, 1);
	assert_string_equal(cfg->crons[0].name, "a");
	assert_string_equal(cfg->crons[0].schedule, "*/5 9-17 * * mon-fri");
	assert_true(cfg->crons[0].sched.dow == 0x3e);
	assert_string_equal(cfg->crons[0].type, "t");
	assert_string_equal(cfg->crons[0].payload, "{\"k\":[1,2]}");
	assert_string_equal(cfg->crons[0].timezone, "Europe/Berlin");
	assert_int_equal(cfg->crons[0].misfire_once, 0);
	config_free(cfg);

	/* defaults, and -o adds a section or changes one */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg = config_load(path, opts, 3, err, sizeof(err));
	unlink(path);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->ncrons, 2);
	assert_int_equal(cfg->crons[0].misfire_once, 1);
	assert_string_equal(cfg->crons[1].name, "b");
	assert_string_equal(cfg->crons[1].payload, "{}");
	assert_string_equal(cfg->crons[1].timezone, "UTC");
	assert_string_equal(cfg->crons[1].queue, "");
	config_free(cfg);

	load_bad("[cron:x]\ntype = jobd.noop\n", "t.conf:1: [cron:x] "
	    "schedule: required", NULL, NULL);
	load_bad("[cron:x]\nschedule = @daily\n", "[cron:x] type: required",
	    NULL, NULL);
	load_bad("[cron:x]\nschedule = @daily\ntype = nope\n",
	    "[cron:x] type: no [type:nope]", NULL, NULL);
	load_bad("[cron:x]\nschedule = 1-2-3 * * * *\n", "t.conf:2: "
	    "[cron:x] schedule: minute: unexpected '-'", NULL, NULL);
	load_bad("[cron:x]\ntimezone = Nowhere/Land\n", "t.conf:2: [cron:x] "
	    "timezone: unknown time zone", "'Nowhere/Land'", NULL);
	load_bad("[cron:x]\nmisfire = all\n", "[cron:x] misfire: expected "
	    "skip or once: 'all'", NULL, NULL);
	load_bad("[cron:x]\npayload = [1,\n", "[cron:x] payload: bad JSON",
	    NULL, NULL);
	load_bad("[cron:x]\nqueue = bad queue\n", "[cron:x] queue: bad "
	    "queue name", NULL, NULL);
	load_bad("[cron:x]\nschedule = @daily\ntype = jobd.noop\n"
	    "queue = elsewhere\n", "[cron:x] queue: not one of the "
	    "configured queues: 'elsewhere'", NULL, NULL);
	load_bad("[cron:]\n", "[cron:]: bad schedule name", NULL, NULL);
	load_bad("[cron:x]\nschedule = @daily\ntype = jobd.noop\n"
	    "[cron:x]\n", "t.conf:4: [cron:x]: duplicate schedule", NULL,
	    NULL);
	load_bad("[cron:x]\nhandler = exec\n", "[cron:x] handler: unknown "
	    "setting", NULL, NULL);
}

/* [types]: every type inherits what it does not set; env merges */
static void
test_types_section(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	cfg = load_ok("[types]\nhandler = exec\ncommand = /usr/bin/app run\n"
	    "cwd = /srv/app\ntimeout = 60\nenv = A=types\nenv = B=types\n"
	    "url = http://x/\n"
	    "[type:a]\n"
	    "[type:b]\ntimeout = 5\nenv = A=b\ncommand = /bin/b\n"
	    "[type:c]\nhandler = http\nurl = http://c/\n"
	    "[type:d]\nhandler = builtin\nbuiltin = noop\n");
	t = config_find_type(cfg, "a");
	assert_int_equal(t->kind, HANDLER_EXEC);
	assert_string_equal(t->argv[0], "/usr/bin/app");
	assert_string_equal(t->cwd, "/srv/app");
	assert_true(t->timeout == 60);
	assert_null(t->url);                    /* not for exec */
	t = config_find_type(cfg, "b");
	assert_true(t->timeout == 5);           /* its own wins */
	assert_string_equal(t->argv[0], "/bin/b");
	assert_string_equal(t->env[0], "A=b");
	assert_string_equal(t->env[1], "B=types");
	t = config_find_type(cfg, "c");
	assert_null(t->argv[0]);                /* command is exec's */
	assert_string_equal(t->url, "http://c/");
	assert_string_equal(t->cwd, "/srv/app");
	t = config_find_type(cfg, "d");
	assert_true(t->timeout == 60);
	t = config_find_type(cfg, "jobd.echo"); /* builtins do not inherit */
	assert_true(t->timeout == 60);
	assert_null(t->cwd);
	config_free(cfg);

	/* a type with no handler anywhere */
	load_bad("[types]\ntimeout = 3\n[type:x]\n",
	    "t.conf:3: [type:x] handler: required", NULL, NULL);
	/* a bad [types] value is reported where it is */
	load_bad("[types]\ntimeout = -1\n", "t.conf:2: [types] timeout: out "
	    "of range", NULL, NULL);
	/* an inherited value the type's handler needs, checked per type */
	load_bad("[types]\nhandler = exec\n[type:x]\n",
	    "[type:x] command: required for handler exec", NULL, NULL);
}

/* env_pass: named variables of jobd's environment, at load time */
static void
test_env_pass(void **state)
{
	struct config *cfg;
	const struct job_type *t;

	(void)state;
	setenv("TEST_CONFIG_PASS", "from-jobd", 1);
	unsetenv("TEST_CONFIG_UNSET");
	cfg = load_ok("[types]\nenv_pass = TEST_CONFIG_UNSET\n"
	    "[type:t]\nhandler = exec\ncommand = /x\n"
	    "env = TEST_CONFIG_PASS=default\nenv = KEEP=1\n"
	    "env_pass = TEST_CONFIG_PASS, TEST_CONFIG_PASS\n");
	t = config_find_type(cfg, "t");
	assert_string_equal(t->env[0], "TEST_CONFIG_PASS=from-jobd");
	assert_string_equal(t->env[1], "KEEP=1");
	assert_null(t->env[2]);                 /* unset: not passed */
	assert_string_equal(t->env_pass[0], "TEST_CONFIG_PASS");
	assert_string_equal(t->env_pass[1], "TEST_CONFIG_UNSET");
	assert_null(t->env_pass[2]);
	config_free(cfg);
	unsetenv("TEST_CONFIG_PASS");
	cfg = load_ok("[type:t]\nhandler = exec\ncommand = /x\n"
	    "env = TEST_CONFIG_PASS=default\nenv_pass = TEST_CONFIG_PASS\n");
	assert_string_equal(config_find_type(cfg, "t")->env[0],
	    "TEST_CONFIG_PASS=default");
	config_free(cfg);
	load_bad("[type:t]\nenv_pass = JOBD_SOCKET\n",
	    "t.conf:2: [type:t] env_pass: JOBD_* variables are set by jobd",
	    NULL, NULL);
	load_bad("[type:t]\nenv_pass = A B\n",
	    "t.conf:2: [type:t] env_pass: bad variable name", NULL, NULL);
	load_bad("[type:t]\nenv_pass = A,,B\n", "empty entry", NULL, NULL);
}

/* [limit:NAME]: the settings, the rate in ms, a type's limit, refusals. */
static void
test_limit_sections(void **state)
{
	struct config *cfg;
	const struct job_limit *l;

	(void)state;
	cfg = load_ok("[limit:llm]\nconcurrency = 4\nrate = 60/m\nburst = 5\n"
	    "[limit:one]\nrate = 3/s\n[types]\nlimit = one\n"
	    "[type:gen]\nhandler = builtin\nbuiltin = noop\nlimit = llm\n"
	    "[type:other]\nhandler = builtin\nbuiltin = noop\n");
	assert_int_equal(cfg->nlimits, 2);
	l = config_find_limit(cfg, "llm");
	assert_non_null(l);
	assert_int_equal(l->concurrency, 4);
	assert_int_equal(l->every_ms, 1000);
	assert_int_equal(l->burst, 5);
	l = config_find_limit(cfg, "one");
	assert_int_equal(l->concurrency, 0);
	assert_int_equal(l->every_ms, 333);
	assert_int_equal(l->burst, 1);
	assert_string_equal(config_find_type(cfg, "gen")->limit, "llm");
	assert_string_equal(config_find_type(cfg, "other")->limit, "one");
	assert_string_equal(config_find_type(cfg, "jobd.noop")->limit, "");
	config_free(cfg);

	load_bad("[limit:x]\nrate = 5\n", "t.conf:2", "[limit:x] rate",
	    "expected N/s, N/m or N/h");
	load_bad("[limit:x]\nrate = 1001/s\n", "[limit:x] rate", NULL, NULL);
	load_bad("[limit:x]\nrate = 0/h\n", "[limit:x] rate", NULL, NULL);
	load_bad("[limit:x]\nconcurrency = 0\n", "[limit:x] concurrency",
	    NULL, NULL);
	load_bad("[limit:x]\nconcurrency = 100001\n",
	    "[limit:x] concurrency", NULL, NULL);
	load_bad("[limit:x]\nburst = 2\n", "[limit:x]",
	    "needs concurrency or rate", NULL);
	load_bad("[limit:x]\nconcurrency = 2\nburst = 2\n",
	    "[limit:x] burst: only with rate", NULL, NULL);
	load_bad("[limit:x]\n", "[limit:x]: needs concurrency or rate", NULL,
	    NULL);
	load_bad("[limit:x]\nrate = 1/s\nsize = 2\n", "[limit:x] size",
	    "unknown setting", NULL);
	load_bad("[limit:a:b]\nrate = 1/s\n", "[limit:a:b]", "bad limit name",
	    NULL);
	load_bad("[type:t]\nhandler = builtin\nbuiltin = noop\n"
	    "limit = nope\n", "[type:t] limit: no [limit:nope] section", NULL,
	    NULL);
	load_bad("[type:t]\nhandler = builtin\nbuiltin = noop\n"
	    "limit = a b\n", "[type:t] limit", "bad limit name", NULL);
}

/* mdoc_of: what config_mdoc_text (arg 0) or config_mdoc_arg (1) writes. */
static char *
mdoc_of(const char *text, int arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	if (arg)
		config_mdoc_arg(fp, text);
	else
		config_mdoc_text(fp, text);
	fclose(fp);
	return buf;
}

/* assert_inert: no line of mdoc text starts a request or macro, and every
 * backslash is one of the escapes the writer makes (\e, \&, \(dq). */
static void
assert_inert(const char *out)
{
	for (const char *l = out; *l != '\0'; l = strchr(l, '\n') + 1) {
		assert_non_null(strchr(l, '\n'));
		assert_true(l[0] != '.' && l[0] != '\'' && l[0] != ' ');
	}
	for (const char *p = strchr(out, '\\'); p != NULL;
	    p = strchr(p + 2, '\\'))
		assert_true(p[1] == 'e' || p[1] == '&' ||
		    strncmp(p, "\\(dq", 4) == 0);
}

static void
expect_mdoc(const char *text, int arg, const char *want)
{
	char *got = mdoc_of(text, arg);

	assert_string_equal(got, want);
	if (!arg)
		assert_inert(got);
	free(got);
}

/* test_mdoc_text: doc strings become inert mdoc (jobd.conf(5)); the attack
 * is a doc line that would be a roff request or macro, or a backslash. */
static void
test_mdoc_text(void **state)
{
	char long_text[2048], *out;
	FILE *fp;
	char *all = NULL;
	size_t len = 0;

	(void)state;
	expect_mdoc("Plain text.", 0, "Plain text.\n");
	expect_mdoc(".Sh EVIL", 0, "\\&.Sh EVIL\n");
	expect_mdoc("'br", 0, "\\&'br\n");
	expect_mdoc("a\\fBbold\\fR \\", 0, "a\\efBbold\\efR \\e\n");
	/* a sentence ends a line: the next one must not start a macro */
	expect_mdoc("One.  .Sh X.  'so /etc/passwd", 0,
	    "One.\n\\&.Sh X.\n\\&'so /etc/passwd\n");
	/* a newline or other control byte is a blank, not a new line */
	expect_mdoc("x\n.Sh Y\r\t.", 0, "x .Sh Y .\n");
	expect_mdoc("   lead and trail   ", 0, "lead and trail\n");
	expect_mdoc("", 0, "");
	expect_mdoc("No", 1, "\"\\&No\"");
	expect_mdoc("a\"b\\c\nd", 1, "\"\\&a\\(dqb\\ec d\"");

	/* wrapped lines: a word that starts with . or ' at a line's start */
	long_text[0] = '\0';
	for (int i = 0; i < 40; i++)
		strcat(long_text, i % 3 == 0 ? ".dot " : i % 3 == 1 ?
		    "'quote " : "word\\ ");
	out = mdoc_of(long_text, 0);
	assert_inert(out);
	for (const char *l = out; *l != '\0'; l = strchr(l, '\n') + 1)
		assert_true(strchr(l, '\n') - l <= 80);
	free(out);

	/* the whole list: its only macro lines are the writer's own */
	fp = open_memstream(&all, &len);
	assert_non_null(fp);
	config_write_mdoc(fp);
	fclose(fp);
	for (const char *l = all; *l != '\0'; l = strchr(l, '\n') + 1) {
		assert_true(l[0] != '\'');
		if (l[0] == '.')
			assert_true(strncmp(l, ".Ss ", 4) == 0 ||
			    strncmp(l, ".Bl ", 4) == 0 ||
			    strncmp(l, ".El\n", 4) == 0 ||
			    strncmp(l, ".It Cm \"", 8) == 0 ||
			    strncmp(l, ".Ql \"", 5) == 0 ||
			    strncmp(l, ".\\\" ", 4) == 0);
	}
	assert_non_null(strstr(all, ".It Cm \"\\&socket\"\n"));
	assert_non_null(strstr(all, ".Ss \\&[limit:NAME]\\&\n"));
	free(all);
}

/* durable: its WAIT must end before the store's watchdog gives up on
 * Redis; and the topology URLs load. */
static void
test_durable(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("[jobd]\nredis = sentinel://h1,h2:26380/m\n"
	              "durable = yes\ndurable_timeout = 0.5\n");
	assert_int_equal(cfg->durable, 1);
	assert_true(cfg->durable_timeout == 0.5);
	config_free(cfg);
	cfg = load_ok("[jobd]\nredis = cluster://h1:7000\n");
	assert_int_equal(cfg->durable, 0);
	assert_true(cfg->durable_timeout == 1.0);
	config_free(cfg);
	load_bad("[jobd]\nredis = redis://h\ndurable = yes\n"
	         "durable_timeout = 10\n", "durable_timeout (10 s) must be "
	         "shorter than redis_timeout (10 s)", NULL, NULL);
	load_bad("[jobd]\nredis = redis://h\ndurable_timeout = 0\n",
	         "durable_timeout", NULL, NULL);
	load_bad("[jobd]\nredis = redis://h\ndurable = maybe\n", "durable",
	         NULL, NULL);
	load_bad("[jobd]\nredis = cluster://h/3\n", "database 0 only", NULL,
	         NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_every_setting),
		cmocka_unit_test(test_setting_values),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_type_settings),
		cmocka_unit_test(test_broken_files),
		cmocka_unit_test(test_ini_syntax),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_builtins),
		cmocka_unit_test(test_many_types),
		cmocka_unit_test(test_retry_delays),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_ini_reader),
		cmocka_unit_test(test_override_args),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_types_section),
		cmocka_unit_test(test_env_pass),
		cmocka_unit_test(test_cron_sections),
		cmocka_unit_test(test_limit_sections),
		cmocka_unit_test(test_mdoc_text),
		cmocka_unit_test(test_durable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
