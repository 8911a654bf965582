/*
 * config_rows.h: the settings table of config.c, for its other parts
 * (config_output.c); not for the rest of jobd, which uses config.h.
 */
#ifndef JOBD_CONFIG_ROWS_H
#define JOBD_CONFIG_ROWS_H

#include <stddef.h>

#include "config.h"

enum row_scope { SCOPE_JOBD, SCOPE_ACCESS, SCOPE_HTTP, SCOPE_WEBHOOKS,
                  SCOPE_TYPE };
enum row_kind {
	R_BOOL,             /* int */
	R_INT,              /* int */
	R_SIZE,             /* long long, or size_t with F_SIZET */
	R_DURATION,         /* double, or long long with F_WHOLE */
	R_STRING,           /* char *, checked by check */
	R_FUNC,             /* set(obj + off, ...) */
};

#define F_OPEN   0x01   /* more than min */
#define F_ZERO   0x02   /* 0 means none/inherited, whatever min is */
#define F_WHOLE  0x04   /* duration in whole seconds, as long long */
#define F_SIZET  0x08   /* size stored as size_t */
#define F_EMPTY  0x10   /* string: "" stored as NULL (unset) */
#define F_ADD    0x20   /* a repeat adds (env, env_pass) */
#define F_SELF   0x40   /* set() gets the whole config/type */
#define F_LL     0x80   /* integer stored as long long */
#define F_SECRET 0x100  /* a URL that may hold a password: redacted */
#define F_HIDDEN 0x200  /* a secret: shown as *** */

#define K_EXEC    (1u << HANDLER_EXEC)
#define K_HTTP    (1u << HANDLER_HTTP)
#define K_BUILTIN (1u << HANDLER_BUILTIN)
#define K_ALL     (K_EXEC | K_HTTP | K_BUILTIN)

typedef int set_fn(void *obj, const char *v, char *why, size_t whylen);
typedef int check_fn(const char *v, char *why, size_t whylen);

struct row {
	const char *name;
	enum row_scope scope;
	enum row_kind kind;
	size_t off;
	double min, max;
	unsigned flags;
	set_fn *set;
	check_fn *check;
	unsigned handlers;  /* type rows: the handlers it is for */
	const char *def;    /* NULL: none (required by some handlers) */
	const char *sample; /* the value jobd.conf.sample shows, if not def */
	const char *doc;
};

extern const struct row config_main_rows[], config_type_rows[];
extern const int config_nmain, config_ntype;
/* "jobd", "access", "http", "webhooks", "type:NAME", by enum row_scope */
extern const char *const config_scope_names[];

/* Where a setting came from; notes[] keeps one per setting applied. */
#define NOTE_MAIN  (-1)        /* [jobd], [access], [http], [webhooks] */
#define NOTE_TYPES (-2)        /* [types] */
#define ROW_HEADER NULL         /* a [type:NAME] header (or its first -o) */

struct config_note {
	int type;                  /* index into cfg->types, or NOTE_* */
	const struct row *row;     /* the setting, or ROW_HEADER */
	char *value;
	char *where;               /* "FILE:LINE", "-o ARG" or "" */
};

/* config_find_row: the row called key in scope, or NULL. */
const struct row *config_find_row(enum row_scope scope, const char *key);
/* config_note_last: the last note of (type, row), or NULL. */
const struct config_note *config_note_last(const struct config *cfg,
                                           int type, const struct row *row);
/* config_shown: a value as messages and the dump show it (redacted). */
const char *config_shown(const struct row *r, const char *value, char *buf,
                         size_t len);

#endif
