/*
 * http_static.c: the dashboard's files, kept as source in daemon/web/ and
 * compiled in by embed.sh (daemon/web_assets.c, generated), served with
 * the headers that keep the page to itself (see http_static.h).
 *
 * The page runs only its own script and style from its own origin (no
 * inline code, nothing from the network), may not be framed, and asks the
 * browser to revalidate (ETag) rather than keep a copy that an upgraded
 * jobd would have changed.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http_static.h"

/* daemon/web_assets.c */
extern const char web_index_html[], web_dashboard_css[], web_dashboard_js[],
    web_favicon_svg[];

#define CSP "default-src 'self'; script-src 'self'; style-src 'self'; " \
	"img-src 'self'; connect-src 'self'; object-src 'none'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static struct asset {
	const char *path;
	const char *ctype;
	const char *body;
	size_t len;              /* 0 until first served */
	char etag[24];           /* "16 hex digits", quotes included */
} assets[] = {
	{ "/", "text/html; charset=utf-8", web_index_html, 0, "" },
	{ "/dashboard.css", "text/css; charset=utf-8", web_dashboard_css, 0, "" },
	{ "/dashboard.js", "text/javascript; charset=utf-8", web_dashboard_js,
	  0, "" },
	{ "/favicon.svg", "image/svg+xml", web_favicon_svg, 0, "" },
};

/* etag_of: FNV-1a of the bytes: changes when the file does. */
static void
etag_of(struct asset *a)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < a->len; i++) {
		h ^= (unsigned char)a->body[i];
		h *= 1099511628211ULL;
	}
	snprintf(a->etag, sizeof(a->etag), "\"%016llx\"",
	    (unsigned long long)h);
}

/* client_has: If-None-Match names tag (or is "*"). */
static int
client_has(struct evhttp_request *req, const char *tag)
{
	const char *inm = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "If-None-Match");

	return inm != NULL && (strstr(inm, tag) != NULL ||
	    strcmp(inm, "*") == 0);
}

int
http_static_send(struct evhttp_request *req, const char *path)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct asset *a = NULL;
	struct evbuffer *buf;

	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (strcmp(assets[i].path, path) == 0)
			a = &assets[i];
	if (a == NULL)
		return -1;
	if (a->len == 0) {
		a->len = strlen(a->body);
		etag_of(a);
	}
	evhttp_add_header(out, "Content-Security-Policy", CSP);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "X-Frame-Options", "DENY");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "Cross-Origin-Resource-Policy", "same-origin");
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "ETag", a->etag);
	if (client_has(req, a->etag)) {
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return 0;
	}
	evhttp_add_header(out, "Content-Type", a->ctype);
	buf = evbuffer_new();
	if (buf == NULL) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return 0;
	}
	/* The text lives as long as the process: no copy. */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add_reference(buf, a->body, a->len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
	return 0;
}
