/*
 * config_value.h: parsers of setting values (see config_value.c).  All
 * return 0, or -1 with a reason in why[whylen]; on -1 *out is unchanged.
 */
#ifndef JOBD_CONFIG_VALUE_H
#define JOBD_CONFIG_VALUE_H

#include <stddef.h>

/* cv_why: format the reason into why; returns -1, for "return cv_why(...)". */
int cv_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* 1..CONFIG_NAME_MAX characters, each ASCII alnum or in extra; 1 if so. */
int cv_valid_name(const char *s, const char *extra);

/* A decimal integer in [min, max]. */
int cv_parse_ll(const char *v, long long min, long long max, long long *out,
                char *why, size_t whylen);
/* A finite decimal number in [min, max]; min_open excludes min. */
int cv_parse_num(const char *v, double min, int min_open, double max,
                 double *out, char *why, size_t whylen);
/* Seconds: a number with an optional unit s, m, h or d. */
int cv_parse_duration(const char *v, double min, int min_open, double max,
                      double *out, char *why, size_t whylen);
/* Bytes: a number with an optional K, M or G (powers of 1024). */
int cv_parse_size(const char *v, long long min, long long max,
                  long long *out, char *why, size_t whylen);
/* yes/no, true/false, on/off, 1/0, any case. */
int cv_parse_bool(const char *v, int *out, char *why, size_t whylen);

typedef int cv_item_fn(void *arg, const char *item, char *why,
                       size_t whylen);
/* A comma list: fn gets each item, blanks around it dropped; no item may be
 * empty; a blank v is no item when allow_empty, else an error. */
int cv_parse_list(const char *v, int allow_empty, cv_item_fn *fn, void *arg,
                  char *why, size_t whylen);
/* A non-empty path of at most max bytes, absolute if asked. */
int cv_check_path(const char *v, size_t max, int absolute, char *why,
                  size_t whylen);

/* A listening address of the HTTP server: HOST:PORT ([IPv6]:PORT) or
 * unix:/absolute/path. */
struct cv_listen {
	int is_unix;
	char host[256];          /* without brackets */
	int port;
	char path[108];          /* is_unix: sun_path */
};
int cv_parse_listen(const char *v, struct cv_listen *out, char *why,
                    size_t whylen);

#endif
