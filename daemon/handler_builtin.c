/* handler_builtin.c: the in-process handlers (jobd.noop, jobd.echo,
 * jobd.sleep, jobd.fail), for tests and benchmarks.  No fork. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "handler.h"
#include "ipc.h"

/* The longest sleep poll: a stop is seen as soon as it arrives anyway. */
#define SLEEP_SLICE_MS 1000

static json_t *
payload_of(const struct handler_ctx *ctx)
{
	if (ctx->job == NULL || ctx->job->record == NULL)
		return NULL;
	return json_object_get(ctx->job->record, "payload");
}

static int
builtin_echo(struct handler_ctx *ctx, char **result, char **error)
{
	json_t *payload = payload_of(ctx);

	*result = payload != NULL ?
	    json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) :
	    strdup("null");
	if (*result == NULL) {
		*error = strdup("jobd.echo: out of memory");
		return HANDLER_FAILED;
	}
	return HANDLER_OK;
}

static int
builtin_sleep(struct handler_ctx *ctx, char **result, char **error)
{
	json_t *payload = payload_of(ctx), *v;
	double secs = 1.0;
	long long end, left;

	v = json_is_object(payload) ? json_object_get(payload, "seconds") :
	    NULL;
	if (v != NULL) {
		if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
		    json_number_value(v) < 0) {
			*error = strdup("jobd.sleep: \"seconds\" must be a "
			    "number >= 0");
			return HANDLER_FAILED;
		}
		secs = json_number_value(v);
	}
	/* Bounded by the job's timeout (the master stops us); cap the
	 * arithmetic at a year so it cannot overflow. */
	end = handler_now_ms() + (long long)((secs < 31536000.0 ? secs : 31536000.0) * 1000.0);
	for (;;) {
		left = end - handler_now_ms();
		if (left <= 0)
			break;
		if (handler_poll(ctx, (int)(left < SLEEP_SLICE_MS ? left :
		    SLEEP_SLICE_MS)) != STOP_NONE)
			return HANDLER_STOPPED;
	}
	/* Answer the number as given (1 stays 1, 0.5 stays 0.5). */
	v = v != NULL ? json_pack("{s:O}", "slept", v) :
	    json_pack("{s:i}", "slept", 1);
	*result = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (*result == NULL) {
		*error = strdup("jobd.sleep: out of memory");
		return HANDLER_FAILED;
	}
	return HANDLER_OK;
}

static int
builtin_fail(struct handler_ctx *ctx, char **error)
{
	json_t *payload = payload_of(ctx), *v;
	const char *msg = "jobd.fail: failed on purpose";

	v = json_is_object(payload) ? json_object_get(payload, "message") :
	    NULL;
	if (json_is_string(v))
		msg = json_string_value(v);
	*error = strdup(msg);
	return HANDLER_FAILED;
}

int
handler_builtin_run(struct handler_ctx *ctx, char **result, char **error)
{
	const char *name = ctx->type->builtin;

	if (strcmp(name, "noop") == 0) {
		*result = strdup("{}");
		if (*result == NULL) {
			*error = strdup("jobd.noop: out of memory");
			return HANDLER_FAILED;
		}
		return HANDLER_OK;
	}
	if (strcmp(name, "echo") == 0)
		return builtin_echo(ctx, result, error);
	if (strcmp(name, "sleep") == 0)
		return builtin_sleep(ctx, result, error);
	if (strcmp(name, "fail") == 0)
		return builtin_fail(ctx, error);
	if (strcmp(name, "webhook") == 0)
		return handler_webhook_run(ctx, result, error);
	*error = handler_strdupf("type %s: no builtin handler called '%s'",
	    ctx->type->name, name);
	return HANDLER_FAILED;
}
