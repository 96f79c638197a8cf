/* WWW-Authenticate challenges (core/net/http_gss.c): the input is the
 * values the HTTP layer collected, one per line, as a server sent them;
 * rms__auth_challenge looks for each scheme remsess uses and decodes its
 * token, and rms__auth_offered lists the schemes. A decoded token is never
 * longer than its text. */
#include "fuzz_common.h"
#include "http_gss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	static const char *const schemes[] = {"Negotiate", "Kerberos", "NTLM", "Basic"};
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		rms_buf tok;
		rms__buf_init(&tok);
		bool offered = false;
		int rc = rms__auth_challenge(text, schemes[i], &offered, &tok);
		if (rc && rc != RMS_E_PROTOCOL && rc != RMS_E_NOMEM)
			abort();
		if (!rc && tok.len > size)
			abort();
		if (tok.len && !offered)
			abort();
		rms__buf_free(&tok);
	}
	char list[64];
	rms__auth_offered(text, list, sizeof list);
	if (strlen(list) >= sizeof list)
		abort();
	free(text);
	return 0;
}
