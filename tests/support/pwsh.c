#include "pwsh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *rms_test_pwsh(void)
{
	static char path[1024];
	const char *env = getenv("RMS_PWSH");
	if (env && *env && access(env, X_OK) == 0) {
		snprintf(path, sizeof path, "%s", env);
		return path;
	}
	const char *home = getenv("HOME");
	if (home) {
		snprintf(path, sizeof path, "%s/.dotnet/tools/pwsh", home);
		if (access(path, X_OK) == 0)
			return path;
	}
	const char *p = getenv("PATH");
	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		snprintf(path, sizeof path, "%.*s/pwsh", (int)n, p);
		if (n && access(path, X_OK) == 0)
			return path;
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

const char *rms_test_pwsh_subsystem(const char *name)
{
	static char line[1200];
	const char *pwsh = rms_test_pwsh();
	if (!pwsh)
		return NULL;
	snprintf(line, sizeof line, "Subsystem %s %s -sshs -NoLogo -NoProfile", name, pwsh);
	return line;
}

char *rms_test_pwsh_run(const char *script)
{
	const char *pwsh = rms_test_pwsh();
	if (!pwsh)
		return NULL;
	char tmpl[] = "/tmp/rms_pwsh_XXXXXX";
	int fd = mkstemp(tmpl);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "w");
	fputs(script, f);
	fclose(f);
	char cmd[2400];
	snprintf(cmd, sizeof cmd, "'%s' -NoLogo -NoProfile -NonInteractive -File %s.ps1", pwsh,
	         tmpl);
	char ps1[64];
	snprintf(ps1, sizeof ps1, "%s.ps1", tmpl);
	if (rename(tmpl, ps1) != 0) {
		unlink(tmpl);
		return NULL;
	}
	FILE *p = popen(cmd, "r");
	if (!p) {
		unlink(ps1);
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	size_t n;
	while (out && (n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *bigger = realloc(out, cap *= 2);
			if (!bigger) {
				free(out);
				out = NULL;
			}
			out = bigger;
		}
	}
	int st = pclose(p);
	unlink(ps1);
	if (!out)
		return NULL;
	out[len] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "pwsh support: the local pwsh failed (status %d): %s\n", st, out);
		free(out);
		return NULL;
	}
	return out;
}
