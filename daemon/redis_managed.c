/*
 * redis_managed.c: the private redis-server of redis = managed; see
 * redis_managed.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child_status.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "redis_managed.h"

#define STOP_WAIT    10.0   /* s between SIGTERM and SIGKILL */
#define START_WAIT   5.0    /* s to wait for the socket at start */
#define YOUNG        2.0    /* s: dying sooner than this grows the backoff */
#define BACKOFF_MIN  0.1    /* s before a restart */
#define BACKOFF_MAX  10.0
#define TAIL_BYTES   400    /* of its log, quoted when it dies */

struct redis_managed {
	struct event_base *base;
	struct event *ev_restart;
	char exe[PATH_MAX];
	char dir[PATH_MAX];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char log[PATH_MAX];
	char pidfile[PATH_MAX];
	char appendfsync[16];
	pid_t pid;                 /* 0: down */
	int restarts;
	double backoff;            /* s before the next restart */
	struct timespec started;
};

static int lock_fd = -1;

/* --- the lock ------------------------------------------------------------ */

int
redis_managed_lock(const char *state_dir, char *err, size_t errlen)
{
	char path[PATH_MAX], holder[32];
	struct stat sb;
	ssize_t n;
	int fd;

	if (mkdir(state_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir %s: cannot create it: %s",
		    state_dir, strerror(errno));
		return -1;
	}
	if (stat(state_dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "state_dir %s: not a directory", state_dir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/jobd.lock", state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "state_dir %s: %s: %s", state_dir, path,
		    strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "state_dir %s is in use by another "
			    "jobd (pid %s holds %s); give each jobd its own "
			    "state_dir", state_dir, holder[0] ? holder : "?",
			    path);
		else
			snprintf(err, errlen, "state_dir %s: lock %s: %s",
			    state_dir, path, strerror(e));
		return -1;
	}
	lock_fd = fd;   /* held until exit; workers close it (fork_keeping) */
	redis_managed_lock_pid();
	return 0;
}

void
redis_managed_lock_pid(void)
{
	char buf[32];
	int n;

	if (lock_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(lock_fd, 0) == -1 || pwrite(lock_fd, buf, (size_t)n, 0) != n)
		log_warn("jobd.lock: cannot write the pid");
}

/* --- helpers --------------------------------------------------------------- */

static void
nap(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* log_tail: the last lines of its log, on one line ("|" between them). */
static void
log_tail(const struct redis_managed *rm, char *out, size_t outlen)
{
	char buf[TAIL_BYTES + 1];
	off_t size;
	ssize_t n;
	char *p;
	int fd;

	snprintf(out, outlen, "(empty)");
	fd = open(rm->log, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = size > 0 ? pread(fd, buf, TAIL_BYTES, size > TAIL_BYTES ?
	    size - TAIL_BYTES : 0) : 0;
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	p = size > TAIL_BYTES ? strchr(buf, '\n') : NULL;  /* a whole line */
	p = p != NULL ? p + 1 : buf;
	for (char *q = p; *q != '\0'; q++)
		if (*q == '\n')
			*q = '|';
		else if ((unsigned char)*q < ' ')
			*q = ' ';
	snprintf(out, outlen, "%s", p);
}

/* alive: pid exists and is not a zombie (its reaper may be slow). */
static int
alive(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return kill(pid, 0) == 0;  /* no /proc: best effort */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p == NULL || (p[1] == ' ' && p[2] != 'Z' && p[2] != 'X');
}

/* ours: pid is a redis-server working in our state_dir (its --dir), not a
 * stranger that took a recycled pid. */
static int
ours(const struct redis_managed *rm, pid_t pid)
{
	char path[64], cwd[PATH_MAX], real[PATH_MAX], comm[64];
	const char *base = strrchr(rm->exe, '/');
	ssize_t n;
	int fd;

	base = base != NULL ? base + 1 : rm->exe;
	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	if (n <= 0 || realpath(rm->dir, real) == NULL)
		return 0;
	cwd[n] = '\0';
	if (strcmp(cwd, real) != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return strncmp(comm, base, 15) == 0;  /* comm holds 15 bytes */
}

/* stop_stale: a redis-server left by a jobd that was killed (its death
 * signal may still be flushing the AOF): wait for it, or stop it. */
static void
stop_stale(const struct redis_managed *rm)
{
	struct timespec t0;
	char buf[32];
	ssize_t n;
	pid_t pid;
	int fd;

	fd = open(rm->pidfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = (pid_t)strtol(buf, NULL, 10);
	if (pid <= 1 || pid == getpid() || !alive(pid) || !ours(rm, pid))
		return;
	log_warnx("state_dir %s: redis-server %ld of an earlier jobd still "
	    "runs; stopping it", rm->dir, (long)pid);
	kill(pid, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (alive(pid) && clock_since(&t0) < STOP_WAIT)
		nap();
	if (alive(pid)) {
		log_warnx("redis-server %ld: still there %.0f s after SIGTERM; "
		    "SIGKILL", (long)pid, STOP_WAIT);
		kill(pid, SIGKILL);
		while (alive(pid) && clock_since(&t0) < 2 * STOP_WAIT)
			nap();
	}
}

static int
socket_answers(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

/* --- the child ------------------------------------------------------------- */

/* child_exec: in the forked child; does not return. */
static void
child_exec(const struct redis_managed *rm, pid_t parent, int logfd)
{
	char *argv[] = {
		(char *)rm->exe,
		"--port", "0",              /* no TCP: the socket only */
		"--unixsocket", (char *)rm->sock,
		"--unixsocketperm", "700",
		"--dir", (char *)rm->dir,
		"--appendonly", "yes",
		"--appendfsync", (char *)rm->appendfsync,
		"--save", "",               /* the AOF is the record */
		"--maxmemory-policy", "noeviction",  /* never drop a job */
		"--daemonize", "no",
		"--logfile", "",            /* stdout: redis.log */
		NULL,
	};
	struct sigaction sa;
	sigset_t none;
	int null;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);  /* SIGPIPE was ignored */
	/* Dies with jobd, even SIGKILLed: SIGTERM flushes the AOF.  If jobd
	 * died before this line, nobody would send it. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(1);
	setsid();       /* not in the terminal's group: a ^C is for jobd */
	null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != STDIN_FILENO)
		dup2(null, STDIN_FILENO);
	dup2(logfd, STDOUT_FILENO);
	dup2(logfd, STDERR_FILENO);
	close_range(3, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(rm->exe, argv);
	dprintf(STDERR_FILENO, "jobd: cannot run %s: %s\n", rm->exe,
	    strerror(errno));
	_exit(127);
}

static void
write_pidfile(const struct redis_managed *rm)
{
	char tmp[PATH_MAX + 8];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", rm->pidfile);
	fp = fopen(tmp, "we");
	if (fp == NULL || fprintf(fp, "%ld\n", (long)rm->pid) < 0 ||
	    fclose(fp) != 0 || rename(tmp, rm->pidfile) == -1)
		log_warn("%s", rm->pidfile);
}

/* spawn: fork and exec redis-server.  0, or -1 (logged). */
static int
spawn(struct redis_managed *rm)
{
	sigset_t all, old;
	pid_t parent = getpid(), pid;
	int logfd;

	logfd = open(rm->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (logfd == -1) {
		log_warn("managed redis: %s", rm->log);
		return -1;
	}
	unlink(rm->sock);   /* left by one that was killed */
	/* Signals stay blocked until the child has reset them: a signal for
	 * it must not run the master's handlers. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(rm, parent, logfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(logfd);
	if (pid == -1) {
		log_warn("managed redis: fork");
		return -1;
	}
	rm->pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &rm->started);
	write_pidfile(rm);
	log_info("managed redis-server %ld started on unix://%s (appendfsync "
	    "%s, log %s)", (long)pid, rm->sock, rm->appendfsync, rm->log);
	return 0;
}

static void
arm_restart(struct redis_managed *rm)
{
	struct timeval tv;

	tv.tv_sec = (time_t)rm->backoff;
	tv.tv_usec = (suseconds_t)((rm->backoff - (double)tv.tv_sec) * 1e6);
	evtimer_add(rm->ev_restart, &tv);
}

static void
restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_managed *rm = arg;

	(void)fd; (void)what;
	rm->restarts++;
	if (spawn(rm) == -1) {
		rm->backoff = rm->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
		    rm->backoff * 2;
		arm_restart(rm);
	}
}

/* died: log why, with the end of its log, and restart it after the
 * backoff (growing while it dies young: a bad binary does not spin). */
static void
died(struct redis_managed *rm, int status)
{
	char how[96], tail[TAIL_BYTES + 1];
	double up = clock_since(&rm->started);

	if (up < YOUNG)
		rm->backoff = rm->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
		    rm->backoff * 2;
	else
		rm->backoff = BACKOFF_MIN;
	child_status_text(status, how, sizeof(how));
	log_tail(rm, tail, sizeof(tail));
	log_warnx("managed redis-server %ld %s after %.1f s; restarting in "
	    "%.1f s; %s ends: %s", (long)rm->pid, how, up, rm->backoff,
	    rm->log, tail);
	rm->pid = 0;
	arm_restart(rm);
}

/* --- the interface --------------------------------------------------------- */

struct redis_managed *
redis_managed_start(struct event_base *base, const struct config *cfg,
                    char *err, size_t errlen)
{
	struct redis_managed *rm = calloc(1, sizeof(*rm));
	struct timespec t0;
	int status;

	if (rm == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rm->base = base;
	rm->backoff = BACKOFF_MIN / 2;   /* doubled by a first young death */
	snprintf(rm->exe, sizeof(rm->exe), "%s", cfg->redis_server_exe);
	snprintf(rm->dir, sizeof(rm->dir), "%s", cfg->state_dir);
	snprintf(rm->sock, sizeof(rm->sock), "%s/" REDIS_MANAGED_SOCKET,
	    cfg->state_dir);
	snprintf(rm->log, sizeof(rm->log), "%s/redis.log", cfg->state_dir);
	snprintf(rm->pidfile, sizeof(rm->pidfile), "%s/redis.pid",
	    cfg->state_dir);
	snprintf(rm->appendfsync, sizeof(rm->appendfsync), "%s",
	    cfg->redis_appendfsync);
	rm->ev_restart = evtimer_new(base, restart_cb, rm);
	if (rm->ev_restart == NULL) {
		snprintf(err, errlen, "out of memory");
		free(rm);
		return NULL;
	}
	stop_stale(rm);
	if (spawn(rm) == -1) {
		snprintf(err, errlen, "managed redis: cannot start %s (see the "
		    "log above)", rm->exe);
		event_free(rm->ev_restart);
		free(rm);
		return NULL;
	}
	/* A moment for its socket, so that the first connections find it;
	 * the store reconnects anyway if it takes longer (a large AOF). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (clock_since(&t0) < START_WAIT) {
		if (waitpid(rm->pid, &status, WNOHANG) == rm->pid) {
			died(rm, status);
			break;
		}
		if (socket_answers(rm->sock))
			break;
		nap();
	}
	return rm;
}

int
redis_managed_reaped(struct redis_managed *rm, pid_t pid, int status)
{
	if (rm == NULL || pid <= 0 || pid != rm->pid)
		return 0;
	died(rm, status);
	return 1;
}

pid_t
redis_managed_pid(const struct redis_managed *rm)
{
	return rm != NULL ? rm->pid : 0;
}

int
redis_managed_restarts(const struct redis_managed *rm)
{
	return rm != NULL ? rm->restarts : 0;
}

void
redis_managed_stop(struct redis_managed *rm)
{
	struct timespec t0;
	char how[96];
	int status = 0;
	pid_t got = 0;

	if (rm == NULL)
		return;
	event_free(rm->ev_restart);
	if (rm->pid > 0) {
		log_info("stopping managed redis-server %ld", (long)rm->pid);
		kill(rm->pid, SIGTERM);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while ((got = waitpid(rm->pid, &status, WNOHANG)) == 0 &&
		    clock_since(&t0) < STOP_WAIT)
			nap();
		if (got == 0) {
			log_warnx("managed redis-server %ld: still there %.0f s "
			    "after SIGTERM; SIGKILL", (long)rm->pid, STOP_WAIT);
			kill(rm->pid, SIGKILL);
			got = waitpid(rm->pid, &status, 0);
		}
		child_status_text(status, how, sizeof(how));
		if (got == rm->pid)
			log_info("managed redis-server %ld stopped (%s)",
			    (long)rm->pid, how);
		unlink(rm->pidfile);
	}
	free(rm);
}
