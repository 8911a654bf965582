/*
 * output.c: how jobctl shows things: aligned tables, job records and the
 * outcome of a waited-for job.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"
#include "text.h"

struct table {
	int ncols;
	size_t nrows, cap;   /* rows, including the header row */
	char **cells;        /* nrows * ncols strings */
	size_t *width;
};

/* A CLI may give up on allocation failure; the library never does. */
static void *
xalloc(void *p)
{
	if (p == NULL) {
		fputs("jobctl: out of memory\n", stderr);
		exit(EXIT_ERR);
	}
	return p;
}

struct table *
table_new(int ncols, const char *const *headers)
{
	struct table *t = xalloc(calloc(1, sizeof(*t)));

	t->ncols = ncols;
	t->width = xalloc(calloc((size_t)ncols, sizeof(*t->width)));
	table_add(t, headers);
	return t;
}

void
table_add(struct table *t, const char *const *cells)
{
	size_t len;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = xalloc(reallocarray(t->cells, t->cap,
		    (size_t)t->ncols * sizeof(*t->cells)));
	}
	for (int i = 0; i < t->ncols; i++) {
		const char *s = cells[i] != NULL ? cells[i] : "-";

		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] =
		    xalloc(strdup(s));
		if ((len = strlen(s)) > t->width[i])
			t->width[i] = len;
	}
	t->nrows++;
}

void
table_print(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * (size_t)t->ncols +
			    (size_t)i];

			if (i == t->ncols - 1)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)t->width[i], s);
		}
	}
}

void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t k = 0; k < t->nrows * (size_t)t->ncols; k++)
		free(t->cells[k]);
	free(t->cells);
	free(t->width);
	free(t);
}

/* jstr: a string member of obj, or NULL. */
const char *
jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* jfmt: a JSON value as one short line of text for humans. */
void
jfmt(json_t *v, char *buf, size_t len)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, len, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		snprintf(buf, len, "yes");
		break;
	case JSON_FALSE:
		snprintf(buf, len, "no");
		break;
	case JSON_OBJECT:
	case JSON_ARRAY:
		s = json_dumps(v, JSON_COMPACT);
		snprintf(buf, len, "%s", s != NULL ? s : "?");
		free(s);
		break;
	default:
		snprintf(buf, len, "-");
		break;
	}
}

/* print_json: one compact line, as the daemon sent it. */
void
print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	puts(s != NULL ? s : "null");
	free(s);
}

/* print_pretty: a job's result or payload, indented for reading. */
static void
print_pretty(json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		puts(json_string_value(v));
		return;
	}
	s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	puts(s != NULL ? s : "null");
	free(s);
}

static void
print_field(const char *key, const char *value)
{
	char label[64];

	snprintf(label, sizeof(label), "%s:", key);
	printf("%-13s %s\n", label, value);
}

/* print_job: a job record (docs/protocol.md) as "field: value" lines. */
void
print_job(json_t *job)
{
	static const char *const order[] = {
		"job_id", "type", "queue", "status", "created_at",
		"enqueued_at", "started_at", "ended_at", "timeout",
		"attempts", "max_retries", "progress", "worker", "meta",
		"payload", "result", "error",
	};
	const size_t n = sizeof(order) / sizeof(order[0]);
	char buf[4096];
	const char *key;
	json_t *v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = json_object_get(job, order[i]);
		if (v == NULL || json_is_null(v))
			continue;
		if (strcmp(order[i], "progress") == 0 && json_is_object(v)) {
			json_t *pc = json_object_get(v, "percent");
			const char *m = jstr(v, "message");

			if (!json_is_number(pc) && m == NULL)
				continue;
			snprintf(buf, sizeof(buf), "%g%%%s%s",
			    json_number_value(pc), m ? " " : "", m ? m : "");
			print_field(order[i], buf);
			continue;
		}
		jfmt(v, buf, sizeof(buf));
		print_field(order[i], buf);
	}
	/* fields this version does not know about, after the known ones */
	json_object_foreach(job, key, v) {
		for (i = 0; i < n && strcmp(order[i], key) != 0; i++)
			;
		if (i < n || json_is_null(v))
			continue;
		jfmt(v, buf, sizeof(buf));
		print_field(key, buf);
	}
}

/*
 * print_outcome: show a job that ended: its result on stdout when it
 * finished, why not on stderr otherwise.  Returns the exit status.
 */
int
print_outcome(struct jobctl *ctl, json_t *job)
{
	const char *status = jstr(job, "status");
	const char *id = jstr(job, "job_id");
	char buf[4096];

	if (status != NULL && strcmp(status, "finished") == 0) {
		if (!ctl->json)
			print_pretty(json_object_get(job, "result"));
		return EXIT_OK;
	}
	if (status != NULL && (strcmp(status, "failed") == 0 ||
	    strcmp(status, "canceled") == 0)) {
		jfmt(json_object_get(job, "error"), buf, sizeof(buf));
		fprintf(stderr, "jobctl: job %s %s%s%s\n", id ? id : "?",
		    status, strcmp(buf, "-") != 0 ? ": " : "",
		    strcmp(buf, "-") != 0 ? buf : "");
		return EXIT_JOBFAIL;
	}
	fprintf(stderr, "jobctl: job %s is %s\n", id ? id : "?",
	    status ? status : "in an unknown state");
	return EXIT_ERR;
}

/*
 * text_escape: s as one line that is safe to show on a terminal: what
 * text_is_control() names becomes \n, \r, \t, \e or \u{XXXX}, a byte that is not
 * UTF-8 becomes \xNN; everything else, other scripts included, is kept.
 * Returns a new string (NULL only when out of memory).
 */
char *
text_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), n, o = 0;
	char *out = malloc(len * 10 + 1);   /* \u{XXXX} is the longest: 8 */
	unsigned cp;

	if (out == NULL)
		return NULL;
	while (*p != '\0') {
		n = text_utf8_len(p, len - (size_t)(p - (const unsigned char *)s), &cp);
		if (n == 0) {
			o += (size_t)sprintf(out + o, "\\x%02X", *p);
			p++;
			continue;
		}
		if (!text_is_control(cp)) {
			memcpy(out + o, p, n);
			o += n;
		} else if (cp == '\n') {
			o += (size_t)sprintf(out + o, "\\n");
		} else if (cp == '\r') {
			o += (size_t)sprintf(out + o, "\\r");
		} else if (cp == '\t') {
			o += (size_t)sprintf(out + o, "\\t");
		} else if (cp == 0x1b) {
			o += (size_t)sprintf(out + o, "\\e");
		} else {
			o += (size_t)sprintf(out + o, "\\u{%04X}", cp);
		}
		p += n;
	}
	out[o] = '\0';
	return out;
}

/* needs_escape: whether text_escape() would change s. */
static int
needs_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + strlen(s);
	size_t n;
	unsigned cp;

	for (; p < end; p += n)
		if ((n = text_utf8_len(p, (size_t)(end - p), &cp)) == 0 ||
		    text_is_control(cp))
			return 1;
	return 0;
}

/*
 * json_escape_text: make every string in v, keys included, safe for a
 * terminal (text_escape) in place: a response is made safe once, where
 * it arrives, so that nothing printed from it for humans can move the
 * cursor, clear the screen or forge a line.  -1 when out of memory.
 */
int
json_escape_text(json_t *v)
{
	const char *key;
	json_t *m, *copy;
	void *tmp;
	char *e;
	size_t i;

	if (json_is_string(v)) {
		if (!needs_escape(json_string_value(v)))
			return 0;
		if ((e = text_escape(json_string_value(v))) == NULL)
			return -1;
		i = (size_t)json_string_set(v, e);
		free(e);
		return i == 0 ? 0 : -1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			if (json_escape_text(m) == -1)
				return -1;
		return 0;
	}
	if (!json_is_object(v))
		return 0;
	json_object_foreach_safe(v, tmp, key, m) {
		if (json_escape_text(m) == -1)
			return -1;
		if (!needs_escape(key))
			continue;
		if ((e = text_escape(key)) == NULL)
			return -1;
		copy = json_incref(m);
		json_object_del(v, key);
		i = (size_t)json_object_set_new(v, e, copy);
		free(e);
		if (i != 0)
			return -1;
	}
	return 0;
}
