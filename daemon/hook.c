/* hook.c: which callback_url jobd accepts and calls. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_value.h"
#include "hook.h"

/* scheme_len: length of "http://" or "https://" at the start, or 0. */
static size_t
scheme_len(const char *s)
{
	if (strncmp(s, "http://", 7) == 0)
		return 7;
	if (strncmp(s, "https://", 8) == 0)
		return 8;
	return 0;
}

/* authority_end: where the host[:port] part after the scheme ends. */
static size_t
authority_end(const char *s, size_t from)
{
	size_t i = from;

	while (s[i] != '\0' && s[i] != '/' && s[i] != '?' && s[i] != '#')
		i++;
	return i;
}

int
hook_check_url(const char *url, char *why, size_t whylen)
{
	size_t n = strlen(url), sl, end;

	if (n > HOOK_URL_MAX)
		return cv_why(why, whylen, "longer than %d bytes", HOOK_URL_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)url[i];

		if (ch <= ' ' || ch >= 0x7f || strchr("\"<>\\^`{|}", ch))
			return cv_why(why, whylen, "byte %zu is not allowed in "
			    "a URL (blank, control, non-ASCII or one of "
			    "\"<>\\^`{|})", i);
	}
	if ((sl = scheme_len(url)) == 0)
		return cv_why(why, whylen, "must start with http:// or "
		    "https://");
	end = authority_end(url, sl);
	if (end == sl)
		return cv_why(why, whylen, "has no host");
	for (size_t i = sl; i < end; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-:[]", url[i]))
			return cv_why(why, whylen, "the host part may hold only "
			    "letters, digits and . - : [ ] (no user "
			    "information)");
	if (strchr(url, '#') != NULL)
		return cv_why(why, whylen, "has a #fragment");
	return 0;
}

int
hook_check_pattern(const char *pat, char *why, size_t whylen)
{
	size_t n = strlen(pat);

	if (n > CONFIG_HOOK_PATTERN_MAX)
		return cv_why(why, whylen, "pattern longer than %d bytes",
		    CONFIG_HOOK_PATTERN_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)pat[i] <= ' ' || (unsigned char)pat[i] >= 0x7f)
			return cv_why(why, whylen, "blank, control or non-ASCII "
			    "byte in pattern");
	if (scheme_len(pat) == 0)
		return cv_why(why, whylen, "pattern must start with http:// or "
		    "https://");
	if (authority_end(pat, scheme_len(pat)) == scheme_len(pat))
		return cv_why(why, whylen, "pattern has no host");
	return 0;
}

/* match_part: fnmatch of [a, a + an) against [b, b + bn), copied so that
 * each is a string of its own. */
static int
match_part(const char *pat, size_t pn, const char *s, size_t sn)
{
	char p[CONFIG_HOOK_PATTERN_MAX + 1], v[HOOK_URL_MAX + 1];

	if (pn >= sizeof(p) || sn >= sizeof(v))
		return 0;
	memcpy(p, pat, pn);
	p[pn] = '\0';
	memcpy(v, s, sn);
	v[sn] = '\0';
	return fnmatch(p, v, 0) == 0;
}

int
hook_allowed(const struct hook_allow *allow, const char *url)
{
	size_t ue = authority_end(url, scheme_len(url));
	size_t un = strlen(url);

	if (allow == NULL || scheme_len(url) == 0)
		return 0;
	for (int i = 0; i < allow->n; i++) {
		const char *p = allow->pat[i];
		size_t pe = authority_end(p, scheme_len(p)), pn = strlen(p);

		if (match_part(p, pe, url, ue) &&
		    match_part(p + pe, pn - pe, url + ue, un - ue))
			return 1;
	}
	return 0;
}
