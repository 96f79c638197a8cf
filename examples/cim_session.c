/*
 * A CIM session the way New-CimSession makes one: creating it opens no
 * connection; the first operation connects. Build against an installed
 * remsess:
 *   cc cim_session.c $(pkg-config --cflags --libs remsess) -o cim_session
 * Run: REMSESS_PASSWORD=... ./cim_session HOST USER [CLASS]
 */
#include <stdio.h>
#include <stdlib.h>

#include <remsess/remsess.h>

/* A call failed: rms_error_last() says what, in which phase. */
static int report(const char *what)
{
	const rms_error *e = rms_error_last();
	fprintf(stderr, "%s failed in phase %s: %s\n", what, rms_phase_name(rms_error_phase(e)),
	        rms_error_message(e));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s HOST USER [CLASS]\n", argv[0]);
		return 2;
	}
	rms_session_options opts = RMS_SESSION_OPTIONS_INIT;
	opts.host = argv[1];
	opts.scheme = RMS_SCHEME_HTTPS; /* Basic credentials never go over plain http */
	opts.user = argv[2];
	opts.password = getenv("REMSESS_PASSWORD");

	rms_session *s;
	if (rms_session_new(&s, RMS_BACKEND_CIM, &opts))
		return report("creating the session");
	rms_stats st = { .version = RMS_STATS_VERSION };
	rms_session_stats(s, &st);
	printf("%s (%s) for %s over %s: %llu connections opened so far\n", rms_session_name(s),
	       rms_session_instance_id(s), rms_session_computer_name(s), rms_session_protocol(s),
	       (unsigned long long)st.connections_opened);

	rms_op *op;
	int rc = 0;
	if (rms_enumerate(&op, s, NULL, argc > 3 ? argv[3] : "Win32_OperatingSystem")) {
		rc = report("enumerating");
	} else {
		rms_instance *inst;
		int r;
		while ((r = rms_op_next(op, &inst)) == 0) {
			char *text;
			if (rms_instance_to_text(&text, inst) == 0)
				printf("%s\n", text);
			rms_free(text);
			rms_instance_free(inst);
		}
		if (r != RMS_ITEROVER)
			rc = report("reading results");
		rms_op_free(op);
	}
	rms_session_free(s);
	return rc;
}
