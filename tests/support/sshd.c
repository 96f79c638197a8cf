#define _GNU_SOURCE /* unshare, CLONE_NEWNS, nftw */
#include "sshd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#ifndef RMS_TEST_BUILD_DIR
#error "RMS_TEST_BUILD_DIR must be defined"
#endif

#define SSHD "/usr/sbin/sshd"

static void path_in(const rms_sshd *d, const char *name, char *out, size_t size)
{
	if (snprintf(out, size, "%s/%s", d->dir, name) >= (int)size)
		fprintf(stderr, "sshd support: path too long: %s/%s\n", d->dir, name);
}

void rms_sshd_path(const rms_sshd *d, const char *name, char *out, size_t size)
{
	path_in(d, name, out, size);
}

/* Run argv quietly; 0 when it exits 0. */
static int run(const char *const *argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		union {
			const char *const *c;
			char *const *m;
		} u = {.c = argv};
		execvp(argv[0], u.m);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int keygen(const char *path, const char *comment)
{
	unlink(path);
	const char *argv[] = {"ssh-keygen", "-q",    "-t", "ed25519", "-N", "",
	                      "-C",         comment, "-f", path,      NULL};
	if (run(argv) != 0) {
		fprintf(stderr, "sshd support: ssh-keygen %s failed\n", path);
		return -1;
	}
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

static int write_file(const char *path, mode_t mode, const char *fmt, ...)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	return fclose(f) == 0 ? 0 : -1;
}

/* "[127.0.0.1]:PORT <type> <key>" from a .pub file. */
static int write_known_hosts(const char *path, unsigned port, const char *pubfile)
{
	char *pub = slurp(pubfile);
	if (!pub)
		return -1;
	int rc = write_file(path, 0600, "[127.0.0.1]:%u %s", port, pub);
	free(pub);
	return rc;
}

static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	unsigned port = 0;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* A password for this run: 24 letters and digits from /dev/urandom. */
static int random_password(char *out, size_t size)
{
	static const char set[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char raw[24];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || size < sizeof raw + 1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ssize_t n = read(fd, raw, sizeof raw);
	close(fd);
	if (n != (ssize_t)sizeof raw)
		return -1;
	for (size_t i = 0; i < sizeof raw; i++)
		out[i] = set[raw[i] % (sizeof set - 1)];
	out[sizeof raw] = '\0';
	return 0;
}

/* A copy of /etc/shadow where the user's password is d->password. */
static int write_shadow(const rms_sshd *d, const char *path)
{
	char cmd[256];
	/* The password is letters and digits only: safe in the quotes. */
	snprintf(cmd, sizeof cmd, "openssl passwd -6 '%s'", d->password);
	FILE *p = popen(cmd, "r");
	char hash[256] = "";
	if (!p)
		return -1;
	if (!fgets(hash, sizeof hash, p))
		hash[0] = '\0';
	if (pclose(p) != 0 || !hash[0])
		return -1;
	hash[strcspn(hash, "\n")] = '\0';
	char *shadow = slurp("/etc/shadow");
	if (!shadow)
		return -1;
	FILE *f = fopen(path, "w");
	if (!f) {
		free(shadow);
		return -1;
	}
	size_t ulen = strlen(d->user);
	bool found = false;
	for (char *line = shadow; *line;) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		if (n > ulen && strncmp(line, d->user, ulen) == 0 && line[ulen] == ':') {
			const char *rest = memchr(line + ulen + 1, ':', n - ulen - 1);
			fprintf(f, "%s:%s%.*s\n", d->user, hash,
			        rest ? (int)(n - (size_t)(rest - line)) : 0, rest ? rest : "");
			found = true;
		} else {
			fprintf(f, "%.*s\n", (int)n, line);
		}
		line += n + (nl != NULL);
	}
	if (!found)
		fprintf(f, "%s:%s:19000:0:99999:7:::\n", d->user, hash);
	free(shadow);
	fchmod(fileno(f), 0600);
	return fclose(f) == 0 ? 0 : -1;
}

/* A copy of /etc/passwd where the user's login shell is /bin/sh, so that
 * the user's own shell start-up files (a slow or chatty ~/.bashrc, which
 * bash reads for commands from sshd) play no part in the tests. */
static int write_passwd(const rms_sshd *d, const char *path)
{
	char *passwd = slurp("/etc/passwd");
	if (!passwd)
		return -1;
	FILE *f = fopen(path, "w");
	if (!f) {
		free(passwd);
		return -1;
	}
	size_t ulen = strlen(d->user);
	for (char *line = passwd; *line;) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *shell = NULL;
		if (n > ulen && strncmp(line, d->user, ulen) == 0 && line[ulen] == ':') {
			for (size_t i = n; i > 0; i--)
				if (line[i - 1] == ':') {
					shell = line + i;
					break;
				}
		}
		if (shell)
			fprintf(f, "%.*s/bin/sh\n", (int)(shell - line), line);
		else
			fprintf(f, "%.*s\n", (int)n, line);
		line += n + (nl != NULL);
	}
	free(passwd);
	return fclose(f) == 0 ? 0 : -1;
}

static int write_config(const rms_sshd *d, const char *path, bool pam, const char *extra)
{
	char host_key[RMS_SSHD_PATH_MAX + 16], auth_keys[RMS_SSHD_PATH_MAX + 16];
	path_in(d, "host_ed25519", host_key, sizeof host_key);
	path_in(d, "authorized_keys", auth_keys, sizeof auth_keys);
	/* sshd takes the first value it reads for a keyword: the test's own
	 * lines come first. */
	return write_file(path, 0644,
	                  "%s\n"
	                  "ListenAddress 127.0.0.1:%u\n"
	                  "HostKey %s\n"
	                  "PidFile none\n"
	                  "AuthorizedKeysFile %s\n"
	                  "StrictModes no\n"
	                  "UsePAM %s\n"
	                  "AllowUsers %s\n"
	                  "PermitRootLogin yes\n"
	                  "PubkeyAuthentication yes\n"
	                  "PasswordAuthentication yes\n"
	                  "KbdInteractiveAuthentication yes\n"
	                  "PermitEmptyPasswords no\n"
	                  "LogLevel VERBOSE\n"
	                  "UseDNS no\n"
	                  "PrintMotd no\n"
	                  "PrintLastLog no\n"
	                  "X11Forwarding no\n"
	                  "AllowTcpForwarding no\n"
	                  "MaxAuthTries 10\n"
	                  "MaxSessions 64\n"
	                  "MaxStartups 64:30:128\n"
	                  "LoginGraceTime 60\n",
	                  extra ? extra : "", d->port, host_key, auth_keys, pam ? "yes" : "no",
	                  d->user);
}

/* In the child: a private mount namespace with the test's passwd, shadow
 * and PAM files over the real ones. Nothing outside this process tree sees
 * them. */
static bool private_account_files(const char *passwd, const char *shadow, const char *pam)
{
	if (unshare(CLONE_NEWNS) != 0)
		return false;
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
		return false;
	if (mount(shadow, "/etc/shadow", "none", MS_BIND, NULL) != 0)
		return false;
	if (mount(passwd, "/etc/passwd", "none", MS_BIND, NULL) != 0)
		return false;
	if (access("/etc/pam.d/sshd", F_OK) != 0 ||
	    mount(pam, "/etc/pam.d/sshd", "none", MS_BIND, NULL) != 0)
		return false;
	return true;
}

static bool log_has(const rms_sshd *d, const char *needle)
{
	return rms_sshd_log_count(d, needle) > 0;
}

static int start_once(rms_sshd *d, const char *extra)
{
	char cfg_pam[RMS_SSHD_PATH_MAX + 16], cfg_plain[RMS_SSHD_PATH_MAX + 16];
	char shadow[RMS_SSHD_PATH_MAX + 16], pam[RMS_SSHD_PATH_MAX + 16];
	char kh[RMS_SSHD_PATH_MAX + 16], hostpub[RMS_SSHD_PATH_MAX + 16];
	char passwd[RMS_SSHD_PATH_MAX + 16];
	path_in(d, "passwd", passwd, sizeof passwd);
	path_in(d, "sshd_config.pam", cfg_pam, sizeof cfg_pam);
	path_in(d, "sshd_config", cfg_plain, sizeof cfg_plain);
	path_in(d, "shadow", shadow, sizeof shadow);
	path_in(d, "pam-sshd", pam, sizeof pam);
	path_in(d, "host_ed25519.pub", hostpub, sizeof hostpub);
	snprintf(kh, sizeof kh, "%s", d->known_hosts);
	if (!(d->port = free_port()))
		return -1;
	if (write_config(d, cfg_pam, true, extra) || write_config(d, cfg_plain, false, extra) ||
	    write_known_hosts(kh, d->port, hostpub))
		return -1;
	unlink(d->log);
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		bool ns = access(shadow, R_OK) == 0 && access(passwd, R_OK) == 0 &&
		          private_account_files(passwd, shadow, pam);
		if (write(fds[1], ns ? "P" : "p", 1) != 1)
			_exit(126);
		close(fds[1]);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execl(SSHD, SSHD, "-D", "-f", ns ? cfg_pam : cfg_plain, "-E", d->log, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char mode = 'p';
	if (read(fds[0], &mode, 1) != 1)
		mode = 'p';
	close(fds[0]);
	d->pid = pid;
	d->password_ok = mode == 'P';
	char ready[64];
	snprintf(ready, sizeof ready, "Server listening on 127.0.0.1 port %u", d->port);
	for (int i = 0; i < 200; i++) {
		if (log_has(d, ready))
			return 0;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			d->pid = 0;
			return log_has(d, "Bind to port") ? 1 : -1; /* 1: port taken, retry */
		}
		nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	}
	return -1;
}

int rms_sshd_start(rms_sshd *d, const char *extra_config)
{
	memset(d, 0, sizeof *d);
	if (access(SSHD, X_OK) != 0) {
		fprintf(stderr,
		        "sshd support: %s is missing (install openssh-server: "
		        "scripts/deps.sh)\n",
		        SSHD);
		return -1;
	}
	struct passwd *pw = getpwuid(geteuid());
	if (!pw) {
		fprintf(stderr, "sshd support: no passwd entry for uid %u\n", (unsigned)geteuid());
		return -1;
	}
	snprintf(d->user, sizeof d->user, "%s", pw->pw_name);
	if (random_password(d->password, sizeof d->password)) {
		fprintf(stderr, "sshd support: could not read /dev/urandom\n");
		return -1;
	}
	snprintf(d->dir, sizeof d->dir, "%s/sshd.XXXXXX", RMS_TEST_BUILD_DIR);
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "sshd support: mkdtemp %s: %s\n", d->dir, strerror(errno));
		return -1;
	}
	/* sshd's privilege separation directory, compiled in; Debian's package
	 * makes it at boot (tmpfiles), a container may not have it. */
	if (access("/run/sshd", F_OK) != 0)
		mkdir("/run/sshd", 0755);
	char host_key[RMS_SSHD_PATH_MAX + 16], userpub[RMS_SSHD_PATH_MAX + 16];
	char auth[RMS_SSHD_PATH_MAX + 16], shadow[RMS_SSHD_PATH_MAX + 16];
	char pam[RMS_SSHD_PATH_MAX + 16];
	path_in(d, "host_ed25519", host_key, sizeof host_key);
	path_in(d, "id_ed25519", d->user_key, sizeof d->user_key);
	path_in(d, "id_other", d->other_key, sizeof d->other_key);
	path_in(d, "known_hosts", d->known_hosts, sizeof d->known_hosts);
	path_in(d, "sshd.log", d->log, sizeof d->log);
	path_in(d, "id_ed25519.pub", userpub, sizeof userpub);
	path_in(d, "authorized_keys", auth, sizeof auth);
	path_in(d, "shadow", shadow, sizeof shadow);
	path_in(d, "pam-sshd", pam, sizeof pam);
	if (keygen(host_key, "remsess-test-host") || keygen(d->user_key, "remsess-test-user") ||
	    keygen(d->other_key, "remsess-test-other"))
		goto fail;
	char *pub = slurp(userpub);
	if (!pub || write_file(auth, 0600, "%s", pub)) {
		free(pub);
		goto fail;
	}
	free(pub);
	/* Without a shadow copy (not readable: not root) password logins
	 * cannot be tested; everything else can. */
	char passwd[RMS_SSHD_PATH_MAX + 16];
	path_in(d, "passwd", passwd, sizeof passwd);
	if (geteuid() == 0 && (write_shadow(d, shadow) != 0 || write_passwd(d, passwd) != 0))
		unlink(shadow);
	if (write_file(pam, 0644,
	               "auth required pam_unix.so nodelay\n"
	               "account required pam_permit.so\n"
	               "session required pam_permit.so\n"
	               "password required pam_deny.so\n"))
		goto fail;
	for (int attempt = 0; attempt < 5; attempt++) {
		int rc = start_once(d, extra_config);
		if (rc == 0)
			return 0;
		if (rc < 0)
			break;
	}
	{
		char *log = slurp(d->log);
		fprintf(stderr, "sshd support: sshd did not start; its log:\n%s\n", log ? log : "");
		free(log);
	}
fail:
	rms_sshd_stop(d);
	return -1;
}

/* The listener and all its descendants, read from /proc. */
static size_t descendants(pid_t root, pid_t *out, size_t max)
{
	size_t n = 0;
	if (root <= 0)
		return 0;
	out[n++] = root;
	pid_t pids[4096], ppids[4096];
	size_t np = 0;
	DIR *dir = opendir("/proc");
	struct dirent *e;
	while (dir && (e = readdir(dir)) && np < 4096) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		char *rp = strrchr(buf, ')');
		long ppid;
		char state;
		if (!rp || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2)
			continue;
		pids[np] = (pid_t)pid;
		ppids[np++] = (pid_t)ppid;
	}
	if (dir)
		closedir(dir);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < np && n < max; j++)
			if (ppids[j] == out[i])
				out[n++] = pids[j];
	return n;
}

void rms_sshd_kill(rms_sshd *d)
{
	if (d->pid <= 0)
		return;
	pid_t tree[512];
	size_t n = descendants(d->pid, tree, 512);
	/* Deepest first, each given a moment to be reaped by its parent: a
	 * process orphaned before it dies is left to init, which in a
	 * container may never reap it. */
	for (size_t i = n; i-- > 0;) {
		kill(tree[i], SIGKILL);
		if (i > 0)
			nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
	}
	while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
		;
	d->pid = 0;
}

int rms_sshd_signal_sessions(const rms_sshd *d, int sig)
{
	pid_t tree[512];
	size_t n = descendants(d->pid, tree, 512);
	for (size_t i = 1; i < n; i++)
		kill(tree[i], sig);
	return n ? (int)n - 1 : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void rms_sshd_stop(rms_sshd *d)
{
	rms_sshd_kill(d);
	/* RMS_TEST_KEEP_SSHD keeps the directory (config, keys, log) for a
	 * person to look at. */
	if (d->dir[0] && !strstr(d->dir, "XXXXXX") && !getenv("RMS_TEST_KEEP_SSHD"))
		nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	d->dir[0] = '\0';
}

int rms_sshd_log_count(const rms_sshd *d, const char *needle)
{
	FILE *f = fopen(d->log, "r");
	if (!f)
		return 0;
	char line[2048];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

int rms_sshd_write_wrong_known_hosts(const rms_sshd *d, const char *path)
{
	char key[RMS_SSHD_PATH_MAX + 16], pub[RMS_SSHD_PATH_MAX + 16];
	path_in(d, "impostor_ed25519", key, sizeof key);
	path_in(d, "impostor_ed25519.pub", pub, sizeof pub);
	if (access(pub, R_OK) != 0 && keygen(key, "remsess-test-impostor"))
		return -1;
	return write_known_hosts(path, d->port, pub);
}

rms_session_options rms_sshd_session_options(const rms_sshd *d)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.host = "127.0.0.1";
	o.port = d->port;
	o.transport = RMS_TRANSPORT_SSH;
	o.user = d->user;
	o.ssh.identity_file = d->user_key;
	o.ssh.known_hosts = d->known_hosts;
	return o;
}
