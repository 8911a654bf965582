/* handler_http.c: the http handler kind: POST the job record to the type's
 * URL with libcurl; a 2xx JSON answer is the result.  Also the jobd.webhook
 * builtin, which POSTs a signed callback_url delivery.  One easy handle in
 * one multi handle per worker, kept across jobs so that connections are
 * reused; the multi loop also waits on the master's socket, so a stop
 * aborts the request at once. */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <jansson.h>
#include "handler.h"
#include "ipc.h"
#include "config.h"
#include "hook.h"
#include "log.h"

#define HEAD_MAX 200
#define DEFAULT_MAX_OUTPUT (1024 * 1024)
#define CONNECT_TIMEOUT_MS 10000L
#define HOOK_MAX_ANSWER (64 * 1024) /* a receiver's answer, read and dropped */

static int curl_ready;      /* curl_global_init done */
static CURL *easy;
static CURLM *multi;

struct http_body {
	struct handler_buf b;
	size_t max;
	int overflow;
};

struct http_call {
	struct handler_ctx *ctx;
	struct http_body body;
};

static size_t
on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_body *body = arg;
	size_t n = size * nmemb;

	if (handler_buf_add(&body->b, data, n, body->max) == -1) {
		/* over the bound, or no memory: either aborts the transfer */
		body->overflow = n > body->max || body->b.len > body->max - n;
		return 0;
	}
	return n;
}

/* on_progress: libcurl calls it while the transfer runs; a stop from the
 * master aborts the transfer (perform() sees it too, between waits). */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
            curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_call *c = arg;

	return handler_poll(c->ctx, 0) != STOP_NONE;
}

static int
http_setup(void)
{
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -1;
		curl_ready = 1;
	}
	if (multi == NULL && (multi = curl_multi_init()) == NULL)
		return -1;
	if (easy == NULL)
		easy = curl_easy_init();
	else
		curl_easy_reset(easy);
	return easy != NULL ? 0 : -1;
}

/* perform: run the transfer; stops from the master are seen as soon as
 * they arrive.  Returns curl's result (*mcode set on a multi error). */
static CURLcode
perform(struct handler_ctx *ctx, CURLMcode *mcode)
{
	struct curl_waitfd wfd;
	CURLMsg *msg;
	CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
	int running = 1, left;

	*mcode = curl_multi_add_handle(multi, easy);
	if (*mcode != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running) {
		*mcode = curl_multi_perform(multi, &running);
		if (*mcode != CURLM_OK || !running)
			break;
		if (handler_poll(ctx, 0) != STOP_NONE)
			break;
		memset(&wfd, 0, sizeof(wfd));
		wfd.fd = ctx->ctl_fd;
		wfd.events = CURL_WAIT_POLLIN;
		*mcode = curl_multi_poll(multi, &wfd, ctx->ctl_fd >= 0 ? 1 : 0,
		    1000, NULL);
		if (*mcode != CURLM_OK)
			break;
	}
	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
			rc = msg->data.result;
	curl_multi_remove_handle(multi, easy);
	return rc;
}

/* result_of: a 2xx body as the result (empty: null). */
static int
result_of(const struct handler_buf *b, char **result, char **error)
{
	json_t *v;
	char *head;
	size_t i;

	for (i = 0; i < b->len; i++)
		if (!strchr(" \t\r\n", b->d[i]))
			break;
	if (i == b->len) {
		*result = strdup("null");
	} else {
		v = json_loadb(b->d, b->len, JSON_DECODE_ANY, NULL);
		if (v == NULL) {
			head = handler_text(b->d, b->len < HEAD_MAX ? b->len :
			    HEAD_MAX);
			*error = handler_strdupf("http response is not JSON: "
			    "%s", head != NULL ? head : "");
			free(head);
			return HANDLER_FAILED;
		}
		*result = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(v);
	}
	if (*result == NULL) {
		*error = strdup("http: out of memory");
		return HANDLER_FAILED;
	}
	return HANDLER_OK;
}

/* One POST: url, body, the headers beyond Content-Type and Accept.  A
 * 2xx answer is the result: its JSON body (json_result), else
 * {"status": CODE}. */
struct http_post {
	const char *url;
	const char *body;
	const char *const *headers;
	int nheaders;
	int json_result;
	double timeout;          /* seconds; 0: none */
	size_t max_output;
};

static int
http_post(struct handler_ctx *ctx, const struct http_post *p, char **result,
          char **error)
{
	struct curl_slist *hdrs = NULL, *h;
	struct http_call call;
	char errbuf[CURL_ERROR_SIZE], *head;
	CURLcode rc;
	CURLMcode mc;
	long status = 0;
	int outcome;

	if (http_setup() == -1) {
		*error = strdup("http: cannot initialise libcurl");
		return HANDLER_FAILED;
	}
	memset(&call, 0, sizeof(call));
	call.ctx = ctx;
	call.body.max = p->max_output;
	h = curl_slist_append(hdrs, "Content-Type: application/json");
	if (h != NULL)
		h = curl_slist_append(hdrs = h, "Accept: application/json");
	for (int i = 0; h != NULL && i < p->nheaders; i++)
		h = curl_slist_append(hdrs = h, p->headers[i]);
	if (h == NULL) {
		curl_slist_free_all(hdrs);
		*error = strdup("http: out of memory");
		return HANDLER_FAILED;
	}
	hdrs = h;
	errbuf[0] = '\0';

	curl_easy_setopt(easy, CURLOPT_URL, p->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, p->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(p->body));
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "jobd");
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &call.body);
	curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &call);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	if (p->timeout > 0)
		curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
		    (long)((p->timeout < 86400.0 ? p->timeout : 86400.0) *
		    1000));

	rc = perform(ctx, &mc);
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);

	if (ctx->stop_reason != STOP_NONE) {
		outcome = HANDLER_STOPPED;
	} else if (call.body.overflow) {
		*error = handler_strdupf("output exceeds %zu bytes",
		    call.body.max);
		outcome = HANDLER_FAILED;
	} else if (mc != CURLM_OK) {
		*error = handler_strdupf("http: %s", curl_multi_strerror(mc));
		outcome = HANDLER_FAILED;
	} else if (rc != CURLE_OK) {
		*error = handler_strdupf("http: %s", errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(rc));
		outcome = HANDLER_FAILED;
	} else if (status < 200 || status > 299) {
		head = handler_text(call.body.b.d != NULL ? call.body.b.d : "",
		    call.body.b.len < HEAD_MAX ? call.body.b.len : HEAD_MAX);
		*error = handler_strdupf("http %ld%s%s", status,
		    head != NULL && head[0] != '\0' ? ": " : "",
		    head != NULL ? head : "");
		free(head);
		outcome = HANDLER_FAILED;
	} else if (p->json_result) {
		outcome = result_of(&call.body.b, result, error);
	} else {
		*result = handler_strdupf("{\"status\":%ld}", status);
		outcome = *result != NULL ? HANDLER_OK : HANDLER_FAILED;
	}

	/* The handle outlives this call: drop pointers into our stack. */
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	handler_buf_free(&call.body.b);
	if (outcome == HANDLER_FAILED && *error == NULL)
		*error = strdup("http: failed");
	return outcome;
}

int
handler_http_run(struct handler_ctx *ctx, char **result, char **error)
{
	const struct job_type *t = ctx->type;
	struct http_post p;
	char idhdr[200];
	const char *hdrs[] = { idhdr };
	int outcome;
	char *body;

	if (t->url == NULL || t->url[0] == '\0') {
		*error = handler_strdupf("type %s has no url", t->name);
		return HANDLER_FAILED;
	}
	body = ctx->job->record != NULL ?
	    json_dumps(ctx->job->record, JSON_COMPACT) : strdup("{}");
	if (body == NULL) {
		*error = strdup("cannot encode the job record");
		return HANDLER_FAILED;
	}
	snprintf(idhdr, sizeof(idhdr), "X-Jobd-Job-Id: %s", ctx->job->id);
	memset(&p, 0, sizeof(p));
	p.url = t->url;
	p.body = body;
	p.headers = hdrs;
	p.nheaders = 1;
	p.json_result = 1;
	p.timeout = ctx->job->timeout > 0 ? ctx->job->timeout : t->timeout;
	p.max_output = t->max_output > 0 ? (size_t)t->max_output :
	    DEFAULT_MAX_OUTPUT;
	outcome = http_post(ctx, &p, result, error);
	free(body);
	return outcome;
}

/* hook_sign: the lower-case hex HMAC-SHA256 of body under key. */
static int
hook_sign(const char *key, const char *body, size_t len, char *hex,
          size_t hexlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (HMAC(EVP_sha256(), key, (int)strlen(key),
	    (const unsigned char *)body, len, md, &mdlen) == NULL ||
	    hexlen < 2 * (size_t)mdlen + 1)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* handler_webhook_run: the jobd.webhook type: POST payload.body to
 * payload.url, signed with the [webhooks] key.  The URL is checked against
 * the allow patterns again here: the record came through Redis, and the
 * config may have changed since the submit. */
int
handler_webhook_run(struct handler_ctx *ctx, char **result, char **error)
{
	const struct config *cfg = ctx->cfg;
	json_t *payload = ctx->job->record != NULL ?
	    json_object_get(ctx->job->record, "payload") : NULL;
	const char *url, *body, *parent;
	char sig[128], sighdr[160], jobhdr[200], delhdr[200];
	const char *hdrs[] = { sighdr, jobhdr, delhdr };
	struct http_post p;

	url = json_string_value(json_object_get(payload, "url"));
	body = json_string_value(json_object_get(payload, "body"));
	parent = json_string_value(json_object_get(payload, "job_id"));
	if (url == NULL || body == NULL || parent == NULL) {
		*error = strdup("jobd.webhook: the payload needs url, body and "
		    "job_id strings");
		return HANDLER_REFUSED;
	}
	if (cfg->hook_key == NULL || hook_check_url(url, sig, sizeof(sig)) ||
	    !hook_allowed(&cfg->hook_allow, url)) {
		*error = handler_strdupf("jobd.webhook: %.600s is not allowed "
		    "by [webhooks] allow (not retried)", url);
		return HANDLER_REFUSED;
	}
	if (hook_sign(cfg->hook_key, body, strlen(body), sig,
	    sizeof(sig)) == -1) {
		*error = strdup("jobd.webhook: cannot compute the signature");
		return HANDLER_FAILED;
	}
	snprintf(sighdr, sizeof(sighdr), "X-Jobd-Signature: sha256=%s", sig);
	snprintf(jobhdr, sizeof(jobhdr), "X-Jobd-Job-Id: %s", parent);
	snprintf(delhdr, sizeof(delhdr), "X-Jobd-Delivery: %s", ctx->job->id);
	memset(&p, 0, sizeof(p));
	p.url = url;
	p.body = body;
	p.headers = hdrs;
	p.nheaders = 3;
	p.timeout = ctx->job->timeout > 0 ? ctx->job->timeout :
	    ctx->type->timeout;
	p.max_output = HOOK_MAX_ANSWER;
	return http_post(ctx, &p, result, error);
}

void
handler_http_shutdown(void)
{
	if (easy != NULL) {
		curl_easy_cleanup(easy);
		easy = NULL;
	}
	if (multi != NULL) {
		curl_multi_cleanup(multi);
		multi = NULL;
	}
	if (curl_ready) {
		curl_global_cleanup();
		curl_ready = 0;
	}
}
