/*
 * cmd_passwd.c: jobctl passwd USER [--role admin|viewer]: a line of the
 * monitoring server's users file ([http] users_file, docs/monitoring.md),
 * "user:hash:role", the password hashed with yescrypt.  Needs no daemon.
 */
#include <crypt.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "jobctl.h"

#define PASSWD_MAX   1024   /* bytes of a password */
#define USER_MAX     64     /* as the daemon's users file allows */
#define USER_CHARS   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
	"0123456789_.@-"

enum { OPT_ROLE = OPT_JSON + 1 };

/* read_line: one line from f into buf (no newline); 0, or -1 when there
 * is none, it is too long or holds a NUL. */
static int
read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(f))
		return -1;                  /* longer than the buffer */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

/* ask: prompt on the terminal, read without echo. */
static int
ask(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	int rc;

	/* echo off before the prompt: what is typed after it never shows */
	if (tcgetattr(STDIN_FILENO, &old) == -1)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == -1)
		return -1;
	fputs(prompt, stderr);
	fflush(stderr);
	rc = read_line(stdin, buf, len);
	tcsetattr(STDIN_FILENO, TCSANOW, &old);
	return rc;
}

/* get_password: from the terminal (twice, no echo), else one line of
 * standard input. */
static int
get_password(char *pw, size_t len)
{
	char again[PASSWD_MAX + 2];
	int same;

	if (!isatty(STDIN_FILENO)) {
		if (read_line(stdin, pw, len) == -1) {
			fprintf(stderr, "jobctl: passwd: expected the password "
			    "as one line of at most %d bytes on standard "
			    "input\n", PASSWD_MAX);
			return -1;
		}
		return 0;
	}
	if (ask("Password: ", pw, len) == -1 ||
	    ask("Password again: ", again, sizeof(again)) == -1) {
		fprintf(stderr, "jobctl: passwd: cannot read the password "
		    "(at most %d bytes)\n", PASSWD_MAX);
		return -1;
	}
	same = strcmp(pw, again) == 0;
	explicit_bzero(again, sizeof(again));
	if (!same) {
		fprintf(stderr, "jobctl: passwd: the passwords differ\n");
		return -1;
	}
	return 0;
}

int
cmd_passwd(struct jobctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "role", required_argument, NULL, OPT_ROLE },
		{ 0 }
	};
	char pw[PASSWD_MAX + 2], salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *role = "viewer", *user, *hash;
	struct crypt_data *cd;
	size_t n;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_ROLE) {
			role = optarg;
			continue;
		}
		if ((rc = verb_common_opt(ctl, c, argv[0])) != 0)
			return rc < 0 ? EXIT_USAGE :
			    rc == EXIT_DONE ? EXIT_OK : rc;
	}
	if (argc - optind != 1) {
		usage_error("passwd: expected a user name");
		return EXIT_USAGE;
	}
	user = argv[optind];
	n = strlen(user);
	if (n == 0 || n > USER_MAX || strspn(user, USER_CHARS) != n) {
		usage_error("passwd: bad user name '%s' (1 to %d of A-Z a-z 0-9 "
		    "_ . @ -)", user, USER_MAX);
		return EXIT_USAGE;
	}
	if (strcmp(role, "admin") != 0 && strcmp(role, "viewer") != 0) {
		usage_error("passwd: --role must be admin or viewer");
		return EXIT_USAGE;
	}
	if (get_password(pw, sizeof(pw)) == -1)
		return EXIT_ERR;
	if (pw[0] == '\0' || strlen(pw) > PASSWD_MAX) {
		fprintf(stderr, "jobctl: passwd: %s password\n", pw[0] == '\0' ?
		    "an empty" : "too long a");
		explicit_bzero(pw, sizeof(pw));
		return EXIT_ERR;
	}
	cd = calloc(1, sizeof(*cd));
	hash = NULL;
	/* yescrypt at libxcrypt's default cost; the salt from the kernel */
	if (cd != NULL && crypt_gensalt_rn("$y$", 0, NULL, 0, salt,
	    sizeof(salt)) != NULL)
		hash = crypt_r(pw, salt, cd);
	explicit_bzero(pw, sizeof(pw));
	if (hash == NULL || hash[0] == '*') {
		fprintf(stderr, "jobctl: passwd: cannot hash the password: %s\n",
		    cd == NULL ? "out of memory" : strerror(errno));
		free(cd);
		return EXIT_ERR;
	}
	printf("%s:%s:%s\n", user, hash, role);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERR;
}
