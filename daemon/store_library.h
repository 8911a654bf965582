/*
 * store_library.h: the versioned names of the Redis function library
 * (daemon/jobd.lua, compiled in as store_lua_library).  The library is
 * jobd_v<N> and registers each function as jobd_v<N>_<name>, so daemons of
 * different library versions can share one Redis, each calling its own
 * functions.  Rules: docs/architecture.md, "Versions and rolling upgrades".
 */
#ifndef JOBD_STORE_LIBRARY_H
#define JOBD_STORE_LIBRARY_H

#include <stddef.h>

extern const char store_lua_library[];

/* store_lib_name: "jobd_v<N>", from the library's first line
 * ("#!lua name=jobd_v<N>"). */
const char *store_lib_name(void);

/* store_lib_fn: the registered name of a library function, called by its
 * unversioned name: "jobd_submit" -> "jobd_v<N>_submit" (also "submit" ->
 * "jobd_v<N>_submit").  Written to buf; "" if it does not fit. */
const char *store_lib_fn(char *buf, size_t len, const char *fn);

/* store_lib_refused: the message of a reply error of the library's schema
 * check that refuses this namespace ("SCHEMA - <message>"), else NULL. */
const char *store_lib_refused(const char *errstr);

#endif
