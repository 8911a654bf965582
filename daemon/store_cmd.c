/*
 * store_cmd.c: the store's Redis commands, built as RESP text.  No I/O:
 * store.c and store_sync.c send what is built here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "config.h"
#include "request.h"
#include "store_cmd.h"
#include "store_library.h"

/* CMD_HDR bytes are reserved in front for the "*<argc>\r\n" header. */
#define CMD_HDR 24

void
cmd_init(struct cmd *c)
{
	memset(c, 0, sizeof(*c));
	c->len = CMD_HDR;
}

static int
cmd_reserve(struct cmd *c, size_t more)
{
	size_t ncap;
	char *nb;

	if (c->oom)
		return -1;
	if (c->len + more <= c->cap)
		return 0;
	ncap = c->cap ? c->cap : 512;
	while (ncap < c->len + more) {
		if (ncap > SIZE_MAX / 2) {
			c->oom = 1;
			return -1;
		}
		ncap *= 2;
	}
	if ((nb = realloc(c->buf, ncap)) == NULL) {
		c->oom = 1;
		return -1;
	}
	c->buf = nb;
	c->cap = ncap;
	return 0;
}

void
cmd_addn(struct cmd *c, const char *s, size_t n)
{
	int h;

	if (cmd_reserve(c, n + 32) < 0)
		return;
	h = snprintf(c->buf + c->len, 32, "$%zu\r\n", n);
	c->len += (size_t)h;
	if (n > 0)
		memcpy(c->buf + c->len, s, n);
	c->len += n;
	c->buf[c->len++] = '\r';
	c->buf[c->len++] = '\n';
	c->argc++;
}

void
cmd_add(struct cmd *c, const char *s)
{
	cmd_addn(c, s ? s : "", s ? strlen(s) : 0);
}

void
cmd_add_key(struct cmd *c, const char *K, const char *what, const char *name)
{
	size_t lk = strlen(K), lw = strlen(what), ln = strlen(name);
	char *s = malloc(lk + lw + ln + 1);

	if (s == NULL) {
		c->oom = 1;
		return;
	}
	memcpy(s, K, lk);
	memcpy(s + lk, what, lw);
	memcpy(s + lk + lw, name, ln + 1);
	cmd_addn(c, s, lk + lw + ln);
	free(s);
}

void
cmd_addll(struct cmd *c, long long v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%lld", v);

	cmd_addn(c, b, (size_t)n);
}

/* cmd_finish: write the header; the command is buf+start, len-start. */
int
cmd_finish(struct cmd *c)
{
	char h[CMD_HDR];
	int n;

	if (c->oom || c->buf == NULL)
		return -1;
	n = snprintf(h, sizeof(h), "*%d\r\n", c->argc);
	c->start = CMD_HDR - (size_t)n;
	memcpy(c->buf + c->start, h, (size_t)n);
	return 0;
}

void
cmd_free(struct cmd *c)
{
	free(c->buf);
	c->buf = NULL;
}


void
cmd_names_free(struct cmd_names *n)
{
	free(n->K);
	free(n->meta);
	free(n->events);
	free(n->ends);
	free(n->wake);
	memset(n, 0, sizeof(*n));
}

static char *
strcat2(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

int
cmd_names_init(struct cmd_names *n, const struct config *cfg)
{
	const char *p = cfg->prefix ? cfg->prefix : "jobd";
	const char *ns = cfg->ns ? cfg->ns : "main";
	size_t len = strlen(p) + strlen(ns) + 8;

	memset(n, 0, sizeof(*n));
	if ((n->K = malloc(len)) == NULL)
		return -1;
	snprintf(n->K, len, "%s:{%s}:", p, ns);
	n->meta = strcat2(n->K, "meta");
	n->events = strcat2(n->K, "events");
	n->ends = strcat2(n->K, "ends");
	n->wake = strcat2(n->K, "wake");
	if (!n->meta || !n->events || !n->ends || !n->wake) {
		cmd_names_free(n);
		return -1;
	}
	return 0;
}

void
cmd_fcall(struct cmd *c, const struct cmd_names *n,
          const struct config *cfg, const char *fn)
{
	char name[128];

	cmd_init(c);
	cmd_add(c, "FCALL");
	cmd_add(c, store_lib_fn(name, sizeof(name), fn));
	cmd_add(c, "1");
	cmd_add(c, n->meta);
	cmd_add(c, n->K);
	cmd_addll(c, cfg->result_ttl);
	cmd_addll(c, cfg->failure_ttl);
}

void
cmd_queues(struct cmd *c, const struct config *cfg)
{
	int i, nq = cfg->nqueues;

	if (nq < 0)
		nq = 0;
	if (nq > CONFIG_MAX_QUEUES)
		nq = CONFIG_MAX_QUEUES;
	cmd_addll(c, nq);
	for (i = 0; i < nq; i++)
		cmd_add(c, cfg->queues[i]);
}

long long
cmd_lease_ms(const struct config *cfg)
{
	double l = cfg->lease > 0 ? cfg->lease : 30;

	return (long long)(l * 1000);
}

/* pack_str: one MessagePack string; -1 when out of memory. */
static int
pack_str(msgpack_packer *pk, const char *v)
{
	size_t n = strlen(v);

	return msgpack_pack_str(pk, n) == 0 &&
	       msgpack_pack_str_body(pk, v, n) == 0 ? 0 : -1;
}

/* cmd_deps_text: depends_on (checked ids) as the record's deps field,
 * space-separated; NULL if out of memory. */
static char *
cmd_deps_text(json_t *deps)
{
	size_t len = 1, at = 0, i;
	json_t *e;
	char *s;

	json_array_foreach(deps, i, e)
		len += json_string_length(e) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	json_array_foreach(deps, i, e) {
		if (at > 0)
			s[at++] = ' ';
		memcpy(s + at, json_string_value(e), json_string_length(e));
		at += json_string_length(e);
	}
	s[at] = '\0';
	return s;
}

/*
 * cmd_submit_job: the submit arguments of one job, the 7 of jobd.lua's
 * submit: id queue unique_key delay_ms run_at_ms fresh record.  The record
 * is packed here, a MessagePack map of strings whose header already counts
 * the three fields Redis adds (status, created_at, and enqueued_at or
 * run_at), so that Lua only appends them and stores it.  sb: scratch.
 */
void
cmd_submit_job(struct cmd *c, const struct submit_spec *s, const char *id,
               msgpack_sbuffer *sb)
{
	char *payload, *meta, *deps = NULL, tmo[24], retries[24], rttl[24],
	    fttl[24], htmo[24], hretries[24], lconc[24], levery[24], lburst[24];
	const char *f[22][2];
	long long delay = 0, run_at = 0;
	const char *q = s->queue && *s->queue ? s->queue : "default";
	msgpack_packer pk;
	size_t n = 0, i;
	int rc;

	payload = json_dumps(s->payload ? s->payload : json_null(),
	                     JSON_COMPACT | JSON_ENCODE_ANY);
	meta = s->meta ? json_dumps(s->meta, JSON_COMPACT | JSON_ENCODE_ANY) :
	       NULL;
	if (payload == NULL || (s->meta && meta == NULL))
		c->oom = 1;
	if (s->delay > 0)
		delay = (long long)(s->delay * 1000);
	if (s->run_at_ms > 0)
		run_at = s->run_at_ms;
	snprintf(tmo, sizeof(tmo), "%lld", (long long)(s->timeout * 1000));
	snprintf(retries, sizeof(retries), "%d", s->retries);
	snprintf(rttl, sizeof(rttl), "%lld", s->result_ttl);
	snprintf(fttl, sizeof(fttl), "%lld", s->failure_ttl);
	/* deps, then batch, first: jobd.lua looks for them there (see
	 * wf_flagged) before decoding a record */
	if (s->depends_on != NULL) {
		if ((deps = cmd_deps_text(s->depends_on)) == NULL)
			c->oom = 1;
		else
			f[n][0] = "deps", f[n++][1] = deps;
	}
	if (s->batch_id != NULL)
		f[n][0] = "batch", f[n++][1] = s->batch_id;
	if (deps != NULL && s->on_dep != NULL)
		f[n][0] = "on_dep", f[n++][1] = s->on_dep;
	f[n][0] = "type", f[n++][1] = s->type;
	f[n][0] = "queue", f[n++][1] = q;
	f[n][0] = "payload", f[n++][1] = payload ? payload : "null";
	f[n][0] = "timeout_ms", f[n++][1] = tmo;
	f[n][0] = "max_retries", f[n++][1] = retries;
	f[n][0] = "result_ttl", f[n++][1] = rttl;
	f[n][0] = "failure_ttl", f[n++][1] = fttl;
	if (meta != NULL && strcmp(meta, "{}") != 0)
		f[n][0] = "meta", f[n++][1] = meta;
	if (s->unique_key != NULL && *s->unique_key != '\0')
		f[n][0] = "unique_key", f[n++][1] = s->unique_key;
	if (s->limit != NULL) {
		/* the limit travels with the job (docs/jobd.md, "Limits") */
		snprintf(lconc, sizeof(lconc), "%d", s->limit->concurrency);
		snprintf(levery, sizeof(levery), "%lld", s->limit->every_ms);
		snprintf(lburst, sizeof(lburst), "%d", s->limit->burst);
		f[n][0] = "limit", f[n++][1] = s->limit->name;
		f[n][0] = "limit_conc", f[n++][1] = lconc;
		f[n][0] = "limit_every", f[n++][1] = levery;
		f[n][0] = "limit_burst", f[n++][1] = lburst;
		if (s->limit_key != NULL)
			f[n][0] = "limit_key", f[n++][1] = s->limit_key;
	}
	if (s->callback_url != NULL) {
		/* what the delivery job jobd.lua makes at the end needs */
		snprintf(htmo, sizeof(htmo), "%lld",
		    (long long)(s->hook_timeout * 1000));
		snprintf(hretries, sizeof(hretries), "%d", s->hook_retries);
		f[n][0] = "callback_url", f[n++][1] = s->callback_url;
		f[n][0] = "hook_queue", f[n++][1] = s->hook_queue[0] ?
		    s->hook_queue : q;
		f[n][0] = "hook_timeout_ms", f[n++][1] = htmo;
		f[n][0] = "hook_retries", f[n++][1] = hretries;
	}
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	rc = msgpack_pack_map(&pk, n + 3);
	for (i = 0; i < n && rc == 0; i++)
		rc = pack_str(&pk, f[i][0]) == 0 ? pack_str(&pk, f[i][1]) : -1;
	if (rc != 0)
		c->oom = 1;
	cmd_add(c, id);
	cmd_add(c, q);
	cmd_add(c, s->unique_key ? s->unique_key : "");
	cmd_addll(c, delay);
	cmd_addll(c, run_at);
	cmd_add(c, s->job_id == NULL ? "1" : "0");   /* our ULID: fresh */
	cmd_addn(c, sb->data ? sb->data : "", sb->size);
	free(payload);
	free(meta);
	free(deps);
}

char *
cmd_progress_json(double percent, const char *message)
{
	json_t *p = json_object();
	char *s;

	if (p == NULL)
		return NULL;
	json_object_set_new(p, "percent", json_real(percent));
	json_object_set_new(p, "message", message ? json_string(message) :
	                    json_null());
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	return s;
}


void
cmd_fail_args(struct cmd *c, const char *job_id, const char *token,
              const char *error, enum store_fail_mode mode,
              long long retry_delay_ms)
{
	size_t elen = error ? strlen(error) : 0;

	cmd_add(c, job_id);
	cmd_add(c, token);
	/* The tail of a long error is the informative part (stderr). */
	if (elen > CMD_ERROR_TEXT_MAX)
		cmd_addn(c, error + elen - CMD_ERROR_TEXT_MAX, CMD_ERROR_TEXT_MAX);
	else
		cmd_add(c, error ? error : "");
	cmd_add(c, mode == STORE_REQUEUE ? "requeue" :
	    mode == STORE_FAIL_FINAL ? "final" : "fail");
	cmd_addll(c, retry_delay_ms < 0 ? 0 : retry_delay_ms);
}


char *
cmd_served_types(const struct config *cfg)
{
	size_t len = 3, at = 0;
	char *s;
	int i;

	for (i = 0; i < cfg->ntypes; i++)
		len += strlen(cfg->types[i].name) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	if (cfg->accept_any_type)
		s[at++] = '*';
	s[at++] = ' ';
	for (i = 0; i < cfg->ntypes; i++) {
		size_t n = strlen(cfg->types[i].name);

		memcpy(s + at, cfg->types[i].name, n);
		at += n;
		s[at++] = ' ';
	}
	s[at] = '\0';
	return s;
}

void
cmd_take_tail(struct cmd *c, const char *owner, const char *served,
              const struct config *cfg)
{
	cmd_add(c, owner);
	cmd_addll(c, cmd_lease_ms(cfg));
	cmd_add(c, served);
	cmd_queues(c, cfg);
}
