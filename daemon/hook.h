/* hook.h: callback_url, the webhook a job's end is POSTed to
 * (docs/workflows.md, "Callbacks").  Checks only: the delivery is the
 * jobd.webhook builtin (handler_http.c). */
#ifndef JOBD_HOOK_H
#define JOBD_HOOK_H

#include <stddef.h>

#define HOOK_URL_MAX 2048

struct hook_allow;

/* hook_check_url: 0 if url is an http(s) URL jobd will call: at most
 * HOOK_URL_MAX bytes, printable ASCII, a host[:port] with no user
 * information; else -1 with the reason in why. */
int hook_check_url(const char *url, char *why, size_t whylen);

/* hook_allowed: url (already checked) matches one of the patterns.  A
 * pattern is shell-style (fnmatch); its scheme and host part is matched
 * against the URL's on its own, so that a '*' there cannot reach into the
 * path: "https://<star>.example.com/<star>" does not match
 * "https://evil.test/.example.com/". */
int hook_allowed(const struct hook_allow *allow, const char *url);

/* hook_check_pattern: 0 if pat is a usable allow pattern, else -1. */
int hook_check_pattern(const char *pat, char *why, size_t whylen);

#endif
