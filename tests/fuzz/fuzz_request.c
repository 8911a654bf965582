/*
 * fuzz_request.c: libFuzzer harness for the request validator
 * (daemon/request.c) and the helpers it exports.
 *
 * The input is one frame body.  It is parsed twice: against a config with
 * three queues and a few configured types, and against one that accepts
 * any type.  Checked every time:
 *
 * - the code is a protocol error code; on an error the message is
 *   non-empty, NUL-terminated inside the buffer, valid UTF-8 without
 *   control characters, and the daemon's error reply can be built from it;
 * - on PERR_OK the request is what its op promises (every bound of
 *   docs/protocol.md: njobs >= 1, the pointers an op needs non-NULL, queues
 *   configured, numbers within their ranges...);
 * - "id", when set, is a scalar;
 * - request_clear() leaves the request zeroed (leaks: LeakSanitizer).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "proto.h"
#include "request.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_request: check failed at %s:%d: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#define DAY  86400.0
#define YEAR (365 * DAY)

static const char conf_strict[] =
	"[jobd]\n"
	"queues = high, default, low\n"
	"max_wait = 60\n"
	"[type:gen]\n"
	"handler = exec\n"
	"command = /bin/true\n"
	"queue = high\n"
	"timeout = 600\n"
	"retries = 2\n"
	"[type:export.pdf]\n"
	"handler = exec\n"
	"command = /bin/true\n"
	"queue = low\n";

static const char conf_any[] =
	"[jobd]\n"
	"queues = only\n"
	"accept_any_type = yes\n"
	"builtins = no\n";

static struct config *cfg_strict, *cfg_any;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc; (void)argv;
	cfg_strict = config_load_string(conf_strict, "fuzz-strict.conf", err,
	    sizeof(err));
	if (cfg_strict == NULL) {
		fprintf(stderr, "fuzz_request: config: %s\n", err);
		abort();
	}
	cfg_any = config_load_string(conf_any, "fuzz-any.conf", err, sizeof(err));
	if (cfg_any == NULL) {
		fprintf(stderr, "fuzz_request: config: %s\n", err);
		abort();
	}
	return 0;
}

/* utf8_printable: s is valid UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF) holding no control characters. */
static int
utf8_printable(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned c = *p;
		int n;
		unsigned cp, min;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		if (cp >= 0x80 && cp < 0xa0)        /* C1 controls */
			return 0;
		p += n + 1;
	}
	return 1;
}

static int
valid_status(const char *s)
{
	static const char *const st[] = {
		"queued", "scheduled", "started", "finished", "failed", "canceled",
		"deferred"
	};

	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if (strcmp(s, st[i]) == 0)
			return 1;
	return 0;
}

static void
check_job(const struct config *cfg, const struct submit_spec *s)
{
	CHECK(s->type != NULL && s->type[0] != '\0');
	CHECK(cfg->accept_any_type || config_find_type(cfg, s->type) != NULL);
	CHECK(s->queue != NULL && config_queue_index(cfg, s->queue) >= 0);
	CHECK(s->payload != NULL);
	CHECK(s->meta != NULL && json_is_object(s->meta));
	CHECK(isfinite(s->timeout) && s->timeout > 0 && s->timeout <= 7 * DAY);
	CHECK(s->retries >= 0 && s->retries <= 100);
	CHECK(s->job_id == NULL || request_valid_id(s->job_id));
	/* tick ids are jobd's (docs/protocol.md, cron_list) */
	CHECK(s->job_id == NULL || strncmp(s->job_id, "cron:", 5) != 0);
	CHECK(s->unique_key == NULL ||
	    (s->unique_key[0] != '\0' &&
	     strlen(s->unique_key) <= REQUEST_MAX_KEY_LEN));
	CHECK(isfinite(s->delay) && s->delay >= 0 && s->delay <= YEAR);
	CHECK(s->run_at_ms == -1 || s->run_at_ms >= 0);
	CHECK(s->delay == 0 || s->run_at_ms == -1);
	CHECK(s->result_ttl >= 0 && s->failure_ttl >= 0);
	/* workflow fields: checked ids, distinct, bounded; a policy only
	 * with parents */
	CHECK(s->batch_id == NULL || request_valid_id(s->batch_id));
	CHECK(s->on_dep == NULL || strcmp(s->on_dep, "run") == 0 ||
	    strcmp(s->on_dep, "hold") == 0);
	CHECK(s->on_dep == NULL || s->depends_on != NULL);
	if (s->depends_on != NULL) {
		size_t n = json_array_size(s->depends_on);

		CHECK(n >= 1 && n <= REQUEST_MAX_DEPS);
		for (size_t i = 0; i < n; i++) {
			const char *d = json_string_value(
			    json_array_get(s->depends_on, i));

			CHECK(d != NULL && request_valid_id(d));
			CHECK(s->job_id == NULL || strcmp(d, s->job_id) != 0);
			for (size_t k = 0; k < i; k++)
				CHECK(strcmp(d, json_string_value(
				    json_array_get(s->depends_on, k))) != 0);
		}
	}
	/* the daemon serialises the payload and meta into Redis */
	{
		char *p = json_dumps(s->payload, JSON_ENCODE_ANY | JSON_COMPACT);

		CHECK(p != NULL);
		free(p);
	}
}

static void
check_ok(const struct config *cfg, const struct request *req)
{
	CHECK(req->root != NULL && json_is_object(req->root));
	CHECK((int)req->op >= 0 && req->op < OP__COUNT);
	CHECK(strcmp(op_name(req->op), "unknown") != 0);
	switch (req->op) {
	case OP_SUBMIT:
		CHECK(req->njobs == 1 && req->jobs != NULL);
		check_job(cfg, &req->jobs[0]);
		break;
	case OP_SUBMIT_MANY:
		CHECK(req->njobs >= 1 && req->njobs <= REQUEST_MAX_JOBS);
		CHECK(req->jobs != NULL);
		for (size_t i = 0; i < req->njobs; i++) {
			check_job(cfg, &req->jobs[i]);
			for (size_t j = 0; j < i; j++)
				CHECK(req->jobs[i].job_id == NULL ||
				    req->jobs[j].job_id == NULL ||
				    strcmp(req->jobs[i].job_id,
				    req->jobs[j].job_id) != 0);
		}
		break;
	case OP_GET:
	case OP_RESULT:
	case OP_CANCEL:
		CHECK(req->job_id != NULL && request_valid_id(req->job_id));
		break;
	case OP_WAIT:
		CHECK(req->job_id != NULL && request_valid_id(req->job_id));
		CHECK(isfinite(req->timeout) && req->timeout >= 0 &&
		    req->timeout <= cfg->max_wait);
		break;
	case OP_REQUEUE:
		CHECK((req->job_id != NULL) != (req->all_failed != 0));
		CHECK(req->job_id == NULL || request_valid_id(req->job_id));
		CHECK(req->queue == NULL ||
		    config_queue_index(cfg, req->queue) >= 0);
		break;
	case OP_LIST:
		CHECK(req->status == NULL || valid_status(req->status));
		CHECK(req->queue == NULL ||
		    config_queue_index(cfg, req->queue) >= 0);
		CHECK(req->offset >= 0);
		CHECK(req->limit >= 1 && req->limit <= REQUEST_MAX_LIMIT);
		break;
	case OP_BATCH_OPEN:
		CHECK(req->description == NULL ||
		    strlen(req->description) <= REQUEST_MAX_DESCRIPTION);
		CHECK(req->njobs <= 1 && (req->njobs == 1) == (req->jobs != NULL));
		if (req->njobs == 1) {
			check_job(cfg, &req->jobs[0]);
			CHECK(req->jobs[0].job_id == NULL &&
			    req->jobs[0].unique_key == NULL &&
			    req->jobs[0].depends_on == NULL &&
			    req->jobs[0].batch_id == NULL);
		}
		break;
	case OP_BATCH_SEAL:
	case OP_BATCH_GET:
		CHECK(req->batch_id != NULL && request_valid_id(req->batch_id));
		break;
	case OP_PAUSE:
	case OP_RESUME:
		CHECK(req->queue != NULL &&
		    config_queue_index(cfg, req->queue) >= 0);
		break;
	case OP_PROGRESS:
		CHECK(req->job_id != NULL && request_valid_id(req->job_id));
		CHECK(isfinite(req->percent) && req->percent >= 0 &&
		    req->percent <= 100);
		CHECK(req->message == NULL ||
		    strlen(req->message) <= REQUEST_MAX_MESSAGE);
		break;
	default:
		CHECK(req->jobs == NULL && req->njobs == 0);
		break;
	}
	if (req->op != OP_SUBMIT && req->op != OP_SUBMIT_MANY &&
	    req->op != OP_BATCH_OPEN)
		CHECK(req->jobs == NULL && req->njobs == 0);
}

/* check_error_reply: what reply.c's reply_error() builds from the message
 * must encode (an invalid UTF-8 message would lose the "error" member). */
static void
check_error_reply(int rc, const char *msg, json_t *id)
{
	json_t *resp = json_object(), *e;
	char *out;

	CHECK(resp != NULL);
	e = json_pack("{s:s,s:s}", "code", proto_err_name(rc), "message", msg);
	CHECK(e != NULL);
	CHECK(json_object_set_new(resp, "error", e) == 0);
	if (id != NULL)
		CHECK(json_object_set(resp, "id", id) == 0);
	out = json_dumps(resp, JSON_COMPACT);
	CHECK(out != NULL);
	free(out);
	json_decref(resp);
}

static void
one(const struct config *cfg, const uint8_t *data, size_t size)
{
	static const struct request zero;
	struct request req;
	char err[256];
	int rc;

	memset(err, 'Z', sizeof(err));
	rc = request_parse((const char *)data, size, cfg, &req, err,
	    sizeof(err));
	CHECK(rc >= 0 && rc < PERR__COUNT);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (req.id != NULL)
		CHECK(!json_is_object(req.id) && !json_is_array(req.id));
	if (rc == PERR_OK) {
		check_ok(cfg, &req);
	} else {
		CHECK(err[0] != '\0');
		if (!utf8_printable(err)) {
			fprintf(stderr, "fuzz_request: bad message: \"");
			for (size_t i = 0; err[i] != '\0'; i++)
				fprintf(stderr, (unsigned char)err[i] < 0x20 ||
				    (unsigned char)err[i] >= 0x7f ? "\\x%02x" :
				    "%c", (unsigned char)err[i]);
			fprintf(stderr, "\"\n");
			CHECK(!"error message is not printable UTF-8");
		}
		check_error_reply(rc, err, req.id);
		CHECK(req.jobs == NULL || req.op == OP_SUBMIT ||
		    req.op == OP_SUBMIT_MANY || req.op == OP_BATCH_OPEN);
	}
	request_clear(&req);
	CHECK(memcmp(&req, &zero, sizeof(req)) == 0);

	/* a tiny error buffer must stay NUL-terminated too, and the code
	 * must not depend on the buffer */
	memset(err, 'Z', 8);
	CHECK(request_parse((const char *)data, size, cfg, &req, err, 8) == rc);
	CHECK(memchr(err, '\0', 8) != NULL);
	request_clear(&req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(cfg_strict, data, size);
	one(cfg_any, data, size);

	/* the exported helpers, on the input as a C string */
	if (size <= 256) {
		char s[257];

		memcpy(s, data, size);
		s[size] = '\0';
		long long t = request_parse_time(s);
		CHECK(t >= -1);
		if (request_valid_id(s)) {
			size_t n = strlen(s);

			CHECK(n >= 1 && n <= REQUEST_MAX_ID_LEN);
		}
	}
	return 0;
}
