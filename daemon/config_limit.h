/*
 * config_limit.h: the [limit:NAME] sections of the configuration
 * (docs/jobd.md, "Limits"): how many jobs of the types naming a limit may
 * run at once across every daemon sharing the Redis, and how often they
 * may start.  The limits live in struct config (config.h); this module
 * parses and checks them.
 */
#ifndef JOBD_CONFIG_LIMIT_H
#define JOBD_CONFIG_LIMIT_H

#include <stddef.h>
#include <stdio.h>

struct config;
struct job_limit;

#define LIMIT_MAX_CONCURRENCY 100000
#define LIMIT_MAX_BURST       100000
#define LIMIT_MAX_KEY_LEN     128    /* limit_key of a submit */

/* config_limit_set: apply "[limit:name] key = value" (key NULL: the
 * section header alone).  0, or -1 with the reason in why (the caller
 * adds where and the section). */
int config_limit_set(struct config *cfg, const char *name, const char *key,
                     const char *value, char *why, size_t whylen);

/* config_limit_finish: each limit has concurrency or rate; each type's
 * limit names one.  0, or -1 with a message in err. */
int config_limit_finish(struct config *cfg, char *err, size_t errlen);

/* config_find_limit: the limit called name, or NULL. */
const struct job_limit *config_find_limit(const struct config *cfg,
                                          const char *name);

/* config_limit_check_name: a limit name (1..64 of A-Z a-z 0-9 _ . -: no
 * ':', it separates the name from a limit_key in Redis).  1 if valid. */
int config_limit_check_name(const char *name);

/* config_limit_row: the name and doc line of setting i of a [limit:NAME]
 * (borrowed, static); -1 past the last. */
int config_limit_row(int i, const char **name, const char **doc);

/* config_limits_dump: the limits as "[limit:NAME] key = value" lines. */
void config_limits_dump(const struct config *cfg, FILE *fp);

#endif
