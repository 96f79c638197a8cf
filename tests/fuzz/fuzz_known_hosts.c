/*
 * known_hosts lines (psremote/ssh_connect.c): rms__known_hosts_line, the
 * classifier load_known_hosts runs on every line (comments, markers,
 * malformed hashed names that libssh2 1.10 leaks on), then
 * libssh2_knownhost_readline on what it lets through, exactly as the
 * library does, then a host checked against what was read.
 */
#include <libssh2.h>

#include "fuzz_common.h"
#include "ssh.h"

static LIBSSH2_SESSION *session;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (libssh2_init(0) != 0 || !(session = libssh2_session_init()))
		abort();
	return 0;
}

/* load_known_hosts' loop body on line[0..n) (n counts the '\n' if any):
 * the same classifier, then libssh2's reader for what it lets through. */
static void one_line(LIBSSH2_KNOWNHOSTS *kh, LIBSSH2_KNOWNHOSTS *revoked, const char *line,
                     size_t n)
{
	size_t at;
	enum rms_kh_line kind = rms__known_hosts_line(line, n, &at);
	if (kind != RMS_KH_KNOWN && kind != RMS_KH_REVOKED)
		return;
	(void)libssh2_knownhost_readline(kind == RMS_KH_REVOKED ? revoked : kh, line + at, n - at,
	                                 LIBSSH2_KNOWNHOST_FILE_OPENSSH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* getline() gives NUL-terminated lines; a NUL inside ends the C string
	 * libssh2 sees, as in the library. */
	char *text = fuzz_cstr(data, size);
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(session);
	LIBSSH2_KNOWNHOSTS *revoked = libssh2_knownhost_init(session);
	if (!kh || !revoked)
		abort();
	size_t at = 0;
	while (at < size) {
		const char *nl = memchr(text + at, '\n', size - at);
		size_t n = nl ? (size_t)(nl - (text + at)) + 1 : size - at;
		char *line = fuzz_cstr((const uint8_t *)text + at, n);
		one_line(kh, revoked, line, n);
		free(line);
		at += n;
	}
	static const char dummy[] = "remsess";
	(void)libssh2_knownhost_checkp(kh, "[127.0.0.1]:2222", -1, dummy, sizeof dummy - 1,
	                               LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	                                   LIBSSH2_KNOWNHOST_KEY_ED25519,
	                               NULL);
	libssh2_knownhost_free(revoked);
	libssh2_knownhost_free(kh);
	free(text);
	return 0;
}
