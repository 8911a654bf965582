/*
 * child_status.h: a child's wait status in words, for the log lines of
 * the processes the master supervises (workers, the HTTP child, Redis).
 */
#ifndef JOBD_CHILD_STATUS_H
#define JOBD_CHILD_STATUS_H

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* child_status_text: "killed by signal N (NAME)" or "exit status N". */
static inline void
child_status_text(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
}

#endif
