#include "endpoint.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#ifndef RMS_SOURCE_DIR
#error "RMS_SOURCE_DIR must be defined"
#endif

/* Start the endpoint; with rest, the rest of its stdout stays open there
 * (the caller reads and closes it). */
static int start(rms_endpoint_proc *ep, const char *const *argv, FILE **rest)
{
	memset(ep, 0, sizeof *ep);
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	const char *args[40];
	size_t n = 0;
	args[n++] = RMS_SOURCE_DIR "/tests/endpoint/run";
	args[n++] = "--port";
	args[n++] = "0";
	for (size_t i = 0; argv && argv[i] && n < 39; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* A test that fails mid-way never reaches rms_endpoint_stop: the
		 * endpoint goes with the test instead of holding ctest's pipe. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		union {
			const char *const *c;
			char *const *m;
		} u = { .c = args };
		execv(args[0], u.m);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[256] = "";
	if (!f || !fgets(line, sizeof line, f)) {
		fprintf(stderr, "test endpoint did not start (%s)\n", args[0]);
		if (f)
			fclose(f);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	/* The endpoint writes its banner in one write and nothing after it;
	 * closing our end is fine. */
	if (rest)
		*rest = f;
	else
		fclose(f);
	/* "listening http://127.0.0.1:PORT/wsman", or https with --tls. */
	const char *p = strstr(line, "://127.0.0.1:");
	bool tls = p && p - line >= 5 && strncmp(p - 5, "https", 5) == 0;
	if (!p || sscanf(p, "://127.0.0.1:%u/", &ep->port) != 1) {
		fprintf(stderr, "unexpected first line from the endpoint: %s", line);
		if (rest) {
			fclose(f);
			*rest = NULL;
		}
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	ep->pid = pid;
	snprintf(ep->url, sizeof ep->url, "%s://127.0.0.1:%u/wsman", tls ? "https" : "http",
	         ep->port);
	return 0;
}

int rms_endpoint_start(rms_endpoint_proc *ep, const char *const *argv)
{
	return start(ep, argv, NULL);
}

void rms_endpoint_stop(rms_endpoint_proc *ep)
{
	if (ep->pid > 0) {
		kill(ep->pid, SIGTERM);
		while (waitpid(ep->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	ep->pid = 0;
}

struct sink {
	char *data;
	size_t len;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	char *d = realloc(s->data, s->len + n + 1);
	if (!d)
		return 0;
	memcpy(d + s->len, ptr, n);
	s->len += n;
	d[s->len] = '\0';
	s->data = d;
	return n;
}

static int request(const rms_endpoint_proc *ep, const char *path, bool post, struct sink *out)
{
	char url[160];
	bool tls = strncmp(ep->url, "https:", 6) == 0;
	snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", tls ? "https" : "http", ep->port, path);
	CURL *c = curl_easy_init();
	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (tls) { /* the endpoint's own self-signed certificate, on loopback */
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return rc == CURLE_OK && status == 200 ? 0 : -1;
}

int64_t rms_endpoint_stat(const rms_endpoint_proc *ep, const char *path)
{
	struct sink s = { 0 };
	if (request(ep, "/stats", false, &s) != 0) {
		free(s.data);
		return -1;
	}
	json_t *root = json_loads(s.data, 0, NULL);
	free(s.data);
	json_t *j = root;
	char key[128];
	for (const char *p = path; j && *p;) {
		size_t n = strcspn(p, ".");
		snprintf(key, sizeof key, "%.*s", (int)n, p);
		j = json_is_array(j) ? json_array_get(j, strtoul(key, NULL, 10))
		                     : json_object_get(j, key);
		p += n + (p[n] == '.');
	}
	int64_t v = j && json_is_integer(j) ? (int64_t)json_integer_value(j) : (j ? -1 : 0);
	/* A missing counter in a by-name table (requests_by_action.Release)
	 * means none happened. */
	if (!j && strchr(path, '.'))
		v = 0;
	else if (!j)
		v = -1;
	json_decref(root);
	return v;
}

int rms_endpoint_reset(const rms_endpoint_proc *ep)
{
	struct sink s = { 0 };
	int rc = request(ep, "/stats/reset", true, &s);
	free(s.data);
	return rc;
}

rms_endpoint_proc *rms_endpoint_spawn(const char *const *extra)
{
	const char *args[32] = { "--auth",     "basic", "--user", RMS_ENDPOINT_USER,
		                 "--password", RMS_ENDPOINT_PASSWORD };
	size_t n = 6;
	for (size_t i = 0; extra && extra[i] && n < 31; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	rms_endpoint_proc *ep = calloc(1, sizeof *ep);
	if (!ep || rms_endpoint_start(ep, args) != 0) {
		free(ep);
		return NULL;
	}
	return ep;
}

void rms_endpoint_kill(rms_endpoint_proc *ep)
{
	if (!ep)
		return;
	rms_endpoint_stop(ep);
	free(ep);
}

rms_session_options rms_endpoint_session_options(const rms_endpoint_proc *ep)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = ep->url;
	o.user = RMS_ENDPOINT_USER;
	o.password = RMS_ENDPOINT_PASSWORD;
	o.allow_unencrypted = true; /* plain http to loopback */
	o.operation_timeout_ms = 10000;
	return o;
}

/* ---- many listeners ------------------------------------------------------ */

rms_endpoint_fleet *rms_endpoint_spawn_fleet(size_t n, const char *spec,
                                             const char *const *extra)
{
	char count[32];
	snprintf(count, sizeof count, "%zu", n);
	const char *args[40] = { "--auth",     "basic", "--user", RMS_ENDPOINT_USER,
		                 "--password", RMS_ENDPOINT_PASSWORD, "--listeners", count };
	size_t k = 8;
	if (spec && *spec) {
		args[k++] = "--listener-behaviour";
		args[k++] = spec;
	}
	for (size_t i = 0; extra && extra[i] && k < 39; i++)
		args[k++] = extra[i];
	args[k] = NULL;
	rms_endpoint_fleet *fl = calloc(1, sizeof *fl);
	FILE *f = NULL;
	if (!fl || !(fl->l = calloc(n ? n : 1, sizeof *fl->l)) || start(&fl->main, args, &f) != 0) {
		if (fl)
			free(fl->l);
		free(fl);
		return NULL;
	}
	/* "listeners N", then "listener INDEX PORT BEHAVIOUR" per listener (a
	 * "certificate PATH" line may come first). */
	char line[256];
	size_t want = SIZE_MAX;
	while (fl->n < want && fgets(line, sizeof line, f)) {
		unsigned long idx;
		unsigned port;
		char beh[sizeof fl->l->behaviour];
		if (sscanf(line, "listeners %zu", &want) == 1)
			continue;
		if (sscanf(line, "listener %lu %u %23s", &idx, &port, beh) != 3 || idx != fl->n ||
		    idx >= n)
			break;
		rms_endpoint_listener *l = &fl->l[fl->n++];
		l->port = port;
		snprintf(l->behaviour, sizeof l->behaviour, "%s", beh);
		snprintf(l->url, sizeof l->url, "%s://127.0.0.1:%u/wsman",
		         strncmp(fl->main.url, "https:", 6) == 0 ? "https" : "http", port);
	}
	fclose(f);
	if (fl->n != n || want != n) {
		fprintf(stderr, "the endpoint reported %zu of %zu listeners\n", fl->n, n);
		rms_endpoint_fleet_kill(fl);
		return NULL;
	}
	return fl;
}

void rms_endpoint_fleet_kill(rms_endpoint_fleet *fl)
{
	if (!fl)
		return;
	rms_endpoint_stop(&fl->main);
	free(fl->l);
	free(fl);
}

rms_session_options rms_endpoint_listener_options(const rms_endpoint_fleet *fl, size_t i)
{
	rms_session_options o = rms_endpoint_session_options(&fl->main);
	o.url = fl->l[i].url;
	return o;
}

int rms_endpoint_listener_counters(const rms_endpoint_proc *ep, const char *key, int64_t *out,
                                   size_t n)
{
	struct sink s = { 0 };
	if (request(ep, "/stats", false, &s) != 0) {
		free(s.data);
		return -1;
	}
	json_t *root = json_loads(s.data, 0, NULL);
	free(s.data);
	json_t *arr = json_object_get(root, "listeners");
	int rc = json_is_array(arr) && json_array_size(arr) == n ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *v = json_object_get(json_array_get(arr, i), key);
		out[i] = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
	}
	json_decref(root);
	return rc;
}
