/*
 * redis_managed.h: redis = managed, the private redis-server jobd brings
 * itself (docs/jobd.md, "The managed Redis").
 *
 * The master locks state_dir (jobd.lock: one jobd per directory), starts
 * redis-server on STATE_DIR/redis.sock with AOF and no TCP port, restarts it
 * with a backoff when it dies, and stops it last, after its workers.  The
 * child dies with the master (PR_SET_PDEATHSIG); a redis-server left by a
 * jobd that was killed is found by its pidfile and stopped before another
 * starts.  Settings and arguments go to execve as argv, never a shell.
 */
#ifndef JOBD_REDIS_MANAGED_H
#define JOBD_REDIS_MANAGED_H

#include <stddef.h>
#include <sys/types.h>

#define REDIS_MANAGED_SOCKET "redis.sock"  /* in state_dir */

struct config;
struct event_base;
struct redis_managed;

/* redis_managed_lock: make state_dir (0700) if missing and hold
 * STATE_DIR/jobd.lock for the life of the process.  0, or -1 with a line
 * in err naming the directory (and the pid of the jobd holding it). */
int redis_managed_lock(const char *state_dir, char *err, size_t errlen);

/* redis_managed_lock_pid: write the caller's pid into the lock (after
 * daemonising changed it). */
void redis_managed_lock_pid(void);

/* redis_managed_start: stop a stale redis-server of state_dir, start one
 * and wait a moment for its socket.  NULL with err on a failure that
 * retrying will not fix (the log file cannot be opened); a redis-server
 * that exits is not that: it is logged and restarted with a backoff. */
struct redis_managed *redis_managed_start(struct event_base *base,
                                          const struct config *cfg,
                                          char *err, size_t errlen);

/* redis_managed_reaped: 1 if pid was the redis-server (its exit logged and
 * a restart armed), 0 if not ours. */
int redis_managed_reaped(struct redis_managed *rm, pid_t pid, int status);

/* redis_managed_pid: its pid, or 0 while it is down; restarts so far. */
pid_t redis_managed_pid(const struct redis_managed *rm);
int redis_managed_restarts(const struct redis_managed *rm);

/* redis_managed_stop: SIGTERM, wait (bounded), then SIGKILL; frees rm.
 * Call it last: jobs in flight need Redis to store their outcome. */
void redis_managed_stop(struct redis_managed *rm);

#endif
