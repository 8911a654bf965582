/*
 * handler_exec.c: the exec handler kind.
 *
 * One-shot: a vfork-style clone + execve per job (argv from the config,
 * never a shell), in its own process group; the job record on stdin, the
 * result on stdout, progress lines on JOBD_PROGRESS_FD, the tail of stderr
 * as the error.
 *
 * Persistent: one process per type kept across jobs; a job is one line of
 * JSON on its stdin, the answer one line on its stdout.  A process that
 * dies, answers garbage or is stopped is killed and restarted next time.
 *
 * Everything the worker does with the child runs in one poll loop (pipes,
 * the child's exit through a pidfd, the master's socket), so a handler that
 * ignores its stdin or floods its output cannot block the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "handler.h"
#include "ipc.h"
#include "log.h"

#define PROGRESS_FD 3               /* the child's progress descriptor */
#define TAIL_MAX 4096               /* stderr bytes kept for the error */
#define PROGRESS_LINE_MAX 4096      /* longer progress lines are dropped */
#define PROGRESS_INTERVAL_MS 100    /* at most ~10 progress writes/s */
#define HEAD_MAX 200                /* bytes of bad output quoted */
#define NOPIDFD_POLL_MS 20          /* exit checks without a pidfd */
#define EXIT_WAIT_MS 1000           /* persistent: EOF until SIGKILL */
#define READ_CHUNK 65536
#define DRAIN_MAX_READS 256         /* bound on reads after the exit */
#define DEFAULT_MAX_OUTPUT (1024 * 1024)
#define CHILD_STACK (256 * 1024)    /* the spawned child's, until execve */
#define GROUPS_MAX 65536            /* the kernel's NGROUPS_MAX */

/* The 32-bit id calls where the plain ones take 16-bit ids. */
#ifdef SYS_setgid32
#define SYS_SETGID SYS_setgid32
#define SYS_SETGROUPS SYS_setgroups32
#define SYS_SETUID SYS_setuid32
#else
#define SYS_SETGID SYS_setgid
#define SYS_SETGROUPS SYS_setgroups
#define SYS_SETUID SYS_setuid
#endif

/* A running handler process. */
struct proc {
	pid_t pid;          /* 0: none */
	int pidfd;          /* -1 when the kernel has none */
	int in_fd, out_fd, err_fd, prog_fd;  /* our ends, -1 when closed */
	int exited;         /* a zombie, not reaped yet */
};

/* A persistent handler process of one type. */
struct persist {
	char type[CONFIG_NAME_MAX + 1];
	struct proc p;
	double grace;
	long long jobs;     /* answered so far (for logs) */
};

static struct persist *persists[CONFIG_MAX_TYPES];
static int npersists;
static int no_pidfd;        /* the kernel has no pidfd_open */
static char *child_stack;   /* top of the spawn stack, made once */

/* One job's run against a process. */
struct run {
	struct handler_ctx *ctx;
	struct proc *p;
	int persistent;
	char *in;           /* what to write to stdin */
	size_t in_len, in_off;
	struct handler_buf out;     /* one-shot: all stdout; persistent: the line */
	size_t max_out;
	char tail[TAIL_MAX * 2];
	size_t tail_len;
	struct handler_buf pline;   /* one-shot: a partial progress line */
	int pline_skip;     /* dropping an over-long progress line */
	/* Progress coalescing: the newest line waits for its slot. */
	int prog_pending;
	double prog_pct;
	char *prog_msg;
	long long prog_last_ms;
	/* How it ends. */
	long long kill_at;  /* SIGKILL deadline after SIGTERM (0: none) */
	int stopped;        /* a stop was requested and acted on */
	int answered;       /* persistent: got a result or an error */
	int outcome;
	char *result;
	char *error;        /* set early when we killed it on purpose */
};


static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void
proc_close(struct proc *p)
{
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	close_fd(&p->prog_fd);
	close_fd(&p->pidfd);
}

/* group_kill: signal the handler's process group; only ever called before
 * the leader is reaped, so the group id cannot have been reused. */
static void
group_kill(const struct proc *p, int sig)
{
	if (p->pid <= 0)
		return;
	if (kill(-p->pid, sig) == -1 && errno == ESRCH)
		kill(p->pid, sig);
}

/* proc_check_exit: has the child exited?  It stays a zombie (WNOWAIT). */
static int
proc_check_exit(struct proc *p)
{
	siginfo_t si;

	if (p->exited)
		return 1;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)p->pid, &si,
	    WEXITED | WNOHANG | WNOWAIT) == -1) {
		if (errno == EINTR)
			return 0;
		p->exited = 1;  /* ECHILD: nothing left to wait for */
		return 1;
	}
	if (si.si_pid == p->pid)
		p->exited = 1;
	return p->exited;
}

/* proc_reap: collect the exit status; -1 when unknown. */
static int
proc_reap(struct proc *p)
{
	int status;
	pid_t r;

	do
		r = waitpid(p->pid, &status, 0);
	while (r == -1 && errno == EINTR);
	handler_track_group(p->pid, 0);
	p->pid = 0;
	p->exited = 0;
	return r == -1 ? -1 : status;
}

/* --- starting a process ------------------------------------------------ */

/* Environment under construction: a key given twice keeps the last one. */
struct env {
	char *v[CONFIG_MAX_ARGV + 16];
	int n;
};

static int
env_set(struct env *e, const char *key, const char *value)
{
	size_t klen = strlen(key);
	char *s;
	int i;

	s = handler_strdupf("%s=%s", key, value);
	if (s == NULL)
		return -1;
	for (i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=') {
			free(e->v[i]);
			e->v[i] = s;
			return 0;
		}
	}
	if (e->n >= (int)(sizeof(e->v) / sizeof(e->v[0])) - 1) {
		free(s);
		return -1;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
	return 0;
}

static void
env_free(struct env *e)
{
	int i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
}

/* Who the child runs as. */
struct identity {
	int switch_user;
	uid_t uid;
	gid_t gid;
	char name[256];
	char home[PATH_MAX];
	gid_t *groups;      /* supplementary groups when switching (malloc'd) */
	int ngroups;
};

/* identity_groups: the user's groups, looked up here because the child
 * cannot (initgroups reads files and allocates). */
static int
identity_groups(struct identity *id)
{
	gid_t *g;
	int n = 32, want;

	for (;;) {
		g = realloc(id->groups, (size_t)n * sizeof(*g));
		if (g == NULL)
			return -1;
		id->groups = g;
		want = n;
		if (getgrouplist(id->name, id->gid, g, &want) != -1) {
			id->ngroups = want;
			return 0;
		}
		if (want <= n)
			want = n * 2;   /* not told how many: grow */
		if (want > GROUPS_MAX)
			return -1;
		n = want;
	}
}

static int
resolve_identity(const struct job_type *t, struct identity *id, char *err,
                 size_t errlen)
{
	struct passwd *pw;

	memset(id, 0, sizeof(*id));
	snprintf(id->home, sizeof(id->home), "/");
	errno = 0;
	pw = t->user != NULL && t->user[0] != '\0' ? getpwnam(t->user) :
	    getpwuid(geteuid());
	if (t->user != NULL && t->user[0] != '\0') {
		if (pw == NULL) {
			snprintf(err, errlen, "no such user: %s", t->user);
			return -1;
		}
		if (pw->pw_uid != geteuid()) {
			if (geteuid() != 0) {
				snprintf(err, errlen, "cannot run as user %s: "
				    "jobd is not running as root", t->user);
				return -1;
			}
			id->switch_user = 1;
			id->uid = pw->pw_uid;
			id->gid = pw->pw_gid;
			snprintf(id->name, sizeof(id->name), "%s",
			    pw->pw_name);
		}
	}
	if (pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] != '\0')
		snprintf(id->home, sizeof(id->home), "%s", pw->pw_dir);
	if (id->switch_user && identity_groups(id) == -1) {
		free(id->groups);
		id->groups = NULL;
		snprintf(err, errlen, "cannot list the groups of user %s",
		    id->name);
		return -1;
	}
	return 0;
}

static int
build_env(const struct handler_ctx *ctx, const struct identity *id,
          int per_job, struct env *e)
{
	const struct job_type *t = ctx->type;
	const char *eq;
	char key[256], num[32];
	int i, rc = 0;

	e->n = 0;
	e->v[0] = NULL;
	rc |= env_set(e, "PATH", "/usr/local/bin:/usr/bin:/bin");
	rc |= env_set(e, "LANG", "C.UTF-8");
	rc |= env_set(e, "HOME", id->home);
	if (id->switch_user) {
		rc |= env_set(e, "USER", id->name);
		rc |= env_set(e, "LOGNAME", id->name);
	}
	for (i = 0; i < CONFIG_MAX_ARGV && t->env[i] != NULL; i++) {
		eq = strchr(t->env[i], '=');
		if (eq == NULL || (size_t)(eq - t->env[i]) >= sizeof(key) ||
		    eq == t->env[i])
			continue;
		memcpy(key, t->env[i], (size_t)(eq - t->env[i]));
		key[eq - t->env[i]] = '\0';
		rc |= env_set(e, key, eq + 1);
	}
	/* jobd's own variables come last: the config cannot shadow them. */
	if (ctx->cfg->socket != NULL)
		rc |= env_set(e, "JOBD_SOCKET", ctx->cfg->socket);
	rc |= env_set(e, "JOBD_JOB_TYPE", t->name);
	if (per_job) {
		rc |= env_set(e, "JOBD_JOB_ID", ctx->job->id);
		snprintf(num, sizeof(num), "%d", ctx->job->attempt);
		rc |= env_set(e, "JOBD_ATTEMPT", num);
		snprintf(num, sizeof(num), "%d", PROGRESS_FD);
		rc |= env_set(e, "JOBD_PROGRESS_FD", num);
		rc |= env_set(e, "JOBD_QUEUE", ctx->job->queue != NULL ?
		    ctx->job->queue : t->queue);
	} else {
		rc |= env_set(e, "JOBD_QUEUE", t->queue);
		rc |= env_set(e, "JOBD_PERSISTENT", "1");
	}
	return rc ? -1 : 0;
}

/* What the child of spawn() needs, all of it made before the clone: it
 * shares our memory until it execs, so it may only make async-signal-safe
 * calls (no malloc, no stdio, no locks). */
struct child_args {
	const struct job_type *t;
	const struct identity *id;
	char *const *envp;
	pid_t ppid;
	int fds[4];         /* its stdin, stdout, stderr, progress (-1: none) */
	/* Why it could not exec, for spawn() to report: CLONE_VFORK keeps us
	 * suspended until it has exec'd or exited, so no race. */
	int fail_errno;
	const char *fail_what, *fail_arg;
};

/* child_fail: tell spawn() why the child cannot run and give up.  The
 * line on its stderr (the pipe) is only read where the clone is a plain
 * fork (valgrind): then it becomes the job's error.  Async-signal-safe. */
static void __attribute__((noreturn))
child_fail(struct child_args *a, const char *what, const char *arg)
{
	a->fail_errno = errno != 0 ? errno : EINVAL;
	a->fail_what = what;
	a->fail_arg = arg;
	(void)!write(2, "jobd: cannot ", 13);
	(void)!write(2, what, strlen(what));
	if (arg != NULL) {
		(void)!write(2, " ", 1);
		(void)!write(2, arg, strlen(arg));
	}
	(void)!write(2, "\n", 1);
	_exit(127);
}

static void
close_from(int lowfd)
{
	struct rlimit rl;
	long max, fd;

	if (syscall(SYS_close_range, (unsigned int)lowfd, ~0U, 0) == 0)
		return;
	max = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (long)rl.rlim_cur < max)
		max = (long)rl.rlim_cur;
	for (fd = lowfd; fd < max; fd++)
		close((int)fd);
}

/* child_limit: lower one resource limit to v (never above the hard limit
 * we have); hard is how far past v the hard limit goes.  Async-signal-safe. */
static void
child_limit(struct child_args *a, int resource, long long v, long long hard,
            const char *name)
{
	struct rlimit rl;
	rlim_t cur = (rlim_t)v, max = (rlim_t)(v + hard);

	if (v <= 0)
		return;
	if (getrlimit(resource, &rl) == 0 && rl.rlim_max != RLIM_INFINITY) {
		if (max > rl.rlim_max)
			max = rl.rlim_max;
		if (cur > max)
			cur = max;
	}
	rl.rlim_cur = cur;
	rl.rlim_max = max;
	if (setrlimit(resource, &rl) == -1)
		child_fail(a, "set", name);
}

/* child_exec: the child side of spawn(), on its own stack; never returns.
 * Runs with every signal blocked (spawn blocks them around the clone). */
static int
child_exec(void *arg)
{
	struct child_args *a = arg;
	const struct job_type *t = a->t;
	const struct identity *id = a->id;
	sigset_t all;
	int moved[4], i, sig, nfds;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != a->ppid)
		_exit(127);
	/* Our handlers are the worker's, in the worker's memory, and the
	 * worker ignores SIGPIPE and SIGHUP: all back to the default before
	 * the mask is cleared, so that a handler starts clean. */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	/* Move the pipe ends out of the way first: one may sit on 0..3. */
	nfds = a->fds[3] >= 0 ? 4 : 3;
	for (i = 0; i < nfds; i++) {
		moved[i] = fcntl(a->fds[i], F_DUPFD, 10);
		if (moved[i] == -1)
			_exit(127);
	}
	for (i = 0; i < nfds; i++)
		if (dup2(moved[i], i) == -1)
			_exit(127);
	close_from(nfds);

	if (t->cwd != NULL && t->cwd[0] != '\0' && chdir(t->cwd) == -1)
		child_fail(a, "chdir to", t->cwd);
	/* Limits before the user switch (lowering needs no privilege, but
	 * the handler must not be able to raise them back).  Past the CPU
	 * limit the kernel sends SIGXCPU, then SIGKILL a second later. */
	child_limit(a, RLIMIT_CPU, t->limit_cpu, 1, "limit_cpu");
	child_limit(a, RLIMIT_AS, t->limit_memory, 0, "limit_memory");
	child_limit(a, RLIMIT_NOFILE, t->limit_files, 0, "limit_files");
	if (t->limit_cpu > 0 || t->limit_memory > 0 || t->limit_files > 0) {
		struct rlimit none = { 0, 0 };

		(void)setrlimit(RLIMIT_CORE, &none); /* no core of a limit hit */
	}
	if (id->switch_user) {
		/* System calls, not glibc's wrappers: those would change the
		 * ids of every thread of the worker, whose memory we share. */
		if (syscall(SYS_SETGID, id->gid) == -1)
			child_fail(a, "setgid for", id->name);
		if (syscall(SYS_SETGROUPS, id->ngroups, id->groups) == -1)
			child_fail(a, "setgroups for", id->name);
		if (syscall(SYS_SETUID, id->uid) == -1)
			child_fail(a, "setuid to", id->name);
	}
	execve(t->argv[0], t->argv, a->envp);
	child_fail(a, "exec", NULL);
}

/* spawn_stack: the top of the stack spawned children run on until they
 * exec (one at a time: we are suspended meanwhile), made once, with a
 * guard page below it. */
static char *
spawn_stack(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *base;

	if (child_stack != NULL)
		return child_stack;
	if (page <= 0)
		page = 4096;
	base = mmap(NULL, CHILD_STACK + (size_t)page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	(void)mprotect(base, (size_t)page, PROT_NONE);
	child_stack = base + page + CHILD_STACK;
	return child_stack;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* spawn: start ctx->type's program.  0, or -1 with a message in err. */
static int
spawn(const struct handler_ctx *ctx, int per_job, struct proc *p, char *err,
      size_t errlen)
{
	const struct job_type *t = ctx->type;
	struct identity id;
	struct env env;
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	int pprog[2] = { -1, -1 }, saved;
	struct child_args a;
	sigset_t all, old;
	char *stack;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	p->pidfd = p->in_fd = p->out_fd = p->err_fd = p->prog_fd = -1;
	if (t->argv[0] == NULL) {
		snprintf(err, errlen, "type %s has no command", t->name);
		return -1;
	}
	if (resolve_identity(t, &id, err, errlen) == -1)
		return -1;
	if (build_env(ctx, &id, per_job, &env) == -1) {
		env_free(&env);
		free(id.groups);
		snprintf(err, errlen, "cannot build the environment");
		return -1;
	}
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1 ||
	    (per_job && pipe2(pprog, O_CLOEXEC) == -1)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	stack = spawn_stack();
	if (stack == NULL) {
		snprintf(err, errlen, "child stack: %s", strerror(errno));
		goto fail;
	}
	memset(&a, 0, sizeof(a));
	a.t = t;
	a.id = &id;
	a.envp = env.v;
	a.ppid = getpid();
	a.fds[0] = pin[0];
	a.fds[1] = pout[1];
	a.fds[2] = perr[1];
	a.fds[3] = pprog[1];
	/*
	 * Not fork(): copying the worker's page tables and the copy-on-write
	 * faults that follow cost milliseconds per job.  The child borrows
	 * our memory until it execs, and we wait.  Signals stay blocked
	 * until it has reset its dispositions: our handlers must not run in
	 * it.
	 */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(child_exec, stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		snprintf(err, errlen, "clone: %s", strerror(saved));
		goto fail;
	}
	if (a.fail_errno != 0) {
		/* It exited instead: collect it and say why. */
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		snprintf(err, errlen, "%s%s%s: %s", a.fail_what,
		    a.fail_arg != NULL ? " " : "",
		    a.fail_arg != NULL ? a.fail_arg : "",
		    strerror(a.fail_errno));
		goto fail;
	}

	/* The child made its group before we went on (CLONE_VFORK). */
	handler_track_group(pid, 1);
	env_free(&env);
	free(id.groups);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (pprog[1] >= 0)
		close(pprog[1]);
	p->pid = pid;
	p->in_fd = pin[1];
	p->out_fd = pout[0];
	p->err_fd = perr[0];
	p->prog_fd = pprog[0];
	set_nonblock(p->in_fd);
	set_nonblock(p->out_fd);
	set_nonblock(p->err_fd);
	if (p->prog_fd >= 0)
		set_nonblock(p->prog_fd);
#ifdef SYS_pidfd_open
	/* Without one (old kernel, valgrind) the loop polls for the exit. */
	if (!no_pidfd) {
		p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (p->pidfd >= 0)
			fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
		else {
			if (errno == ENOSYS)
				no_pidfd = 1;
			p->pidfd = -1;
		}
	}
#endif
	return 0;

fail:
	saved = errno;
	env_free(&env);
	free(id.groups);
	close_fd(&pin[0]);
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&perr[0]);
	close_fd(&perr[1]);
	close_fd(&pprog[0]);
	close_fd(&pprog[1]);
	errno = saved;
	return -1;
}

/* --- the run loop ------------------------------------------------------ */

static void
progress_flush(struct run *r)
{
	if (!r->prog_pending)
		return;
	r->prog_pending = 0;
	r->prog_last_ms = handler_now_ms();
	if (r->ctx->ss == NULL)
		return;
	if (store_sync_progress(r->ctx->ss, r->ctx->job, r->prog_pct,
	    r->prog_msg != NULL ? r->prog_msg : "") == -1)
		log_debug("job %s: progress not stored: %s", r->ctx->job->id,
		    store_sync_errmsg(r->ctx->ss));
}

/* progress_take: a progress object {"percent": n, "message": s}; the
 * newest one waits for the next slot when they come too fast. */
static void
progress_take(struct run *r, json_t *o)
{
	json_t *pct = json_object_get(o, "percent");
	json_t *msg = json_object_get(o, "message");
	char *m = NULL;

	if (!json_is_object(o))
		return;
	if (json_is_number(pct) && isfinite(json_number_value(pct)))
		r->prog_pct = json_number_value(pct) < 0 ? 0 :
		    json_number_value(pct) > 100 ? 100 :
		    json_number_value(pct);
	if (json_is_string(msg))
		m = strdup(json_string_value(msg));
	else if (msg == NULL && r->prog_msg != NULL)
		m = strdup(r->prog_msg);
	free(r->prog_msg);
	r->prog_msg = m;
	r->prog_pending = 1;
	if (handler_now_ms() - r->prog_last_ms >= PROGRESS_INTERVAL_MS)
		progress_flush(r);
}

/* progress_line: one line from the progress descriptor. */
static void
progress_line(struct run *r, const char *line, size_t len)
{
	json_t *o;

	o = json_loadb(line, len, 0, NULL);
	if (json_is_object(o))
		progress_take(r, o);
	else
		log_debug("job %s: ignoring a progress line that is not a "
		    "JSON object", r->ctx->job->id);
	json_decref(o);
}

static void
progress_input(struct run *r, const char *s, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		nl = memchr(s, '\n', n);
		k = nl != NULL ? (size_t)(nl - s) : n;
		if (!r->pline_skip && handler_buf_add(&r->pline, s, k,
		    PROGRESS_LINE_MAX) == -1) {
			r->pline_skip = 1;
			handler_buf_free(&r->pline);
		}
		if (nl == NULL)
			return;
		if (!r->pline_skip && r->pline.len > 0)
			progress_line(r, r->pline.d, r->pline.len);
		r->pline.len = 0;
		r->pline_skip = 0;
		s += k + 1;
		n -= k + 1;
	}
}

static void
tail_add(struct run *r, const char *s, size_t n)
{
	if (n >= TAIL_MAX) {
		memcpy(r->tail, s + n - TAIL_MAX, TAIL_MAX);
		r->tail_len = TAIL_MAX;
		return;
	}
	if (r->tail_len + n > sizeof(r->tail)) {
		memmove(r->tail, r->tail + r->tail_len - (TAIL_MAX - n),
		    TAIL_MAX - n);
		r->tail_len = TAIL_MAX - n;
	}
	memcpy(r->tail + r->tail_len, s, n);
	r->tail_len += n;
}

/* tail_text: the last TAIL_MAX bytes of stderr as text (malloc'd). */
static char *
tail_text(const struct run *r)
{
	size_t off = r->tail_len > TAIL_MAX ? r->tail_len - TAIL_MAX : 0;

	return handler_text(r->tail + off, r->tail_len - off);
}

/* fail_kill: end the run on purpose (bad output): SIGKILL the group now,
 * the loop then waits for the exit. */
static void
fail_kill(struct run *r, char *error)
{
	if (r->error == NULL)
		r->error = error != NULL ? error :
		    strdup("handler failed (out of memory)");
	else
		free(error);
	r->outcome = HANDLER_FAILED;
	group_kill(r->p, SIGKILL);
	close_fd(&r->p->in_fd);
	close_fd(&r->p->out_fd);
	r->kill_at = 0;
}

static char *
head_text(const char *s, size_t n)
{
	return handler_text(s, n < HEAD_MAX ? n : HEAD_MAX);
}

/* answer_line: one line of a persistent handler's stdout. */
static void
answer_line(struct run *r, const char *line, size_t len)
{
	json_t *o, *v;
	char *head;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;     /* blank lines are harmless */
	o = json_loadb(line, len, 0, NULL);
	if (json_is_object(o) && (v = json_object_get(o, "result")) != NULL) {
		r->result = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		r->outcome = r->result != NULL ? HANDLER_OK : HANDLER_FAILED;
		if (r->result == NULL)
			r->error = strdup("handler result: out of memory");
		r->answered = 1;
	} else if (json_is_object(o) &&
	    (v = json_object_get(o, "error")) != NULL) {
		r->error = json_is_string(v) ? strdup(json_string_value(v)) :
		    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		r->outcome = HANDLER_FAILED;
		r->answered = 1;
	} else if (json_is_object(o) &&
	    json_is_object(v = json_object_get(o, "progress"))) {
		progress_take(r, v);
	} else {
		head = head_text(line, len);
		fail_kill(r, handler_strdupf("persistent handler answered "
		    "garbage: %s", head != NULL ? head : ""));
		free(head);
	}
	json_decref(o);
}

static void
answer_input(struct run *r, const char *s, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0 && !r->answered && r->p->out_fd >= 0) {
		nl = memchr(s, '\n', n);
		k = nl != NULL ? (size_t)(nl - s) : n;
		if (handler_buf_add(&r->out, s, k, r->max_out) == -1) {
			fail_kill(r, handler_strdupf("output exceeds %zu bytes",
			    r->max_out));
			return;
		}
		if (nl == NULL)
			return;
		answer_line(r, r->out.d, r->out.len);
		r->out.len = 0;
		s += k + 1;
		n -= k + 1;
	}
}

static void
stdout_input(struct run *r, const char *s, size_t n)
{
	if (r->persistent) {
		answer_input(r, s, n);
		return;
	}
	if (handler_buf_add(&r->out, s, n, r->max_out) == -1)
		fail_kill(r, handler_strdupf("output exceeds %zu bytes",
		    r->max_out));
}

/* read_fd: one read of *fd into where; closes it on EOF or error.
 * Returns the bytes read (0 when none were waiting). */
static ssize_t
read_fd(struct run *r, int *fd, int which)
{
	char chunk[READ_CHUNK];
	ssize_t n;

	if (*fd < 0)
		return 0;
	do
		n = read(*fd, chunk, sizeof(chunk));
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		close_fd(fd);
		if (which == 1 && r->persistent && !r->answered &&
		    r->kill_at == 0) {
			/* It closed its stdout: let it exit and tell why. */
			r->kill_at = handler_now_ms() + EXIT_WAIT_MS;
		}
		return 0;
	}
	switch (which) {
	case 1:
		stdout_input(r, chunk, (size_t)n);
		break;
	case 2:
		tail_add(r, chunk, (size_t)n);
		break;
	default:
		progress_input(r, chunk, (size_t)n);
		break;
	}
	return n;
}

static void
write_input(struct run *r)
{
	ssize_t n;

	if (r->p->in_fd < 0)
		return;
	do
		n = write(r->p->in_fd, r->in + r->in_off, r->in_len - r->in_off);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		/* EPIPE: it does not read its stdin, which is its right. */
		r->in_off = r->in_len;
	} else
		r->in_off += (size_t)n;
	if (r->in_off >= r->in_len) {
		free(r->in);
		r->in = NULL;
		r->in_len = r->in_off = 0;
		if (!r->persistent)
			close_fd(&r->p->in_fd);
	}
}

static void
begin_stop(struct run *r)
{
	double grace = r->ctx->cfg->grace;

	r->stopped = 1;
	group_kill(r->p, SIGTERM);
	if (!(grace > 0))
		grace = 0;
	if (grace > 3600)
		grace = 3600;
	r->kill_at = handler_now_ms() + (long long)(grace * 1000);
	if (r->kill_at == 0)
		r->kill_at = 1;
}

/*
 * run_loop: pump the pipes until the child exits (one-shot) or answers
 * (persistent), acting on stops.  On return with p->exited set the child
 * is a zombie, not yet reaped.
 */
static void
run_loop(struct run *r)
{
	struct proc *p = r->p;
	struct pollfd pfd[6];
	int *fdp[6], kind[6], n, i, timeout;
	long long now, t;

	for (;;) {
		/* An answer counts even if the process exits right after;
		 * a stopped one is waited for all the same. */
		if (r->persistent && r->answered && !r->stopped)
			return;
		if (proc_check_exit(p))
			return;
		if (!r->stopped && handler_poll(r->ctx, 0) != STOP_NONE)
			begin_stop(r);
		now = handler_now_ms();
		if (r->kill_at != 0 && now >= r->kill_at) {
			group_kill(p, SIGKILL);
			r->kill_at = 0;
		}
		if (r->prog_pending &&
		    now - r->prog_last_ms >= PROGRESS_INTERVAL_MS)
			progress_flush(r);

		timeout = 1000;
		if (p->pidfd < 0)
			timeout = NOPIDFD_POLL_MS;
		if (r->kill_at != 0 && r->kill_at - now < timeout)
			timeout = (int)(r->kill_at - now);
		if (r->prog_pending) {
			t = r->prog_last_ms + PROGRESS_INTERVAL_MS - now;
			if (t < timeout)
				timeout = (int)t;
		}
		if (timeout < 0)
			timeout = 0;

		n = 0;
#define WATCH(fdv, ev, k) do {                                  \
		if ((fdv) >= 0) {                               \
			pfd[n].fd = (fdv);                      \
			pfd[n].events = (ev);                   \
			pfd[n].revents = 0;                     \
			fdp[n] = &(fdv);                        \
			kind[n] = (k);                          \
			n++;                                    \
		}                                               \
	} while (0)
		if (r->in != NULL)
			WATCH(p->in_fd, POLLOUT, 0);
		WATCH(p->out_fd, POLLIN, 1);
		WATCH(p->err_fd, POLLIN, 2);
		WATCH(p->prog_fd, POLLIN, 3);
		WATCH(p->pidfd, POLLIN, 4);
		if (!r->stopped)
			WATCH(r->ctx->ctl_fd, POLLIN, 5);
#undef WATCH
		if (poll(pfd, (nfds_t)n, timeout) == -1) {
			if (errno != EINTR) {
				log_warn("poll");
				/* Do not spin on a poll that keeps failing. */
				usleep(10000);
			}
			continue;
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			switch (kind[i]) {
			case 0:
				write_input(r);
				break;
			case 1:
			case 2:
			case 3:
				read_fd(r, fdp[i], kind[i]);
				break;
			default:
				break;  /* pidfd, ctl: checked at the top */
			}
		}
	}
}

/* drain: after the exit (and the group's SIGKILL), take what is left in
 * the pipes without blocking. */
static void
drain(struct run *r)
{
	int i;

	for (i = 0; i < DRAIN_MAX_READS && r->p->out_fd >= 0 &&
	    !(r->persistent && r->answered); i++)
		if (read_fd(r, &r->p->out_fd, 1) <= 0)
			break;
	for (i = 0; i < DRAIN_MAX_READS && r->p->err_fd >= 0; i++)
		if (read_fd(r, &r->p->err_fd, 2) <= 0)
			break;
	for (i = 0; i < DRAIN_MAX_READS && r->p->prog_fd >= 0; i++)
		if (read_fd(r, &r->p->prog_fd, 3) <= 0)
			break;
	if (r->pline.len > 0 && !r->pline_skip)
		progress_line(r, r->pline.d, r->pline.len);
}

/* status_text: "exit status N" / "killed by signal N", then stderr. */
static char *
status_error(const struct run *r, const char *prefix, int status)
{
	char *tail = tail_text(r), *s;
	char what[64];

	if (status == -1)
		snprintf(what, sizeof(what), "exit status unknown");
	else if (WIFSIGNALED(status))
		snprintf(what, sizeof(what), "killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(what, sizeof(what), "exit status %d",
		    WEXITSTATUS(status));
	s = handler_strdupf("%s%s%s%s", prefix, what,
	    tail != NULL && tail[0] != '\0' ? ": " : "",
	    tail != NULL ? tail : "");
	free(tail);
	return s;
}

static void
run_init(struct run *r, struct handler_ctx *ctx, struct proc *p,
         int persistent)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->p = p;
	r->persistent = persistent;
	r->max_out = ctx->type->max_output > 0 ?
	    (size_t)ctx->type->max_output : DEFAULT_MAX_OUTPUT;
	r->prog_last_ms = handler_now_ms() - PROGRESS_INTERVAL_MS;
	r->outcome = HANDLER_FAILED;
}

static void
run_free(struct run *r)
{
	free(r->in);
	handler_buf_free(&r->out);
	handler_buf_free(&r->pline);
	free(r->prog_msg);
}

/* run_finish: hand the run's outcome to the caller (the result on success,
 * the error on failure, never both), free the rest; the outcome. */
static int
run_finish(struct run *r, char **result, char **error, const char *fallback)
{
	*result = r->outcome == HANDLER_OK ? r->result : NULL;
	*error = r->outcome == HANDLER_FAILED ? r->error : NULL;
	if (r->outcome != HANDLER_OK)
		free(r->result);
	if (r->outcome != HANDLER_FAILED)
		free(r->error);
	if (r->outcome == HANDLER_FAILED && *error == NULL)
		*error = strdup(fallback);
	run_free(r);
	return r->outcome;
}

/* job_input: the job record as compact JSON (one line: jansson escapes
 * newlines inside strings), with a newline when asked. */
static char *
job_input(const struct handler_ctx *ctx, int newline, size_t *len)
{
	char *s, *t;
	size_t n;

	s = ctx->job->record != NULL ?
	    json_dumps(ctx->job->record, JSON_COMPACT) : strdup("{}");
	if (s == NULL)
		return NULL;
	n = strlen(s);
	if (newline) {
		t = realloc(s, n + 2);
		if (t == NULL) {
			free(s);
			return NULL;
		}
		s = t;
		s[n++] = '\n';
		s[n] = '\0';
	}
	*len = n;
	return s;
}

/* oneshot_result: the outcome of a child that exited with status. */
static void
oneshot_result(struct run *r, int status)
{
	json_t *v;
	char *head;
	size_t i;

	if (r->error != NULL)
		return;             /* killed on purpose: reason known */
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		r->outcome = HANDLER_FAILED;
		r->error = status_error(r, "", status);
		return;
	}
	for (i = 0; i < r->out.len; i++)
		if (!strchr(" \t\r\n", r->out.d[i]))
			break;
	if (i == r->out.len) {
		r->result = strdup("null");
	} else {
		v = json_loadb(r->out.d, r->out.len,
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		if (v == NULL) {
			head = head_text(r->out.d, r->out.len);
			r->outcome = HANDLER_FAILED;
			r->error = handler_strdupf("handler output is not "
			    "JSON: %s", head != NULL ? head : "");
			free(head);
			return;
		}
		r->result = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(v);
	}
	r->outcome = r->result != NULL ? HANDLER_OK : HANDLER_FAILED;
	if (r->result == NULL)
		r->error = strdup("handler result: out of memory");
}

static int
oneshot_run(struct handler_ctx *ctx, char **result, char **error)
{
	struct proc p;
	struct run r;
	char err[512];
	int status;

	run_init(&r, ctx, &p, 0);
	r.in = job_input(ctx, 0, &r.in_len);
	if (r.in == NULL) {
		*error = strdup("cannot encode the job record");
		return HANDLER_FAILED;
	}
	if (spawn(ctx, 1, &p, err, sizeof(err)) == -1) {
		run_free(&r);
		*error = handler_strdupf("cannot start %s: %s",
		    ctx->type->argv[0] != NULL ? ctx->type->argv[0] : "handler",
		    err);
		return HANDLER_FAILED;
	}
	handler_report_pgid(ctx, p.pid);
	log_debug("job %s: started %s, pid %ld", ctx->job->id,
	    ctx->type->argv[0], (long)p.pid);
	run_loop(&r);
	/* No grandchild outlives the job; the zombie still holds the id. */
	group_kill(&p, SIGKILL);
	drain(&r);
	status = proc_reap(&p);
	proc_close(&p);
	handler_report_pgid(ctx, 0);
	progress_flush(&r);
	if (r.stopped) {
		r.outcome = HANDLER_STOPPED;
	} else
		oneshot_result(&r, status);
	return run_finish(&r, result, error, "handler failed");
}

/* --- persistent mode ---------------------------------------------------- */

static struct persist *
persist_get(const struct handler_ctx *ctx)
{
	struct persist *pp;
	int i;

	for (i = 0; i < npersists; i++)
		if (strcmp(persists[i]->type, ctx->type->name) == 0)
			return persists[i];
	if (npersists >= CONFIG_MAX_TYPES)
		return NULL;
	pp = calloc(1, sizeof(*pp));
	if (pp == NULL)
		return NULL;
	snprintf(pp->type, sizeof(pp->type), "%s", ctx->type->name);
	pp->p.pidfd = pp->p.in_fd = pp->p.out_fd = pp->p.err_fd = -1;
	pp->p.prog_fd = -1;
	persists[npersists++] = pp;
	return pp;
}

/* persist_discard: forget stale output left from before this job. */
static void
persist_discard(struct proc *p)
{
	char chunk[4096];
	int i;
	ssize_t n;

	for (i = 0; i < DRAIN_MAX_READS; i++) {
		n = read(p->out_fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
	}
}

/* persist_reap: collect a dead persistent process, so that the next job
 * starts a new one. */
static int
persist_reap(struct persist *pp)
{
	int status;

	group_kill(&pp->p, SIGKILL);
	status = proc_reap(&pp->p);
	proc_close(&pp->p);
	log_info("type %s: persistent handler gone after %lld job(s)",
	    pp->type, pp->jobs);
	return status;
}

static int
persistent_run(struct handler_ctx *ctx, char **result, char **error)
{
	struct persist *pp;
	struct run r;
	char err[512];
	int status;

	pp = persist_get(ctx);
	if (pp == NULL) {
		*error = strdup("too many persistent handlers");
		return HANDLER_FAILED;
	}
	pp->grace = ctx->cfg->grace;
	/* One that died between jobs is not this job's fault. */
	if (pp->p.pid != 0 && proc_check_exit(&pp->p))
		persist_reap(pp);
	if (pp->p.pid == 0) {
		if (spawn(ctx, 0, &pp->p, err, sizeof(err)) == -1) {
			*error = handler_strdupf("cannot start %s: %s",
			    ctx->type->argv[0] != NULL ? ctx->type->argv[0] :
			    "handler", err);
			return HANDLER_FAILED;
		}
		pp->jobs = 0;
		log_info("type %s: started persistent handler %s, pid %ld",
		    ctx->type->name, ctx->type->argv[0], (long)pp->p.pid);
	} else
		persist_discard(&pp->p);

	run_init(&r, ctx, &pp->p, 1);
	r.in = job_input(ctx, 1, &r.in_len);
	if (r.in == NULL) {
		*error = strdup("cannot encode the job record");
		return HANDLER_FAILED;
	}
	handler_report_pgid(ctx, pp->p.pid);
	run_loop(&r);
	if (pp->p.exited) {
		/* It died, was stopped or was killed for bad output. */
		group_kill(&pp->p, SIGKILL);
		drain(&r);
		status = persist_reap(pp);
		if (!r.stopped && !r.answered && r.error == NULL)
			r.error = status_error(&r, "persistent handler "
			    "exited: ", status);
	} else
		pp->jobs++;
	handler_report_pgid(ctx, 0);
	progress_flush(&r);
	if (r.stopped)
		r.outcome = HANDLER_STOPPED;
	else if (r.error != NULL)
		r.outcome = HANDLER_FAILED;
	else if (r.answered && r.result != NULL)
		r.outcome = HANDLER_OK;
	return run_finish(&r, result, error, "persistent handler failed");
}

int
handler_exec_run(struct handler_ctx *ctx, char **result, char **error)
{
	if (ctx->type->persistent)
		return persistent_run(ctx, result, error);
	return oneshot_run(ctx, result, error);
}

/* persist_stop: close its stdin (a polite end), SIGTERM, wait up to the
 * grace, SIGKILL, reap. */
static void
persist_stop(struct persist *pp)
{
	struct proc *p = &pp->p;
	long long deadline;
	double grace = pp->grace > 3600 ? 3600 : pp->grace > 0 ? pp->grace : 0;

	if (p->pid == 0)
		return;
	close_fd(&p->in_fd);
	group_kill(p, SIGTERM);
	deadline = handler_now_ms() + (long long)(grace * 1000);
	while (!proc_check_exit(p) && handler_now_ms() < deadline)
		usleep(10000);
	group_kill(p, SIGKILL);
	proc_reap(p);
	proc_close(p);
}

void
handler_exec_shutdown(void)
{
	int i;

	for (i = 0; i < npersists; i++) {
		persist_stop(persists[i]);
		free(persists[i]);
		persists[i] = NULL;
	}
	npersists = 0;
}
