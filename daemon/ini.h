/*
 * ini.h: the INI reader (see ini.c).  It calls the handler for every
 * [section] header and every key = value, in file order, with an
 * include's lines in place; file and line say where each came from.
 */
#ifndef JOBD_INI_H
#define JOBD_INI_H

#include <stddef.h>

#define INI_KEY_MAX 64  /* longest key; a section may have 8 more */

struct ini_handler {
	/* a [section] header */
	int (*section)(void *arg, const char *section, const char *file,
	               int line, char *err, size_t errlen);
	/* key = value in section ("" before the first header: refused
	 * before it gets here); a continuation line repeats the key */
	int (*setting)(void *arg, const char *section, const char *key,
	               const char *value, const char *file, int line,
	               char *err, size_t errlen);
	void *arg;
};

/* Both return 0, or -1 with "FILE:LINE: what" (or the handler's message)
 * in err.  The callbacks return 0 or -1 with their own message in err. */
int ini_read_file(const struct ini_handler *h, const char *path, char *err,
                  size_t errlen);
/* text is one file's content, changed in place; includes are relative to
 * the working directory. */
int ini_read_string(const struct ini_handler *h, char *text,
                    const char *name, char *err, size_t errlen);

#endif
