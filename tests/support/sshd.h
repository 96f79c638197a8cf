/*
 * A real OpenSSH server for the SSH tests: Debian's /usr/sbin/sshd started
 * on 127.0.0.1 and a free port, with its own sshd_config, host key, user
 * keys, authorized_keys and known_hosts, all made under a fresh directory in
 * the build tree. The machine's own sshd, /etc/ssh and ~/.ssh are not used.
 *
 * The tests log in as the user running them (root in CI). Password and
 * keyboard-interactive logins need a password that sshd can check: when the
 * process may create a private mount namespace (root), sshd runs in one
 * where a copy of /etc/shadow with a password for that user made at random
 * for this run (password), and a minimal PAM stack for sshd, are mounted
 * over the real files, with a copy
 * of /etc/passwd giving that user /bin/sh as login shell (so that the
 * user's ~/.bashrc, which bash reads for commands from sshd, plays no part);
 * the machine's files are never changed. Where that is not possible,
 * password_ok is false and those tests say they are skipped.
 *
 * sshd_config admits only that user (AllowUsers).
 *
 * sshd logs at VERBOSE to a file, so a test can count connections. It dies
 * with the test process (PR_SET_PDEATHSIG), and rms_sshd_stop() kills it
 * with everything it started.
 */
#ifndef RMS_TEST_SSHD_H
#define RMS_TEST_SSHD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "remsess/options.h"

#define RMS_SSHD_PATH_MAX 512

typedef struct rms_sshd {
	pid_t pid;
	unsigned port;
	char user[64];
	char password[33]; /* the user's password for this sshd: random, per start */
	bool password_ok;  /* password / keyboard-interactive logins can succeed */
	char dir[RMS_SSHD_PATH_MAX];
	char user_key[RMS_SSHD_PATH_MAX];    /* private key, authorized */
	char other_key[RMS_SSHD_PATH_MAX];   /* private key, not authorized */
	char known_hosts[RMS_SSHD_PATH_MAX]; /* the host key, as [127.0.0.1]:PORT */
	char log[RMS_SSHD_PATH_MAX];
} rms_sshd;

/* extra_config: sshd_config lines appended (may be NULL). Returns 0, or -1
 * with the reason on stderr. */
int rms_sshd_start(rms_sshd *d, const char *extra_config);
/* Kill sshd and every process it started; remove its directory. */
void rms_sshd_stop(rms_sshd *d);
/* Session options for d: SSH to 127.0.0.1 on its port as its user, with its
 * user key and known_hosts. The strings live as long as d. */
rms_session_options rms_sshd_session_options(const rms_sshd *d);
/* Kill sshd and all its descendants (the connections' sshd processes and
 * the commands) with SIGKILL, as a crash would; the directory stays. */
void rms_sshd_kill(rms_sshd *d);

/* Send sig to every process sshd started (its connections' processes and
 * their commands), not to the listener. Returns how many. */
int rms_sshd_signal_sessions(const rms_sshd *d, int sig);

/* Lines of the sshd log containing needle (e.g. "Connection from "). */
int rms_sshd_log_count(const rms_sshd *d, const char *needle);

/* Write a known_hosts file at path naming this server with a key that is
 * not its own (a freshly made one): the server's key "changed". */
int rms_sshd_write_wrong_known_hosts(const rms_sshd *d, const char *path);

/* A path inside the server's directory (for files a test makes). */
void rms_sshd_path(const rms_sshd *d, const char *name, char *out, size_t size);

#endif
