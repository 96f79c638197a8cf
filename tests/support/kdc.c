#define _GNU_SOURCE /* nftw */
#include "kdc.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RMS_SOURCE_DIR
#error "RMS_SOURCE_DIR must be defined"
#endif

#define KDC_SCRIPT RMS_SOURCE_DIR "/tests/endpoint/kdc"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void kill_wait(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* "KEY=value\n" -> copy value into out when the key matches. */
static int take(const char *line, const char *key, char *out, size_t size)
{
	size_t n = strlen(key);
	if (strncmp(line, key, n) != 0 || line[n] != '=')
		return 0;
	const char *v = line + n + 1;
	size_t len = strcspn(v, "\r\n");
	if (len >= size)
		return -1;
	memcpy(out, v, len);
	out[len] = '\0';
	return 1;
}

int rms_kdc_start(rms_kdc *k)
{
	static unsigned counter;
	memset(k, 0, sizeof *k);
	char cwd[256];
	if (!getcwd(cwd, sizeof cwd)) {
		perror("kdc support: getcwd");
		return -1;
	}
	/* A name nobody else uses; the script creates the directory. */
	for (;;) {
		snprintf(k->dir, sizeof k->dir, "%s/kdc-%ld-%u", cwd, (long)getpid(), counter++);
		struct stat st;
		if (stat(k->dir, &st) != 0)
			break;
	}
	int fds[2];
	if (pipe(fds) != 0) {
		perror("kdc support: pipe");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("kdc support: fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* A test that dies mid-way takes the KDC with it (the script in
		 * turn takes krb5kdc with it). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(KDC_SCRIPT, KDC_SCRIPT, "--dir", k->dir, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	if (!f) {
		close(fds[0]);
		kill_wait(pid);
		return -1;
	}
	char line[1024];
	int ready = 0, bad = 0;
	char kdc_addr[64] = "";
	while (fgets(line, sizeof line, f)) {
		if (strcmp(line, "ready\n") == 0) {
			ready = 1;
			break;
		}
		int r = 0;
		r |= take(line, "KRB5_CONFIG", k->krb5_config, sizeof k->krb5_config);
		r |= take(line, "KRB5_KTNAME", k->keytab, sizeof k->keytab);
		r |= take(line, "NTLM_USER_FILE", k->ntlm_user_file, sizeof k->ntlm_user_file);
		r |= take(line, "REALM", k->realm, sizeof k->realm);
		r |= take(line, "KDC", kdc_addr, sizeof kdc_addr);
		if (r < 0)
			bad = 1;
	}
	/* The script writes nothing after "ready". */
	fclose(f);
	if (!ready || bad || !k->krb5_config[0] || !k->keytab[0] || !k->ntlm_user_file[0]) {
		fprintf(stderr, "kdc support: %s did not start (see its messages above)\n", KDC_SCRIPT);
		kill_wait(pid);
		remove_tree(k->dir);
		k->dir[0] = '\0';
		return -1;
	}
	k->pid = pid;
	if (setenv("KRB5_CONFIG", k->krb5_config, 1) != 0 ||
	    setenv("KRB5CCNAME", "MEMORY:remsess-test", 1) != 0) {
		perror("kdc support: setenv");
		rms_kdc_stop(k);
		return -1;
	}
	return 0;
}

void rms_kdc_stop(rms_kdc *k)
{
	kill_wait(k->pid);
	k->pid = 0;
	remove_tree(k->dir);
	k->dir[0] = '\0';
}

const char *const *rms_kdc_endpoint_args(rms_kdc *k)
{
	size_t n = 0;
	k->endpoint_args[n++] = "--auth";
	k->endpoint_args[n++] = "negotiate";
	k->endpoint_args[n++] = "--keytab";
	k->endpoint_args[n++] = k->keytab;
	k->endpoint_args[n++] = "--ntlm-user-file";
	k->endpoint_args[n++] = k->ntlm_user_file;
	k->endpoint_args[n] = NULL;
	return k->endpoint_args;
}
