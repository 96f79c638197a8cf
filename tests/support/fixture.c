#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

char *rms_fixture_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	rms_buf b;
	rms__buf_init(&b);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (rms__buf_append(&b, chunk, n))
			fail_msg("out of memory reading %s", path);
	fclose(f);
	if (len)
		*len = b.len;
	char *d = rms__buf_take(&b);
	if (!d)
		fail_msg("out of memory reading %s", path);
	return d;
}

char *rms_fixture(const char *relpath, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", RMS_FIXTURES_DIR, relpath);
	return rms_fixture_file(path, len);
}

char *rms_fixture_pypsrp(const char *file, const char *key, int index)
{
	char rel[512];
	snprintf(rel, sizeof rel, "jborean93-pypsrp/responses/%s", file);
	char *all = rms_fixture(rel, NULL);
	char tag[32];
	snprintf(tag, sizeof tag, "%s: ", key);
	char *p = all;
	for (int i = 0; i <= index; i++) {
		do {
			p = strstr(p, tag);
			if (!p)
				fail_msg("%s has no %s %d", file, key, index);
			p += strlen(tag);
		} while (*p != '<' && *p != '\'');
	}
	rms_buf b;
	rms__buf_init(&b);
	if (*p == '<') {
		/* A plain scalar goes on over the lines indented more than its
		 * key, each line break folding into a space (YAML 1.2 7.3.3). */
		const char *line = p;
		while (line > all && line[-1] != '\n')
			line--;
		size_t key_col;
		if (line[0] == '-' && line[1] == ' ')
			key_col = 2; /* "- request: ": the key's column after the dash */
		else
			key_col = strspn(line, " ");
		for (;;) {
			size_t n = strcspn(p, "\n");
			rms__buf_append(&b, p, n);
			if (!p[n])
				break;
			char *next = p + n + 1;
			size_t sp = strspn(next, " ");
			if (sp <= key_col || next[sp] == '\n' || !next[sp])
				break;
			rms__buf_puts(&b, " ");
			p = next + sp;
		}
	} else {
		for (p++; *p; p++) {
			if (*p == '\'' && p[1] == '\'') {
				rms__buf_puts(&b, "'");
				p++;
			} else if (*p == '\'') {
				break;
			} else if (*p == '\n') {
				rms__buf_puts(&b, " ");
				while (p[1] == ' ')
					p++;
			} else {
				rms__buf_append(&b, p, 1);
			}
		}
	}
	free(all);
	return rms__buf_take(&b);
}

char *rms_fixture_winrmsharp_response(const char *file)
{
	return rms_fixture_winrmsharp(file, "Response", 0);
}

char *rms_fixture_winrmsharp(const char *file, const char *key, int index)
{
	char rel[512];
	snprintf(rel, sizeof rel, "adstep-WinRMSharp/src/WinRMSharp.Tests/Data/Sessions/%s", file);
	char *all = rms_fixture(rel, NULL);
	/* Some of these files have CRLF line ends: YAML line breaks, never data. */
	char *w = all;
	for (const char *r = all; *r; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
	char tag[64];
	snprintf(tag, sizeof tag, " %s:\n", key); /* "- Request:" or "  Response:" */
	char *p = all;
	for (int i = 0; i <= index && p; i++)
		if ((p = strstr(p, tag)))
			p += strlen(tag);
	if (!p || !(p = strstr(p, "Body: >-\n")))
		fail_msg("%s has no %s body %d", file, key, index);
	p += strlen("Body: >-\n");
	size_t indent = strspn(p, " ");
	rms_buf b;
	rms__buf_init(&b);
	while (*p) {
		size_t sp = strspn(p, " ");
		if (p[sp] == '\n') { /* an empty line stays in the block */
			rms__buf_puts(&b, "\n");
			p += sp + 1;
			continue;
		}
		if (sp < indent)
			break;
		size_t n = strcspn(p + indent, "\n");
		rms__buf_append(&b, p + indent, n);
		rms__buf_puts(&b, "\n");
		p += indent + n + (p[indent + n] == '\n');
	}
	free(all);
	return rms__buf_take(&b);
}
