/*
 * Start-up cost of the CLI: client CPU and peak RSS of whole processes
 * (`remsess identify` against the test endpoint, and baselines), each run
 * many times, round-robin, so that the machine's load falls on every row
 * alike. The figures are the kernel's for the child: user + system CPU and
 * ru_maxrss from wait4(), exec, dynamic loading and exit included.
 *
 * This program links nothing but libc, on purpose: at exec the kernel folds
 * the RSS the child had until then (a copy of this process's) into its
 * ru_maxrss, so a launcher that had loaded libcurl itself would make every
 * child look at least that big.
 *
 *   startup [-n RUNS] [--remsess PATH] [--also PATH]... [--bare PATH]
 *           [--bare-min PATH] [--curl PATH|none]
 *           [--url URL --user USER --password PASSWORD]
 *
 * Without --url it starts the test endpoint (tests/endpoint/run, Basic
 * authentication) on a free loopback port and stops it at the end; a --url
 * must be plain http (the CLI is run with --allow-unencrypted). Each
 * --also PATH (up to 4) adds an identify row for another build of the CLI,
 * measured in the same rounds: a before/after in one run.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RMS_SOURCE_DIR
#error "RMS_SOURCE_DIR must be defined"
#endif
#ifndef RMS_BINARY_DIR
#error "RMS_BINARY_DIR must be defined"
#endif

#define MAX_RUNS 1000
#define MAX_ARGS 16

/* The rows, in the order they run in each round; then one identify row per
 * --also binary. */
enum { TRUE_, BARE_MIN, BARE, BARE_CURL, BARE_RAND, CURL, VERSION, IDENTIFY, NROWS };
#define MAX_ALSO 4

struct row {
	char name[64];
	const char *argv[MAX_ARGS];
	long cpu_us[MAX_RUNS], rss_kb[MAX_RUNS];
};

static long tv_us(struct timeval tv)
{
	return tv.tv_sec * 1000000L + tv.tv_usec;
}

/* One run of r's program, stdout to /dev/null; its status (0 on success). */
static int run_once(struct row *r, int i)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		union {
			const char *const *c;
			char *const *m;
		} u = {.c = r->argv};
		execvp(r->argv[0], u.m);
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			return -1;
	r->cpu_us[i] = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
	r->rss_kb[i] = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static long median(long *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_long);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The endpoint on a free port: its pid, URL in url. */
static pid_t start_endpoint(char *url, size_t size, const char *user, const char *password)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(RMS_SOURCE_DIR "/tests/endpoint/run", "run", "--port", "0", "--auth", "basic",
		      "--user", user, "--password", password, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[256] = "";
	if (!f || !fgets(line, sizeof line, f) || sscanf(line, "listening %200s", url) != 1 ||
	    strlen(url) >= size) {
		fprintf(stderr, "startup: the test endpoint did not start: %s\n", line);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	return pid;
}

/* Host and port out of http://HOST:PORT/... */
static int split_url(const char *url, char *host, size_t hsize, char *port, size_t psize)
{
	const char *h = strstr(url, "://");
	if (!h)
		return -1;
	h += 3;
	const char *c = strchr(h, ':');
	const char *s = strchr(h, '/');
	if (!c || (s && s < c) || (size_t)(c - h) >= hsize)
		return -1;
	memcpy(host, h, (size_t)(c - h));
	host[c - h] = '\0';
	size_t pl = s ? (size_t)(s - c - 1) : strlen(c + 1);
	if (pl == 0 || pl >= psize)
		return -1;
	memcpy(port, c + 1, pl);
	port[pl] = '\0';
	return 0;
}

static const char identify_body[] =
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:wsmid=\"http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd\">"
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>";

/* The first three fields of /proc/loadavg. */
static void load_average(char *out, size_t size)
{
	out[0] = '\0';
	FILE *f = fopen("/proc/loadavg", "r");
	if (!f)
		return;
	double a, b, c;
	if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(out, size, "%.2f %.2f %.2f", a, b, c);
	fclose(f);
}

int main(int argc, char **argv)
{
	int runs = 30;
	const char *remsess = RMS_BINARY_DIR "/remsess";
	const char *bare = RMS_BINARY_DIR "/bench/startup_bare";
	const char *bare_min = RMS_BINARY_DIR "/bench/startup_bare_min";
	const char *curl = "curl";
	const char *url = NULL, *user = "bench", *password = "b3nch";
	const char *also[MAX_ALSO];
	int nalso = 0;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			goto usage;
		if (strcmp(argv[i], "-n") == 0)
			runs = atoi(v);
		else if (strcmp(argv[i], "--remsess") == 0)
			remsess = v;
		else if (strcmp(argv[i], "--also") == 0 && nalso < MAX_ALSO)
			also[nalso++] = v;
		else if (strcmp(argv[i], "--bare") == 0)
			bare = v;
		else if (strcmp(argv[i], "--bare-min") == 0)
			bare_min = v;
		else if (strcmp(argv[i], "--curl") == 0)
			curl = strcmp(v, "none") == 0 ? NULL : v;
		else if (strcmp(argv[i], "--url") == 0)
			url = v;
		else if (strcmp(argv[i], "--user") == 0)
			user = v;
		else if (strcmp(argv[i], "--password") == 0)
			password = v;
		else
			goto usage;
		i++;
	}
	if (runs < 1 || runs > MAX_RUNS)
		goto usage;

	char own_url[256];
	pid_t ep = 0;
	if (!url) {
		if ((ep = start_endpoint(own_url, sizeof own_url, user, password)) < 0)
			return 1;
		url = own_url;
	}
	char host[128], port[16], userpass[256];
	if (split_url(url, host, sizeof host, port, sizeof port) != 0) {
		fprintf(stderr, "startup: %s is not http://HOST:PORT/...\n", url);
		goto fail;
	}
	snprintf(userpass, sizeof userpass, "%s:%s", user, password);
	/* The CLI reads the password from there, as a script would give it. */
	setenv("REMSESS_PASSWORD", password, 1);

	static struct row rows[NROWS + MAX_ALSO] = {
	    [TRUE_] = {.name = "exec only (/bin/true)", .argv = {"true"}},
	    [BARE_MIN] = {.name = "bare: libxml2 + libcrypto only"},
	    [BARE] = {.name = "bare: the same libraries loaded"},
	    [BARE_CURL] = {.name = "bare + curl_global_init"},
	    [BARE_RAND] = {.name = "bare + curl_global_init + RAND_bytes"},
	    [CURL] = {.name = "curl: the same Identify POST"},
	    [VERSION] = {.name = "remsess --version"},
	    [IDENTIFY] = {.name = "remsess identify"},
	};
	const int nrows = NROWS + nalso;
	rows[BARE_MIN].argv[0] = bare_min;
	rows[BARE].argv[0] = bare;
	rows[BARE_CURL].argv[0] = bare;
	rows[BARE_CURL].argv[1] = "curl";
	rows[BARE_RAND].argv[0] = bare;
	rows[BARE_RAND].argv[1] = "curl";
	rows[BARE_RAND].argv[2] = "rand";
	const char *curl_argv[] = {curl,
	                           "-sf",
	                           "-o",
	                           "/dev/null",
	                           "--noproxy",
	                           "*",
	                           "-u",
	                           userpass,
	                           "-H",
	                           "Content-Type: application/soap+xml;charset=UTF-8",
	                           "--data-binary",
	                           identify_body,
	                           url,
	                           NULL};
	memcpy(rows[CURL].argv, curl_argv, sizeof curl_argv);
	rows[VERSION].argv[0] = remsess;
	rows[VERSION].argv[1] = "--version";
	for (int r = IDENTIFY; r < nrows; r++) {
		const char *bin = r == IDENTIFY ? remsess : also[r - NROWS];
		const char *id_argv[] = {
		    bin, "identify", "-H", host, "--port", port, "-u", user, "--allow-unencrypted",
		    NULL};
		memcpy(rows[r].argv, id_argv, sizeof id_argv);
		if (r > IDENTIFY)
			snprintf(rows[r].name, sizeof rows[r].name, "identify: %.50s", bin);
	}

	char load0[64], load1[64];
	load_average(load0, sizeof load0);
	/* One warm-up round (page cache, the endpoint's first connection), then
	 * the runs, every row once per round. */
	for (int i = -1; i < runs; i++) {
		for (int r = 0; r < nrows; r++) {
			if (r == CURL && !curl)
				continue;
			int st = run_once(&rows[r], i < 0 ? 0 : i);
			if (st != 0) {
				fprintf(stderr, "startup: %s failed (status %d)\n", rows[r].name,
				        st);
				goto fail;
			}
		}
	}
	load_average(load1, sizeof load1);

	printf("%d runs of each, round-robin; medians; load average before: %s, after: %s\n", runs,
	       load0, load1);
	printf("%-52s %9s %9s %10s\n", "process", "CPU us", "min CPU", "peak RSS");
	long cpu[NROWS + MAX_ALSO], rss[NROWS + MAX_ALSO];
	for (int r = 0; r < nrows; r++) {
		if (r == CURL && !curl) {
			cpu[r] = rss[r] = 0;
			continue;
		}
		struct row *w = &rows[r];
		cpu[r] = median(w->cpu_us, runs);
		rss[r] = median(w->rss_kb, runs);
		printf("%-52s %9ld %9ld %7ld KB\n", w->name, cpu[r], w->cpu_us[0] /* sorted */,
		       rss[r]);
	}
	printf("identify beyond loading the libraries (identify - bare): %ld us CPU, %ld KB\n",
	       cpu[IDENTIFY] - cpu[BARE], rss[IDENTIFY] - rss[BARE]);
	if (curl)
		printf("identify / curl: %.2f CPU, %.2f peak RSS\n",
		       (double)cpu[IDENTIFY] / (double)cpu[CURL],
		       (double)rss[IDENTIFY] / (double)rss[CURL]);
	printf("goal (issue 20): identify under 2000 us CPU and 6144 KB: %s, %s\n",
	       cpu[IDENTIFY] < 2000 ? "met" : "not met", rss[IDENTIFY] < 6144 ? "met" : "not met");
	printf("{\"bench\": \"startup\", \"runs\": %d, \"identify_cpu_us\": %ld, "
	       "\"identify_rss_kb\": %ld, \"bare_cpu_us\": %ld, \"bare_rss_kb\": %ld, "
	       "\"curl_cpu_us\": %ld, \"curl_rss_kb\": %ld, \"version_cpu_us\": %ld, "
	       "\"version_rss_kb\": %ld}\n",
	       runs, cpu[IDENTIFY], rss[IDENTIFY], cpu[BARE], rss[BARE], cpu[CURL], rss[CURL],
	       cpu[VERSION], rss[VERSION]);
	if (ep > 0) {
		kill(ep, SIGTERM);
		waitpid(ep, NULL, 0);
	}
	return 0;

fail:
	if (ep > 0) {
		kill(ep, SIGTERM);
		waitpid(ep, NULL, 0);
	}
	return 1;
usage:
	fprintf(stderr, "usage: startup [-n RUNS] [--remsess PATH] [--also PATH]... [--bare PATH]\n"
	                "               [--bare-min PATH] [--curl PATH|none]\n"
	                "               [--url URL --user USER --password PASSWORD]\n");
	return 2;
}
