/*
 * Several enumerations at once on one CIM session, driven by the caller's
 * own poll(2) loop: remsess says what to wait on (rms_multi_waitset), the
 * program waits with everything else it has, and rms_multi_perform moves
 * what can move without blocking. Build against an installed remsess:
 *   cc engine_poll.c $(pkg-config --cflags --libs remsess) -o engine_poll
 * Run: REMSESS_PASSWORD=... ./engine_poll HOST USER CLASS...
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include <remsess/remsess.h>

/* "CLASS Key=value ...": the key properties, known from the class schema. */
static void print_instance(const rms_instance *inst)
{
	printf("%s", rms_instance_class_name(inst));
	const char *name;
	const rms_value *v;
	unsigned flags;
	for (size_t i = 0; rms_instance_at(inst, i, &name, &v, &flags) == 0; i++) {
		char *text = NULL;
		if ((flags & RMS_PROP_KEY) && rms_value_to_text(&text, v) == 0)
			printf(" %s=%s", name, text);
		rms_free(text);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s HOST USER CLASS...\n", argv[0]);
		return 2;
	}
	rms_session_options opts = RMS_SESSION_OPTIONS_INIT;
	opts.host = argv[1];
	opts.scheme = RMS_SCHEME_HTTPS; /* Basic credentials never go over plain http */
	opts.user = argv[2];
	opts.password = getenv("REMSESS_PASSWORD");
	/* A CIM session opens nothing; each enumeration has its own connection. */
	rms_session *s;
	rms_multi *m;
	if (rms_session_new(&s, RMS_BACKEND_CIM, &opts)) {
		fprintf(stderr, "creating the session: %s\n", rms_error_message(rms_error_last()));
		return 1;
	}
	int nops = argc - 3, failed = 0;
	rms_op **ops = calloc((size_t)nops, sizeof *ops);
	unsigned long *counts = calloc((size_t)nops, sizeof *counts);
	if (rms_multi_new(&m) || !ops || !counts)
		return 1;
	for (int i = 0; i < nops; i++) {
		rms_request *req;
		rms_request_new(&req, RMS_OP_ENUMERATE);
		rms_request_set_class(req, argv[3 + i]);
		if (rms_multi_start(&ops[i], m, s, req)) { /* checked at once, nothing sent */
			fprintf(stderr, "%s: %s\n", argv[3 + i], rms_error_message(rms_error_last()));
			failed++;
		}
		rms_request_free(req); /* the op keeps its own copy */
	}

	struct pollfd *pfds = NULL;
	rms_waitfd *fds = NULL;
	size_t cap = 0, n, running;
	rms_multi_perform(m, &running); /* sends every first request; never blocks */
	for (;;) {
		rms_msg msg;
		while (rms_multi_info_read(m, &msg) == 0) {
			int i = 0;
			while (ops[i] != msg.op)
				i++;
			rms_instance *inst; /* READY or DONE: take what is buffered */
			while (rms_op_next(msg.op, &inst) == 0) {
				print_instance(inst);
				rms_instance_free(inst);
				counts[i]++;
			}
			if (msg.kind != RMS_MSG_DONE)
				continue;
			if (msg.result == 0) {
				printf("%s: %lu instances\n", argv[3 + i], counts[i]);
			} else {
				const rms_error *e = rms_op_error(msg.op);
				fprintf(stderr, "%s: failed in phase %s: %s\n", argv[3 + i],
				        rms_phase_name(rms_error_phase(e)), rms_error_message(e));
				failed++;
			}
		}
		if (!running)
			break;
		int timeout;
		/* Room for every descriptor: grow when the engine reports more. */
		while (rms_multi_waitset(m, fds, cap, &n, &timeout) == 0 && n > cap) {
			cap = n * 2;
			if (!(fds = realloc(fds, cap * sizeof *fds)) ||
			    !(pfds = realloc(pfds, cap * sizeof *pfds)))
				return 1;
		}
		/* An embedder adds its own descriptors here. RMS_POLL_IN and
		 * RMS_POLL_OUT have poll(2)'s values. */
		for (size_t i = 0; i < n; i++)
			pfds[i] = (struct pollfd){.fd = fds[i].fd, .events = fds[i].events};
		poll(pfds, n, timeout);
		rms_multi_perform(m, &running);
	}
	for (int i = 0; i < nops; i++)
		rms_op_free(ops[i]);
	rms_multi_free(m);
	rms_session_free(s);
	free(ops);
	free(counts);
	free(fds);
	free(pfds);
	return failed ? 1 : 0;
}
