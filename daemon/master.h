/*
 * master.h: the master process: listens, serves clients, supervises the
 * preforked workers, renews their leases, enforces timeouts, reloads on
 * SIGHUP and shuts down gracefully on SIGTERM.
 */
#ifndef JOBD_MASTER_H
#define JOBD_MASTER_H

#include "config.h"

/* A function that loads the configuration again (file + command-line
 * overrides) for SIGHUP; NULL with a message in err on failure. */
typedef struct config *master_reload_fn(char *err, size_t errlen);

/* master_run: run until shut down.  Takes ownership of cfg.  Returns the
 * process exit status. */
int master_run(struct config *cfg, master_reload_fn *reload);

#endif
