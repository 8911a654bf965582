/*
 * main.c: jobd's command line, configuration, daemonising and pidfile.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "redis_managed.h"
#include "redis_url.h"

/* Command-line settings ("SECTION.KEY=VALUE"), applied over the file at
 * start and again on each reload. */
#define MAX_OVERRIDES 256
static const char *overrides[MAX_OVERRIDES];
static char *override_bufs[MAX_OVERRIDES];
static int noverrides;
static const char *config_path;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: jobd [-c FILE] [-o SECTION.KEY=VALUE]... [-s SOCKET] [--redis URL]\n"
	    "            [-w WORKERS] [-f|--foreground] [--pidfile FILE]\n"
	    "            [--http ADDR] [--log-level LEVEL] [--check] [--dump-sample]\n"
	    "            [--dump-reference] [--help] [--version]\n"
	    "\n"
	    "  -c, --config FILE     configuration file (INI; see jobd.conf.sample)\n"
	    "  -o SECTION.KEY=VALUE  set any setting over the file, e.g.\n"
	    "                        -o jobd.workers=4 -o type:mail.timeout=30\n"
	    "  -s, --socket PATH     Unix socket to listen on\n"
	    "      --redis URL       managed (the default: jobd's own redis-server\n"
	    "                        in state_dir), redis://[USER:PASSWORD@]HOST[:PORT][/DB]\n"
	    "                        or unix://[USER:PASSWORD@]/PATH[?db=N]\n"
	    "  -w, --workers N       worker processes (0: one per CPU)\n"
	    "  -f, --foreground      stay in the foreground, log to stderr\n"
	    "      --pidfile FILE    write the master's pid to FILE\n"
	    "      --http ADDR       serve metrics, health and the JSON API on\n"
	    "                        HOST:PORT or unix:/PATH (http.listen)\n"
	    "      --log-level L     error, warning, notice, info or debug\n"
	    "      --check           load the configuration, print every setting, exit\n"
	    "      --dump-sample     print jobd.conf.sample (every setting) and exit\n"
	    "      --dump-reference  print the settings reference (Markdown) and exit\n"
	    "  -h, --help            this help\n"
	    "  -V, --version         print the version\n"
	    "\n"
	    "Signals: TERM/INT stop gracefully (twice: at once), HUP reloads,\n"
	    "USR1 reopens the log file.\n"
	    "Documentation: docs/jobd.md\n");
}

/* add_override: an -o argument, or a flag as "SECTION.KEY=VALUE" when key
 * (a key without a section is in [jobd]). */
static int
add_override(const char *key, const char *value)
{
	char *s = NULL;

	if (noverrides == MAX_OVERRIDES)
		return -1;
	if (key != NULL) {
		if (asprintf(&s, "%s%s=%s", strchr(key, '.') ? "" : "jobd.",
		    key, value) == -1)
			return -1;
		value = s;
	}
	override_bufs[noverrides] = s;
	overrides[noverrides++] = value;
	return 0;
}

/* load_config: the file (if any) with the command-line overrides on top. */
static struct config *
load_config(char *err, size_t errlen)
{
	return config_load(config_path, overrides, noverrides, err, errlen);
}

static void
free_overrides(void)
{
	for (int i = 0; i < noverrides; i++)
		free(override_bufs[i]);
}

/* write_pidfile: create and lock FILE; a lock held by another process
 * means another jobd runs with it. */
static int
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_warn("pidfile %s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		log_warnx("pidfile %s is locked: is another jobd running?", path);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || write(fd, buf, (size_t)n) != n) {
		log_warn("pidfile %s", path);
		close(fd);
		return -1;
	}
	/* Kept open (and locked) for the life of the daemon. */
	return 0;
}

/* daemonise: detach; stderr becomes /dev/null unless it is the log
 * file (keep_stderr). */
static int
daemonise(int keep_stderr)
{
	pid_t pid;
	int fd;

	pid = fork();
	if (pid == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		return -1;
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd == -1)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	enum { OPT_REDIS = 256, OPT_PIDFILE, OPT_LOGLEVEL, OPT_CHECK,
	    OPT_SAMPLE, OPT_REFERENCE, OPT_HTTP, OPT_MDOC };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "redis", required_argument, NULL, OPT_REDIS },
		{ "workers", required_argument, NULL, 'w' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
		{ "http", required_argument, NULL, OPT_HTTP },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "dump-sample", no_argument, NULL, OPT_SAMPLE },
		{ "dump-reference", no_argument, NULL, OPT_REFERENCE },
		/* hidden: for the build of jobd.conf(5) */
		{ "dump-mdoc", no_argument, NULL, OPT_MDOC },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct config *cfg;
	char err[512];
	int ch, rc, foreground = 0, check = 0;
	enum log_target target;

	atexit(free_overrides);
	while ((ch = getopt_long(argc, argv, "c:o:s:w:fhV", longopts, NULL)) != -1) {
		rc = 0;
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			rc = add_override(NULL, optarg);
			break;
		case 's':
			rc = add_override("socket", optarg);
			break;
		case OPT_REDIS:
			rc = add_override("redis", optarg);
			break;
		case 'w':
			rc = add_override("workers", optarg);
			break;
		case 'f':
			foreground = 1;
			break;
		case OPT_PIDFILE:
			rc = add_override("pidfile", optarg);
			break;
		case OPT_HTTP:
			rc = add_override("http.listen", optarg);
			break;
		case OPT_LOGLEVEL:
			rc = add_override("log_level", optarg);
			break;
		case OPT_CHECK:
			check = 1;
			break;
		case OPT_SAMPLE:
			config_write_sample(stdout);
			return 0;
		case OPT_REFERENCE:
			config_write_reference(stdout);
			return 0;
		case OPT_MDOC:
			config_write_mdoc(stdout);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("jobd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (rc == -1) {
			fprintf(stderr, "jobd: too many options\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "jobd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	cfg = load_config(err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "jobd: %s\n", err);
		return 1;
	}
	if (check) {   /* never starts the managed Redis */
		if (cfg->redis_managed)
			snprintf(err, sizeof(err), "managed (%s in %s)",
			    cfg->redis_server_exe, cfg->state_dir);
		else
			redis_url_redact(cfg->redis, err, sizeof(err));
		printf("jobd: configuration ok: socket %s, redis %s, %d workers, "
		    "%d job types\n", cfg->socket, err, cfg->workers,
		    cfg->ntypes);
		config_dump(cfg, stdout);
		config_free(cfg);
		return 0;
	}
	/* A detached jobd's stderr is /dev/null: "stderr" means syslog. */
	target = cfg->log_target;
	if (!foreground && target == LOG_TARGET_STDERR)
		target = LOG_TARGET_SYSLOG;
	if (log_open("jobd", cfg->log_level, target, cfg->log_file, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "jobd: %s\n", err);
		config_free(cfg);
		return 1;
	}
	log_set_format(cfg->log_format);
	log_set_role("master");
	/* One jobd per state_dir, refused before anything is touched, while
	 * stderr still reaches whoever started it. */
	if (cfg->redis_managed &&
	    redis_managed_lock(cfg->state_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "jobd: %s\n", err);
		if (target != LOG_TARGET_STDERR)
			log_warnx("%s", err);
		config_free(cfg);
		return 1;
	}
	if (!foreground && daemonise(target == LOG_TARGET_FILE) == -1) {
		fprintf(stderr, "jobd: cannot daemonise: %s\n", strerror(errno));
		config_free(cfg);
		return 1;
	}
	redis_managed_lock_pid();
	if (cfg->pidfile != NULL && cfg->pidfile[0] != '\0' &&
	    write_pidfile(cfg->pidfile) == -1) {
		config_free(cfg);
		return 1;
	}
	return master_run(cfg, load_config);
}
