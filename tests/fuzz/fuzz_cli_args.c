/* CLI arguments (cli/args.c): the input split at NUL bytes into argv, then
 * cli_parse, and for a command line it accepts, the request and options
 * built from it as main.c does. */
#include "args.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_cstr(data, size);
	char *argv[66];
	int argc = 0;
	argv[argc++] = (char *)"remsess";
	for (size_t i = 0; i <= size && argc < 64;) {
		argv[argc++] = buf + i;
		size_t len = strlen(buf + i);
		i += len + 1;
	}
	argv[argc] = NULL;
	cli_args a;
	int rc = cli_parse(&a, argc, argv);
	if (rc == 0) {
		rms_request *req = NULL;
		if (cli_build_request(&req, &a) == 0)
			rms_request_free(req);
		rms_session_options o;
		cli_build_options(&o, &a, RMS_BACKEND_CIM, NULL, NULL);
		(void)cli_command_needs_session(a.command);
	} else if (rc == CLI_EXIT_USAGE && !a.error[0]) {
		abort(); /* a usage error always says why */
	}
	cli_args_free(&a);
	free(buf);
	fuzz_done();
	return 0;
}
