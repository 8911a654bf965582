/*
 * store_library.c: the versioned names of the Redis function library
 * (store_library.h).  The version is written once, on jobd.lua's first
 * line, and read from there.
 */
#include <stdio.h>
#include <string.h>

#include "store_library.h"

#define LIB_NAME_MAX 64

const char *
store_lib_name(void)
{
	static char name[LIB_NAME_MAX];
	static const char head[] = "#!lua name=";
	size_t n;

	if (name[0] != '\0')
		return name;
	if (strncmp(store_lua_library, head, sizeof(head) - 1) == 0) {
		n = strcspn(store_lua_library + sizeof(head) - 1, " \t\r\n");
		if (n > 0 && n < sizeof(name)) {
			memcpy(name, store_lua_library + sizeof(head) - 1, n);
			name[n] = '\0';
			return name;
		}
	}
	/* Not reached with the jobd.lua of this tree; loading it fails. */
	snprintf(name, sizeof(name), "jobd");
	return name;
}

const char *
store_lib_fn(char *buf, size_t len, const char *fn)
{
	int n;

	if (strncmp(fn, "jobd_", 5) == 0)
		fn += 5;
	n = snprintf(buf, len, "%s_%s", store_lib_name(), fn);
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	return buf;
}

const char *
store_lib_refused(const char *errstr)
{
	static const char code[] = "SCHEMA - ";

	if (errstr == NULL || strncmp(errstr, code, sizeof(code) - 1) != 0)
		return NULL;
	return errstr + sizeof(code) - 1;
}
