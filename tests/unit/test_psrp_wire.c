/*
 * PSRP wire units (psremote/psrp_wire.h) and OutOfProc framing
 * (psremote/psrp_oop.h).
 *
 * The replay tests use traffic
 * recorded from real PowerShell 7.6.10 over SSH, ../shared/fixtures/pwsh-7.6.10-ssh
 * (its README states what each conversation shows): every line of both
 * directions is split, parsed, defragmented and unpacked; every line is
 * written again byte for byte, and every client message is fragmented
 * again into the recorded fragments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error_internal.h"
#include "fixture.h"
#include "psremote/psrp_oop.h"
#include "psremote/psrp_wire.h"

#define FIX "pwsh-7.6.10-ssh/"

static const char *const conversations[] = {
    "01-a-range", "02-b-streams", "03-c-complex",       "04-d-input",
    "05-e-stop",  "06-f-big",     "07-g-two-pipelines", "08-g2-two-invokes"};
#define NCONV (sizeof conversations / sizeof conversations[0])

static const char *last_message(void)
{
	const char *m = rms_error_message(rms_error_last());
	return m ? m : "(no error)";
}

static void assert_error(int rc, int code, const char *needle)
{
	if (rc != code)
		fail_msg("got %s, wanted %s: %s", rms_error_code_name(rc),
		         rms_error_code_name(code), last_message());
	if (needle && !strstr(last_message(), needle))
		fail_msg("error '%s' does not mention '%s'", last_message(), needle);
}

static void assert_protocol(int rc, const char *needle)
{
	assert_error(rc, RMS_E_PROTOCOL, needle);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_DECODE);
}

/* ---- replaying a conversation --------------------------------------------------- */

typedef struct msg_rec {
	uint32_t type, dest;
	rms_guid rpid, pid;
	size_t line; /* index of the line whose Data completed it */
	char *body;  /* the CLIXML, NUL-terminated copy */
	size_t size; /* the whole message, header included */
} msg_rec;

typedef struct frag_rec {
	size_t line;
	uint64_t oid, fid;
	unsigned flags;
	size_t size; /* header included */
} frag_rec;

typedef struct pkt_rec {
	rms_oop_kind kind;
	rms_guid guid;
	size_t nfrags; /* Data only */
} pkt_rec;

typedef struct dir_log {
	pkt_rec *pkts;
	size_t npkts;
	msg_rec *msgs;
	size_t nmsgs;
	frag_rec *frags;
	size_t nfrags;
	size_t rewritten;    /* lines written again identically */
	size_t refragmented; /* client messages fragmented again identically */
} dir_log;

typedef struct convo {
	dir_log c, s; /* client to server (.in), server to client (.out) */
} convo;

static void *grow(void *p, size_t n, size_t size)
{
	/* one more element; the logs are small, so a realloc each time */
	void *q = realloc(p, (n + 1) * size);
	assert_non_null(q);
	return q;
}

typedef struct obj_acc {
	uint64_t oid;
	rms_buf raw, blob;
} obj_acc;

/* Walk the fragments of one Data packet by hand (independently of the
 * defragmenter), logging each; on a client object's last fragment, cut
 * the reassembled message again with a fragmenter set to the recorded
 * ObjectId and compare the bytes. */
static void walk_fragments(dir_log *log, size_t line, const unsigned char *d, size_t n,
                           obj_acc *acc, size_t *nacc, bool client)
{
	size_t at = 0;
	while (at < n) {
		assert_true(n - at >= RMS_PSRP_FRAGMENT_HEADER);
		uint64_t oid = 0, fid = 0;
		for (int i = 0; i < 8; i++) {
			oid = oid << 8 | d[at + (size_t)i];
			fid = fid << 8 | d[at + 8 + (size_t)i];
		}
		unsigned flags = d[at + 16];
		size_t blen = (size_t)d[at + 17] << 24 | (size_t)d[at + 18] << 16 |
		              (size_t)d[at + 19] << 8 | d[at + 20];
		size_t whole = RMS_PSRP_FRAGMENT_HEADER + blen;
		assert_true(whole <= n - at);
		assert_true(whole <= RMS_PSRP_OOP_FRAGMENT_MAX);
		log->frags = grow(log->frags, log->nfrags, sizeof *log->frags);
		log->frags[log->nfrags++] = (frag_rec){line, oid, fid, flags, whole};
		log->pkts[log->npkts - 1].nfrags++;

		size_t k;
		for (k = 0; k < *nacc; k++)
			if (acc[k].oid == oid)
				break;
		if (k == *nacc) {
			assert_true(*nacc < 8);
			acc[k].oid = oid;
			rms__buf_init(&acc[k].raw);
			rms__buf_init(&acc[k].blob);
			(*nacc)++;
		}
		assert_int_equal(rms__buf_append(&acc[k].raw, d + at, whole), 0);
		assert_int_equal(
		    rms__buf_append(&acc[k].blob, d + at + RMS_PSRP_FRAGMENT_HEADER, blen), 0);
		if (flags & RMS_PSRP_FLAG_END) {
			if (client) {
				rms_psrp_fragmenter f;
				rms__psrp_fragmenter_init(&f, RMS_PSRP_OOP_FRAGMENT_MAX);
				f.next_object_id = oid;
				rms_buf again;
				rms__buf_init(&again);
				assert_int_equal(rms__psrp_fragment(&f, &again, acc[k].blob.data,
				                                    acc[k].blob.len, NULL),
				                 0);
				assert_int_equal(again.len, acc[k].raw.len);
				assert_memory_equal(again.data, acc[k].raw.data, again.len);
				assert_true(f.next_object_id == oid + 1);
				rms__buf_free(&again);
				log->refragmented++;
			}
			rms__buf_free(&acc[k].raw);
			rms__buf_free(&acc[k].blob);
			acc[k] = acc[--*nacc];
		}
		at += whole;
	}
}

static void replay_direction(dir_log *log, const char *name, bool client)
{
	char path[128];
	snprintf(path, sizeof path, FIX "%s.%s", name, client ? "in" : "out");
	size_t len = 0;
	char *text = rms_fixture(path, &len);
	rms_oop_lines lines;
	rms__oop_lines_init(&lines, RMS_OOP_LINE_MIN);
	rms_psrp_defrag *d = NULL;
	assert_int_equal(rms__psrp_defrag_new(&d, 64u << 20), 0);
	obj_acc acc[8];
	size_t nacc = 0;
	size_t line_no = 0;

	/* Feed in pieces of an odd size so lines span feeds. */
	for (size_t at = 0; at < len;) {
		size_t n = len - at < 7777 ? len - at : 7777;
		assert_int_equal(rms__oop_lines_feed(&lines, text + at, n), 0);
		at += n;
		const char *l;
		size_t ll;
		int rc;
		while ((rc = rms__oop_lines_next(&lines, &l, &ll)) == 0) {
			rms_oop_packet p;
			rc = rms__oop_parse(&p, l, ll);
			if (rc)
				fail_msg("%s line %zu: %s", path, line_no, last_message());
			log->pkts = grow(log->pkts, log->npkts, sizeof *log->pkts);
			log->pkts[log->npkts++] = (pkt_rec){p.kind, p.guid, 0};
			{
				/* Both sides: our writers give PowerShell's exact lines. */
				rms_buf w;
				rms__buf_init(&w);
				if (p.kind == RMS_OOP_DATA)
					rc = rms__oop_write_data(&w, &p.guid, p.prompt_response,
					                         p.data, p.len);
				else
					rc = rms__oop_write(&w, p.kind, &p.guid);
				assert_int_equal(rc, 0);
				assert_int_equal(w.len, ll + 1);
				assert_memory_equal(w.data, l, ll);
				assert_int_equal(w.data[ll], '\n');
				rms__buf_free(&w);
				log->rewritten++;
			}
			if (p.kind == RMS_OOP_DATA) {
				walk_fragments(log, line_no, p.data, p.len, acc, &nacc, client);
				rc = rms__psrp_defrag_feed(d, p.data, p.len);
				if (rc)
					fail_msg("%s line %zu: %s", path, line_no, last_message());
				unsigned char *m;
				size_t ml;
				while (rms__psrp_defrag_next(d, &m, &ml) == 0) {
					rms_psrp_message msg;
					rc = rms__psrp_message_unpack(&msg, m, ml);
					if (rc)
						fail_msg("%s line %zu: %s", path, line_no,
						         last_message());
					log->msgs = grow(log->msgs, log->nmsgs, sizeof *log->msgs);
					msg_rec *r = &log->msgs[log->nmsgs++];
					r->type = msg.type;
					r->dest = msg.destination;
					r->rpid = msg.rpid;
					r->pid = msg.pid;
					r->line = line_no;
					r->size = ml;
					r->body = malloc(msg.len + 1);
					assert_non_null(r->body);
					memcpy(r->body, msg.data, msg.len);
					r->body[msg.len] = '\0';
					/* A pipeline's messages travel under its GUID, the
					 * pool's under zeros. */
					assert_true(rms__guid_equal(&msg.pid, &p.guid));
					free(m);
				}
			}
			rms__oop_packet_clear(&p);
			line_no++;
		}
		assert_int_equal(rc, RMS_ITEROVER);
	}
	/* Everything was consumed: no partial line, no partial message. */
	assert_int_equal(rms__oop_lines_pending(&lines), 0);
	assert_int_equal(nacc, 0);
	assert_int_equal(rms__psrp_defrag_held(d), 0);
	rms__psrp_defrag_free(d);
	rms__oop_lines_free(&lines);
	free(text);
}

static void replay(convo *cv, const char *name)
{
	memset(cv, 0, sizeof *cv);
	replay_direction(&cv->c, name, true);
	replay_direction(&cv->s, name, false);
}

static void dir_free(dir_log *l)
{
	for (size_t i = 0; i < l->nmsgs; i++)
		free(l->msgs[i].body);
	free(l->msgs);
	free(l->pkts);
	free(l->frags);
}

static void convo_free(convo *cv)
{
	dir_free(&cv->c);
	dir_free(&cv->s);
}

/* The pipeline of the client's last CREATE_PIPELINE: the user's command
 * (New-PSSession's own pipelines come first). */
static rms_guid user_pipeline(const convo *cv, size_t from_end)
{
	for (size_t i = cv->c.nmsgs; i-- > 0;)
		if (cv->c.msgs[i].type == RMS_PSRP_CREATE_PIPELINE && from_end-- == 0)
			return cv->c.msgs[i].pid;
	fail_msg("no CREATE_PIPELINE");
	return (rms_guid){{0}};
}

/* The types of the server's messages for pipeline pid, in order. */
static size_t messages_of(const dir_log *l, const rms_guid *pid, uint32_t *types, size_t max,
                          size_t *first_index)
{
	size_t n = 0;
	for (size_t i = 0; i < l->nmsgs; i++) {
		if (!rms__guid_equal(&l->msgs[i].pid, pid))
			continue;
		if (n == 0 && first_index)
			*first_index = i;
		if (n < max)
			types[n] = l->msgs[i].type;
		n++;
	}
	return n;
}

static size_t count_pkts(const dir_log *l, rms_oop_kind kind, const rms_guid *g)
{
	size_t n = 0;
	for (size_t i = 0; i < l->npkts; i++)
		if (l->pkts[i].kind == kind && (!g || rms__guid_equal(&l->pkts[i].guid, g)))
			n++;
	return n;
}

static bool state_is(const msg_rec *m, const char *name, int value)
{
	char want[80];
	snprintf(want, sizeof want, "<I32 N=\"%s\">%d</I32>", name, value);
	return strstr(m->body, want) != NULL;
}

/* ---- every conversation ------------------------------------------------------------ */

static void test_every_recorded_conversation_opens_acks_and_closes_alike(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCONV; c++) {
		convo cv;
		replay(&cv, conversations[c]);
		const dir_log *cl = &cv.c, *sv = &cv.s;

		/* The client's first line is Data for the pool with
		 * SESSION_CAPABILITY and INIT_RUNSPACEPOOL. */
		assert_true(cl->npkts > 0 && cl->pkts[0].kind == RMS_OOP_DATA);
		assert_true(rms__guid_is_zero(&cl->pkts[0].guid));
		assert_true(cl->nmsgs >= 2);
		assert_int_equal(cl->msgs[0].type, RMS_PSRP_SESSION_CAPABILITY);
		assert_int_equal(cl->msgs[1].type, RMS_PSRP_INIT_RUNSPACEPOOL);
		assert_int_equal(cl->msgs[0].line, 0);
		assert_int_equal(cl->msgs[1].line, 0);

		/* The server answers SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA
		 * and RUNSPACEPOOL_STATE Opened; it ends with Closing, Closed and
		 * a CloseAck for the pool. */
		assert_true(sv->nmsgs >= 5);
		assert_int_equal(sv->msgs[0].type, RMS_PSRP_SESSION_CAPABILITY);
		assert_int_equal(sv->msgs[1].type, RMS_PSRP_APPLICATION_PRIVATE_DATA);
		assert_int_equal(sv->msgs[2].type, RMS_PSRP_RUNSPACEPOOL_STATE);
		assert_true(state_is(&sv->msgs[2], "RunspaceState", 2));
		const msg_rec *closing = &sv->msgs[sv->nmsgs - 2],
		              *closed = &sv->msgs[sv->nmsgs - 1];
		assert_int_equal(closing->type, RMS_PSRP_RUNSPACEPOOL_STATE);
		assert_true(state_is(closing, "RunspaceState", 4));
		assert_int_equal(closed->type, RMS_PSRP_RUNSPACEPOOL_STATE);
		assert_true(state_is(closed, "RunspaceState", 3));
		const pkt_rec *last = &sv->pkts[sv->npkts - 1];
		assert_int_equal(last->kind, RMS_OOP_CLOSE_ACK);
		assert_true(rms__guid_is_zero(&last->guid));

		/* Destinations, and one runspace pool id throughout. */
		const rms_guid rpid = cl->msgs[0].rpid;
		assert_false(rms__guid_is_zero(&rpid));
		for (size_t i = 0; i < cl->nmsgs; i++) {
			assert_int_equal(cl->msgs[i].dest, RMS_PSRP_DEST_SERVER);
			assert_true(rms__guid_equal(&cl->msgs[i].rpid, &rpid));
		}
		/* The server's SESSION_CAPABILITY names no pool yet (zeros). */
		assert_true(rms__guid_is_zero(&sv->msgs[0].rpid));
		for (size_t i = 0; i < sv->nmsgs; i++) {
			assert_int_equal(sv->msgs[i].dest, RMS_PSRP_DEST_CLIENT);
			if (i > 0)
				assert_true(rms__guid_equal(&sv->msgs[i].rpid, &rpid));
		}

		/* Every client Data line gets one DataAck with its PSGuid, every
		 * Command a CommandAck, every Close a CloseAck; the client never
		 * acknowledges. */
		size_t acks = 0;
		for (size_t i = 0; i < cl->npkts; i++) {
			const pkt_rec *p = &cl->pkts[i];
			assert_true(p->kind == RMS_OOP_DATA || p->kind == RMS_OOP_COMMAND ||
			            p->kind == RMS_OOP_SIGNAL || p->kind == RMS_OOP_CLOSE);
			rms_oop_kind ack = p->kind + 1;
			assert_int_equal(count_pkts(sv, ack, &p->guid),
			                 count_pkts(cl, p->kind, &p->guid));
			if (p->kind == RMS_OOP_DATA)
				acks++;
		}
		assert_int_equal(count_pkts(sv, RMS_OOP_DATA_ACK, NULL), acks);
		for (size_t i = 0; i < sv->npkts; i++)
			assert_true(sv->pkts[i].kind != RMS_OOP_COMMAND &&
			            sv->pkts[i].kind != RMS_OOP_SIGNAL &&
			            sv->pkts[i].kind != RMS_OOP_CLOSE);
		convo_free(&cv);
	}
}

static void test_lines_and_client_fragments_are_written_again_byte_for_byte(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCONV; c++) {
		convo cv;
		replay(&cv, conversations[c]);
		assert_int_equal(cv.c.rewritten, cv.c.npkts);
		assert_int_equal(cv.s.rewritten, cv.s.npkts);
		assert_int_equal(cv.c.refragmented, cv.c.nmsgs);
		assert_true(cv.c.refragmented >= 3);
		convo_free(&cv);
	}
}

/* ---- what each conversation shows ------------------------------------------------------ */

static void test_range_gives_three_outputs_then_completed(void **state)
{
	(void)state;
	convo cv;
	replay(&cv, "01-a-range");
	rms_guid pid = user_pipeline(&cv, 0);
	uint32_t t[8];
	size_t first = 0;
	assert_int_equal(messages_of(&cv.s, &pid, t, 8, &first), 4);
	assert_int_equal(t[0], RMS_PSRP_PIPELINE_OUTPUT);
	assert_int_equal(t[1], RMS_PSRP_PIPELINE_OUTPUT);
	assert_int_equal(t[2], RMS_PSRP_PIPELINE_OUTPUT);
	assert_int_equal(t[3], RMS_PSRP_PIPELINE_STATE);
	assert_string_equal(cv.s.msgs[first].body, "<I32>1</I32>");
	assert_string_equal(cv.s.msgs[first + 2].body, "<I32>3</I32>");
	assert_true(state_is(&cv.s.msgs[first + 3], "PipelineState", 4));
	convo_free(&cv);
}

static void test_streams_carry_records_and_host_calls(void **state)
{
	(void)state;
	convo cv;
	replay(&cv, "02-b-streams");
	rms_guid pid = user_pipeline(&cv, 0);
	uint32_t t[32];
	size_t n = messages_of(&cv.s, &pid, t, 32, NULL);
	assert_true(n >= 10 && n <= 32);
	const uint32_t want[] = {RMS_PSRP_ERROR_RECORD,       RMS_PSRP_WARNING_RECORD,
	                         RMS_PSRP_VERBOSE_RECORD,     RMS_PSRP_DEBUG_RECORD,
	                         RMS_PSRP_INFORMATION_RECORD, RMS_PSRP_PROGRESS_RECORD,
	                         RMS_PSRP_PIPELINE_HOST_CALL};
	for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
		bool seen = false;
		for (size_t i = 0; i < n; i++)
			seen = seen || t[i] == want[w];
		if (!seen)
			fail_msg("no %s", rms__psrp_message_name(want[w]));
	}
	assert_int_equal(t[0], RMS_PSRP_PIPELINE_OUTPUT);
	assert_int_equal(t[n - 1], RMS_PSRP_PIPELINE_STATE);
	convo_free(&cv);
}

static void test_input_travels_in_one_data_line(void **state)
{
	(void)state;
	convo cv;
	replay(&cv, "04-d-input");
	rms_guid pid = user_pipeline(&cv, 0);
	uint32_t t[8];
	size_t first = 0;
	assert_int_equal(messages_of(&cv.c, &pid, t, 8, &first), 5);
	assert_int_equal(t[0], RMS_PSRP_CREATE_PIPELINE);
	assert_non_null(strstr(cv.c.msgs[first].body, "<B N=\"NoInput\">false</B>"));
	assert_int_equal(t[1], RMS_PSRP_PIPELINE_INPUT);
	assert_int_equal(t[2], RMS_PSRP_PIPELINE_INPUT);
	assert_int_equal(t[3], RMS_PSRP_PIPELINE_INPUT);
	assert_int_equal(t[4], RMS_PSRP_END_OF_PIPELINE_INPUT);
	size_t line = cv.c.msgs[first + 1].line;
	assert_true(line != cv.c.msgs[first].line);
	for (size_t i = 2; i < 5; i++)
		assert_int_equal(cv.c.msgs[first + i].line, line);
	assert_int_equal(cv.c.pkts[line].nfrags, 4);
	/* END_OF_PIPELINE_INPUT carries no data. */
	assert_int_equal(cv.c.msgs[first + 4].size, RMS_PSRP_MESSAGE_HEADER);
	convo_free(&cv);
}

static void test_stop_signals_and_the_pipeline_stops(void **state)
{
	(void)state;
	convo cv;
	replay(&cv, "05-e-stop");
	/* The stopped job is the second-to-last pipeline. */
	rms_guid pid = user_pipeline(&cv, 2);
	assert_int_equal(count_pkts(&cv.c, RMS_OOP_SIGNAL, &pid), 1);
	assert_int_equal(count_pkts(&cv.s, RMS_OOP_SIGNAL_ACK, &pid), 1);
	assert_int_equal(count_pkts(&cv.c, RMS_OOP_SIGNAL, NULL), 1);
	uint32_t t[32];
	size_t first = 0;
	size_t n = messages_of(&cv.s, &pid, t, 32, &first);
	assert_true(n > 1 && n <= 32);
	for (size_t i = 0; i + 1 < n; i++)
		assert_int_equal(t[i], RMS_PSRP_PIPELINE_OUTPUT);
	assert_int_equal(t[n - 1], RMS_PSRP_PIPELINE_STATE);
	const msg_rec *st = &cv.s.msgs[first + n - 1];
	assert_true(state_is(st, "PipelineState", 3));
	assert_non_null(strstr(st->body, "PipelineStoppedException"));
	/* The session stays usable: the last pipeline completes. */
	rms_guid after = user_pipeline(&cv, 0);
	n = messages_of(&cv.s, &after, t, 32, &first);
	assert_true(n >= 1 && n <= 32);
	assert_true(state_is(&cv.s.msgs[first + n - 1], "PipelineState", 4));
	convo_free(&cv);
}

static void test_big_output_comes_in_65_fragments_one_per_line(void **state)
{
	(void)state;
	convo cv;
	replay(&cv, "06-f-big");
	rms_guid pid = user_pipeline(&cv, 0);
	uint32_t t[4];
	size_t first = 0;
	assert_int_equal(messages_of(&cv.s, &pid, t, 4, &first), 2);
	assert_int_equal(t[0], RMS_PSRP_PIPELINE_OUTPUT);
	assert_int_equal(t[1], RMS_PSRP_PIPELINE_STATE);
	const msg_rec *big = &cv.s.msgs[first];
	assert_true(big->size > 2u * 1024 * 1024);

	size_t nf = 0, total = 0, prev_line = 0;
	uint64_t oid = 0;
	for (size_t i = 0; i < cv.s.nfrags; i++) {
		const frag_rec *f = &cv.s.frags[i];
		if (nf == 0 && f->flags == RMS_PSRP_FLAG_START && f->size == 32768)
			oid = f->oid;
		if (!oid || f->oid != oid)
			continue;
		assert_true(f->fid == nf);
		assert_int_equal(cv.s.pkts[f->line].nfrags, 1); /* one per Data line */
		if (nf)
			assert_int_equal(f->line, prev_line + 1);
		prev_line = f->line;
		total += f->size - RMS_PSRP_FRAGMENT_HEADER;
		nf++;
		if (nf < 65) {
			assert_int_equal(f->size, 32768);
			assert_int_equal(f->flags, nf == 1 ? RMS_PSRP_FLAG_START : 0);
		} else {
			assert_int_equal(f->flags, RMS_PSRP_FLAG_END);
		}
	}
	assert_int_equal(nf, 65);
	assert_int_equal(total, big->size);
	assert_int_equal(big->line, prev_line);
	convo_free(&cv);
}

static void test_two_pipelines_and_max_runspaces(void **state)
{
	(void)state;
	convo cv;
	replay(&cv, "07-g-two-pipelines");
	bool set_max = false, avail = false;
	for (size_t i = 0; i < cv.c.nmsgs; i++)
		set_max = set_max || cv.c.msgs[i].type == RMS_PSRP_SET_MAX_RUNSPACES;
	for (size_t i = 0; i < cv.s.nmsgs; i++)
		avail = avail || cv.s.msgs[i].type == RMS_PSRP_RUNSPACE_AVAILABILITY;
	assert_true(set_max);
	assert_true(avail);
	/* Two Commands in flight; the second finishes first. */
	rms_guid second = user_pipeline(&cv, 0), first = user_pipeline(&cv, 1);
	size_t end_first = 0, end_second = 0;
	for (size_t i = 0; i < cv.s.nmsgs; i++) {
		if (cv.s.msgs[i].type != RMS_PSRP_PIPELINE_STATE)
			continue;
		if (rms__guid_equal(&cv.s.msgs[i].pid, &first))
			end_first = i;
		if (rms__guid_equal(&cv.s.msgs[i].pid, &second))
			end_second = i;
	}
	assert_true(end_first && end_second);
	assert_true(end_second < end_first);
	size_t cmd_second = 0, cmd_first_close = 0;
	for (size_t i = 0; i < cv.c.npkts; i++) {
		if (cv.c.pkts[i].kind == RMS_OOP_COMMAND &&
		    rms__guid_equal(&cv.c.pkts[i].guid, &second))
			cmd_second = i;
		if (cv.c.pkts[i].kind == RMS_OOP_CLOSE &&
		    rms__guid_equal(&cv.c.pkts[i].guid, &first))
			cmd_first_close = i;
	}
	assert_true(cmd_second && cmd_second < cmd_first_close);
	convo_free(&cv);
}

/* ---- GUIDs and messages ------------------------------------------------------------------ */

static void test_guid_uses_dotnet_byte_order(void **state)
{
	(void)state;
	/* The runspace pool id of 01-a-range as it appears in the message
	 * header, and as PowerShell prints it. */
	const unsigned char wire[16] = {0x4c, 0x23, 0x65, 0x2c, 0x6d, 0x3f, 0x5e, 0x4e,
	                                0x9b, 0xd7, 0x6b, 0xfb, 0x1c, 0x67, 0x6d, 0x2b};
	rms_guid g;
	memcpy(g.b, wire, 16);
	char text[37];
	rms__guid_format(&g, text);
	assert_string_equal(text, "2c65234c-3f6d-4e5e-9bd7-6bfb1c676d2b");
	rms_guid back;
	assert_int_equal(rms__guid_parse(&back, "2C65234C-3F6D-4E5E-9BD7-6BFB1C676D2B", 36, "x"),
	                 0);
	assert_true(rms__guid_equal(&g, &back));
	assert_false(rms__guid_is_zero(&g));
	memset(&back, 0, sizeof back);
	assert_true(rms__guid_is_zero(&back));

	const char *bad[] = {
	    "2c65234c-3f6d-4e5e-9bd7-6bfb1c676d2",  "2c65234c-3f6d-4e5e-9bd7-6bfb1c676d2bb",
	    "2c65234c_3f6d-4e5e-9bd7-6bfb1c676d2b", "2c65234c-3f6d-4e5e-9bd7-6bfb1c676dxb",
	    "{c65234c-3f6d-4e5e-9bd7-6bfb1c676d2}", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_error(rms__guid_parse(&back, bad[i], strlen(bad[i]), "PSGuid"), RMS_E_PARSE,
		             "PSGuid");
	}

	for (int i = 0; i < 20; i++) {
		assert_int_equal(rms__guid_random(&g), 0);
		rms__guid_format(&g, text);
		assert_int_equal(text[14], '4');
		assert_non_null(strchr("89ab", text[19]));
		assert_int_equal(rms__guid_parse(&back, text, 36, "x"), 0);
		assert_true(rms__guid_equal(&g, &back));
	}
}

static void test_message_pack_unpack_and_names(void **state)
{
	(void)state;
	rms_guid rp, pi;
	assert_int_equal(rms__guid_random(&rp), 0);
	assert_int_equal(rms__guid_random(&pi), 0);
	rms_buf b;
	rms__buf_init(&b);
	const char body[] = "\xEF\xBB\xBF<Obj RefId=\"0\"/>";
	assert_int_equal(rms__psrp_message_pack(&b, RMS_PSRP_DEST_CLIENT, RMS_PSRP_PIPELINE_OUTPUT,
	                                        &rp, &pi, body, sizeof body - 1),
	                 0);
	assert_int_equal(b.len, 40 + sizeof body - 1);
	const unsigned char *h = (const unsigned char *)b.data;
	assert_int_equal(h[0], 1);
	assert_int_equal(h[4], 0x04);
	assert_int_equal(h[5], 0x10);
	assert_int_equal(h[6], 0x04);
	assert_int_equal(h[7], 0x00);
	rms_psrp_message m;
	assert_int_equal(rms__psrp_message_unpack(&m, b.data, b.len), 0);
	assert_int_equal(m.destination, RMS_PSRP_DEST_CLIENT);
	assert_int_equal(m.type, RMS_PSRP_PIPELINE_OUTPUT);
	assert_true(rms__guid_equal(&m.rpid, &rp));
	assert_true(rms__guid_equal(&m.pid, &pi));
	assert_int_equal(m.len, sizeof body - 4); /* byte-order mark removed */
	assert_memory_equal(m.data, "<Obj RefId=\"0\"/>", m.len);
	rms__buf_free(&b);

	/* No data at all is a whole message (END_OF_PIPELINE_INPUT). */
	assert_int_equal(rms__psrp_message_pack(&b, RMS_PSRP_DEST_SERVER,
	                                        RMS_PSRP_END_OF_PIPELINE_INPUT, &rp, &pi, NULL, 0),
	                 0);
	assert_int_equal(rms__psrp_message_unpack(&m, b.data, b.len), 0);
	assert_int_equal(m.len, 0);

	assert_protocol(rms__psrp_message_unpack(&m, b.data, 39), "39 bytes");
	b.data[0] = 7;
	assert_protocol(rms__psrp_message_unpack(&m, b.data, b.len), "destination 7");
	b.data[0] = 2;
	b.data[4] = 0x12;
	assert_protocol(rms__psrp_message_unpack(&m, b.data, b.len), "0x00041012");
	rms__buf_free(&b);

	assert_string_equal(rms__psrp_message_name(RMS_PSRP_SESSION_CAPABILITY),
	                    "SESSION_CAPABILITY");
	assert_string_equal(rms__psrp_message_name(RMS_PSRP_PIPELINE_HOST_RESPONSE),
	                    "PIPELINE_HOST_RESPONSE");
	assert_null(rms__psrp_message_name(0x00041012));
	assert_null(rms__psrp_message_name(0));
}

/* ---- fragments out ------------------------------------------------------------------------- */

static unsigned char *pattern(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + i / 251);
	return p;
}

static size_t blob_len_at(const unsigned char *p)
{
	return (size_t)p[17] << 24 | (size_t)p[18] << 16 | (size_t)p[19] << 8 | p[20];
}

/* Fragment len bytes with max 32768; check the sizes and flags of the
 * fragments and that a defragmenter gives the message back. */
static void fragment_and_check(size_t len, size_t want_frags, size_t want_last_blob)
{
	unsigned char *msg = pattern(len);
	rms_psrp_fragmenter f;
	rms__psrp_fragmenter_init(&f, 32768);
	assert_true(f.next_object_id == 1);
	rms_buf out;
	rms__buf_init(&out);
	size_t nf = 0;
	assert_int_equal(rms__psrp_fragment(&f, &out, msg, len, &nf), 0);
	assert_int_equal(nf, want_frags);
	assert_true(f.next_object_id == 2);
	const unsigned char *p = (const unsigned char *)out.data;
	size_t at = 0;
	for (size_t i = 0; i < nf; i++) {
		const unsigned char *h = p + at;
		size_t bl = blob_len_at(h);
		assert_int_equal(h[7], 1); /* object 1 */
		assert_int_equal(h[15], (unsigned char)i);
		unsigned flags =
		    (i == 0 ? RMS_PSRP_FLAG_START : 0) | (i + 1 == nf ? RMS_PSRP_FLAG_END : 0);
		assert_int_equal(h[16], flags);
		assert_int_equal(bl, i + 1 == nf ? want_last_blob : 32768 - 21);
		at += 21 + bl;
	}
	assert_int_equal(at, out.len);

	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, UINT64_MAX), 0);
	assert_int_equal(rms__psrp_defrag_feed(d, out.data, out.len), 0);
	unsigned char *back;
	size_t back_len;
	assert_int_equal(rms__psrp_defrag_next(d, &back, &back_len), 0);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, msg, len);
	free(back);
	assert_int_equal(rms__psrp_defrag_next(d, &back, &back_len), RMS_ITEROVER);
	assert_int_equal(rms__psrp_defrag_held(d), 0);
	rms__psrp_defrag_free(d);
	rms__buf_free(&out);
	free(msg);
}

static void test_fragmenter_cuts_at_the_boundaries(void **state)
{
	(void)state;
	fragment_and_check(1, 1, 1);
	fragment_and_check(32768 - 21, 1, 32768 - 21);
	fragment_and_check(32768 - 20, 2, 1);
	fragment_and_check(2 * (32768 - 21), 2, 32768 - 21);
	/* 2 MiB: 64 full fragments and 2,097,152 - 64 * 32,747 = 1,344 bytes. */
	fragment_and_check(2u * 1024 * 1024, 65, 1344);

	rms_psrp_fragmenter f;
	rms_buf out;
	rms__buf_init(&out);
	rms__psrp_fragmenter_init(&f, 32768);
	assert_error(rms__psrp_fragment(&f, &out, "", 0, NULL), RMS_E_INVALID_ARG, "empty");
	rms__psrp_fragmenter_init(&f, 21);
	assert_error(rms__psrp_fragment(&f, &out, "x", 1, NULL), RMS_E_INVALID_ARG, "21-byte");
	assert_int_equal(out.len, 0);
	/* Smallest possible: one byte a fragment. */
	rms__psrp_fragmenter_init(&f, 22);
	size_t nf;
	assert_int_equal(rms__psrp_fragment(&f, &out, "abc", 3, &nf), 0);
	assert_int_equal(nf, 3);
	assert_int_equal(out.len, 66);
	rms__buf_free(&out);
}

static void test_interleaved_objects_are_reassembled_in_order_of_completion(void **state)
{
	(void)state;
	unsigned char *a = pattern(300), *b = pattern(180);
	b[0] = 0xBB;
	rms_psrp_fragmenter f;
	rms__psrp_fragmenter_init(&f, 21 + 50);
	rms_buf fa, fb, mixed;
	rms__buf_init(&fa);
	rms__buf_init(&fb);
	rms__buf_init(&mixed);
	size_t na, nb;
	assert_int_equal(rms__psrp_fragment(&f, &fa, a, 300, &na), 0);
	assert_int_equal(rms__psrp_fragment(&f, &fb, b, 180, &nb), 0);
	assert_int_equal(na, 6);
	assert_int_equal(nb, 4);
	/* a0 b0 a1 b1 a2 b2 a3 b3 a4 a5: b completes first. */
	size_t ia = 0, ib = 0;
	for (size_t i = 0; i < na || i < nb; i++) {
		if (i < na) {
			size_t w = 21 + blob_len_at((unsigned char *)fa.data + ia);
			assert_int_equal(rms__buf_append(&mixed, fa.data + ia, w), 0);
			ia += w;
		}
		if (i < nb) {
			size_t w = 21 + blob_len_at((unsigned char *)fb.data + ib);
			assert_int_equal(rms__buf_append(&mixed, fb.data + ib, w), 0);
			ib += w;
		}
	}
	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, 1000), 0);
	/* In two feeds, cut on a fragment boundary. */
	size_t cut = rms__psrp_fragments_prefix(mixed.data, mixed.len, mixed.len / 2);
	assert_true(cut > 0 && cut < mixed.len);
	assert_int_equal(rms__psrp_defrag_feed(d, mixed.data, cut), 0);
	assert_true(rms__psrp_defrag_held(d) > 0);
	assert_int_equal(rms__psrp_defrag_feed(d, mixed.data + cut, mixed.len - cut), 0);
	unsigned char *m;
	size_t ml;
	assert_int_equal(rms__psrp_defrag_next(d, &m, &ml), 0);
	assert_int_equal(ml, 180);
	assert_memory_equal(m, b, 180);
	free(m);
	assert_int_equal(rms__psrp_defrag_next(d, &m, &ml), 0);
	assert_int_equal(ml, 300);
	assert_memory_equal(m, a, 300);
	free(m);
	assert_int_equal(rms__psrp_defrag_next(d, &m, &ml), RMS_ITEROVER);
	assert_int_equal(rms__psrp_defrag_held(d), 0);
	rms__psrp_defrag_free(d);
	rms__buf_free(&fa);
	rms__buf_free(&fb);
	rms__buf_free(&mixed);
	free(a);
	free(b);
}

static void test_fragments_prefix_takes_whole_fragments_only(void **state)
{
	(void)state;
	rms_psrp_fragmenter f;
	rms__psrp_fragmenter_init(&f, 32768);
	rms_buf out;
	rms__buf_init(&out);
	assert_int_equal(rms__psrp_fragment(&f, &out, "aaaaaaaaaa", 10, NULL), 0); /* 31 */
	assert_int_equal(rms__psrp_fragment(&f, &out, "bbbbb", 5, NULL), 0);       /* 26 */
	assert_int_equal(rms__psrp_fragment(&f, &out, "cccccccccccccccccccc", 20, NULL), 0);
	assert_int_equal(out.len, 31 + 26 + 41);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, out.len, SIZE_MAX), 98);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, out.len, 98), 98);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, out.len, 97), 57);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, out.len, 57), 57);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, out.len, 56), 31);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, out.len, 30), 0);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, out.len, 0), 0);
	/* A fragment cut short is not counted. */
	assert_int_equal(rms__psrp_fragments_prefix(out.data, 97, SIZE_MAX), 57);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, 20, SIZE_MAX), 0);
	assert_int_equal(rms__psrp_fragments_prefix(out.data, 0, SIZE_MAX), 0);
	rms__buf_free(&out);
}

/* ---- fragments in: hostile --------------------------------------------------------------- */

static void put_frag(rms_buf *b, uint64_t oid, uint64_t fid, unsigned flags, uint32_t claim,
                     size_t present)
{
	unsigned char h[21];
	for (int i = 0; i < 8; i++) {
		h[i] = (unsigned char)(oid >> (56 - 8 * i));
		h[8 + i] = (unsigned char)(fid >> (56 - 8 * i));
	}
	h[16] = (unsigned char)flags;
	for (int i = 0; i < 4; i++)
		h[17 + i] = (unsigned char)(claim >> (24 - 8 * i));
	assert_int_equal(rms__buf_append(b, h, 21), 0);
	for (size_t i = 0; i < present; i++)
		assert_int_equal(rms__buf_append(b, "x", 1), 0);
}

/* Feed b to a fresh defragmenter with cap max; return the result. */
static int feed_fresh(rms_buf *b, uint64_t max, size_t *held)
{
	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, max), 0);
	int rc = rms__psrp_defrag_feed(d, b->data, b->len);
	if (held)
		*held = rms__psrp_defrag_held(d);
	rms__psrp_defrag_free(d);
	rms__buf_free(b);
	return rc;
}

static void test_defrag_refuses_broken_fragment_streams(void **state)
{
	(void)state;
	rms_buf b;
	size_t held;

	rms__buf_init(&b); /* the same fragment id twice */
	put_frag(&b, 5, 0, RMS_PSRP_FLAG_START, 10, 10);
	put_frag(&b, 5, 1, 0, 10, 10);
	put_frag(&b, 5, 1, 0, 10, 10);
	assert_protocol(feed_fresh(&b, UINT64_MAX, &held), "object 5 fragment 1 came twice");
	assert_true(held <= 1024);

	rms__buf_init(&b); /* a gap */
	put_frag(&b, 5, 0, RMS_PSRP_FLAG_START, 10, 10);
	put_frag(&b, 5, 2, RMS_PSRP_FLAG_END, 10, 10);
	assert_protocol(feed_fresh(&b, UINT64_MAX, NULL),
	                "object 5 fragment 2 came where fragment 1");

	rms__buf_init(&b); /* fragment 0 without the start flag */
	put_frag(&b, 6, 0, RMS_PSRP_FLAG_END, 10, 10);
	assert_protocol(feed_fresh(&b, UINT64_MAX, &held),
	                "object 6 fragment 0 lacks the start flag");
	assert_int_equal(held, 0);

	rms__buf_init(&b); /* the start flag on a later fragment */
	put_frag(&b, 7, 0, RMS_PSRP_FLAG_START, 10, 10);
	put_frag(&b, 7, 1, RMS_PSRP_FLAG_START, 10, 10);
	assert_protocol(feed_fresh(&b, UINT64_MAX, NULL), "object 7 fragment 1 has the start flag");

	rms__buf_init(&b); /* started twice */
	put_frag(&b, 7, 0, RMS_PSRP_FLAG_START, 10, 10);
	put_frag(&b, 7, 0, RMS_PSRP_FLAG_START, 10, 10);
	assert_protocol(feed_fresh(&b, UINT64_MAX, NULL), "object 7 is started twice");

	rms__buf_init(&b); /* an end fragment for an object never started */
	put_frag(&b, 9, 3, RMS_PSRP_FLAG_END, 10, 10);
	assert_protocol(feed_fresh(&b, UINT64_MAX, &held), "object 9 fragment 3 (end)");
	assert_int_equal(held, 0);

	rms__buf_init(&b); /* BlobLength past the end of the data */
	put_frag(&b, 3, 0, 3, 100, 10);
	assert_protocol(feed_fresh(&b, UINT64_MAX, &held),
	                "object 3 fragment 0 claims a BlobLength of 100 bytes but only 10");
	assert_int_equal(held, 0);

	rms__buf_init(&b); /* a header cut short */
	put_frag(&b, 3, 0, 3, 1, 1);
	assert_int_equal(rms__buf_append(&b, "\0\0\0\0\0\0\0\0\0\0", 10), 0);
	assert_protocol(feed_fresh(&b, UINT64_MAX, NULL), "10 bytes of its 21-byte header");
	rms__buf_init(&b);
	put_frag(&b, 3, 4, 3, 1, 0);
	b.len = 18;
	assert_protocol(feed_fresh(&b, UINT64_MAX, NULL), "object 3 fragment 4 is cut short");
}

static void test_defrag_claimed_2gb_object_does_not_allocate_it(void **state)
{
	(void)state;
	/* One fragment claiming 2 GB with 100 bytes behind it. */
	rms_buf b;
	size_t held;
	rms__buf_init(&b);
	put_frag(&b, 1, 0, RMS_PSRP_FLAG_START, 0x80000000u, 100);
	assert_protocol(feed_fresh(&b, UINT64_MAX, &held), "2147483648");
	assert_int_equal(held, 0);

	/* Fragments that keep coming, each 32 KiB: the object grows towards
	 * 2 GB and the cap stops it before memory passes the cap. */
	const uint64_t cap = 1u << 20;
	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, cap), 0);
	int rc = 0;
	uint64_t fid;
	for (fid = 0; fid < 65536 && rc == 0; fid++) {
		rms__buf_init(&b);
		put_frag(&b, 1, fid, fid == 0 ? RMS_PSRP_FLAG_START : 0, 32747, 32747);
		rc = rms__psrp_defrag_feed(d, b.data, b.len);
		assert_true(rms__psrp_defrag_held(d) <= cap);
		rms__buf_free(&b);
	}
	assert_error(rc, RMS_E_LIMIT, "MaximumReceivedObjectSize (1048576 bytes)");
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_limit_name(e), "MaximumReceivedObjectSize");
	assert_true(rms_error_limit_value(e) == cap);
	assert_true(rms_error_limit_actual(e) == 33 * 32747u);
	assert_true(fid == 33);
	assert_non_null(strstr(last_message(), "object 1"));
	assert_true(rms__psrp_defrag_held(d) <= cap);
	rms__psrp_defrag_free(d);

	/* A single fragment larger than the cap. */
	rms__buf_init(&b);
	put_frag(&b, 2, 0, 3, 600, 600);
	assert_error(feed_fresh(&b, 500, &held), RMS_E_LIMIT,
	             "MaximumReceivedObjectSize (500 bytes)");
	assert_int_equal(held, 0);
	/* Exactly the cap is fine. */
	rms__buf_init(&b);
	put_frag(&b, 2, 0, 3, 500, 500);
	assert_int_equal(feed_fresh(&b, 500, &held), 0);
	assert_true(held <= 500);
}

static void test_defrag_many_small_messages_hold_no_slack(void **state)
{
	(void)state;
	/* 1,000 complete messages in one feed, none taken yet: what is held
	 * is their bytes, not a minimum buffer each. */
	rms_buf b;
	rms__buf_init(&b);
	for (uint64_t o = 1; o <= 1000; o++)
		put_frag(&b, o, 0, RMS_PSRP_FLAG_START | RMS_PSRP_FLAG_END, o % 7 ? 10 : 0,
		         o % 7 ? 10 : 0);
	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, 1000), 0);
	assert_int_equal(rms__psrp_defrag_feed(d, b.data, b.len), 0);
	assert_true(rms__psrp_defrag_held(d) <= 1000 * 10);
	unsigned char *m;
	size_t ml, n = 0;
	while (rms__psrp_defrag_next(d, &m, &ml) == 0) {
		n++;
		assert_int_equal(ml, n % 7 ? 10 : 0);
		free(m);
	}
	assert_int_equal(n, 1000);
	assert_int_equal(rms__psrp_defrag_held(d), 0);
	rms__psrp_defrag_free(d);
	rms__buf_free(&b);
}

static void test_defrag_allows_64_objects_in_progress_not_65(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	for (uint64_t o = 1; o <= RMS_PSRP_MAX_PARTIAL; o++)
		put_frag(&b, o, 0, RMS_PSRP_FLAG_START, 100, 100);
	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, 1000), 0);
	assert_int_equal(rms__psrp_defrag_feed(d, b.data, b.len), 0);
	size_t held = rms__psrp_defrag_held(d);
	assert_true(held >= 64 * 100 && held <= 64 * 1000);
	rms__buf_free(&b);
	put_frag(&b, 65, 0, RMS_PSRP_FLAG_START, 100, 100);
	assert_protocol(rms__psrp_defrag_feed(d, b.data, b.len), "object 65");
	assert_non_null(strstr(last_message(), "at most 64"));
	assert_int_equal(rms__psrp_defrag_held(d), held);
	/* Unusable afterwards, even for a valid fragment. */
	rms__buf_free(&b);
	put_frag(&b, 1, 1, RMS_PSRP_FLAG_END, 1, 1);
	assert_protocol(rms__psrp_defrag_feed(d, b.data, b.len), "earlier error");
	rms__buf_free(&b);
	rms__psrp_defrag_free(d);
}

/* ---- OutOfProc lines ---------------------------------------------------------------------- */

#define ZERO "00000000-0000-0000-0000-000000000000"
#define PG "f9ae624b-32df-454c-b1e2-241b51dac365"

static int parse(rms_oop_packet *p, const char *line)
{
	return rms__oop_parse(p, line, strlen(line));
}

static void test_oop_parses_the_forms_powershell_sends(void **state)
{
	(void)state;
	rms_oop_packet p;
	assert_int_equal(parse(&p, "<Data Stream='Default' PSGuid='" ZERO "'>AAECAw==</Data>"), 0);
	assert_int_equal(p.kind, RMS_OOP_DATA);
	assert_false(p.prompt_response);
	assert_int_equal(p.len, 4);
	assert_memory_equal(p.data, "\0\1\2\3", 4);
	assert_true(rms__guid_is_zero(&p.guid));
	rms__oop_packet_clear(&p);

	/* Attributes in any order, either quote, a trailing '\r'. */
	assert_int_equal(
	    parse(&p, "<Data PSGuid=\"" PG "\" Stream=\"PromptResponse\">QUJD</Data>\r"), 0);
	assert_true(p.prompt_response);
	assert_int_equal(p.len, 3);
	char g[37];
	rms__guid_format(&p.guid, g);
	assert_string_equal(g, PG);
	rms__oop_packet_clear(&p);

	const char *acks[] = {"<DataAck PSGuid='" PG "' />",     "<CommandAck PSGuid='" PG "'/>",
	                      "<SignalAck PSGuid=\"" PG "\" />", "<CloseAck PSGuid='" PG "' />",
	                      "<Command PSGuid='" PG "' />",     "<Signal PSGuid='" PG "'/>",
	                      "<Close PSGuid='" PG "' />"};
	const rms_oop_kind kinds[] = {RMS_OOP_DATA_ACK,  RMS_OOP_COMMAND_ACK, RMS_OOP_SIGNAL_ACK,
	                              RMS_OOP_CLOSE_ACK, RMS_OOP_COMMAND,     RMS_OOP_SIGNAL,
	                              RMS_OOP_CLOSE};
	for (size_t i = 0; i < sizeof acks / sizeof acks[0]; i++) {
		assert_int_equal(parse(&p, acks[i]), 0);
		assert_int_equal(p.kind, kinds[i]);
		assert_null(p.data);
		rms__guid_format(&p.guid, g);
		assert_string_equal(g, PG);
		rms__oop_packet_clear(&p);
	}
	assert_string_equal(rms__oop_kind_name(RMS_OOP_SIGNAL_ACK), "SignalAck");
}

static void test_oop_writes_what_powershell_writes(void **state)
{
	(void)state;
	rms_guid g;
	assert_int_equal(rms__guid_parse(&g, PG, 36, "x"), 0);
	rms_buf b;
	rms__buf_init(&b);
	assert_int_equal(rms__oop_write(&b, RMS_OOP_COMMAND, &g), 0);
	assert_string_equal(b.data, "<Command PSGuid='" PG "' />\n");
	rms__buf_free(&b);
	assert_int_equal(rms__oop_write_data(&b, &g, false, "\0\1\2\3\4", 5), 0);
	assert_string_equal(b.data, "<Data Stream='Default' PSGuid='" PG "'>AAECAwQ=</Data>\n");
	rms__buf_free(&b);
	assert_int_equal(rms__oop_write_data(&b, &g, true, "ab", 2), 0);
	assert_string_equal(b.data, "<Data Stream='PromptResponse' PSGuid='" PG "'>YWI=</Data>\n");
	rms__buf_free(&b);
	assert_error(rms__oop_write(&b, RMS_OOP_DATA, &g), RMS_E_INVALID_ARG, NULL);

	/* A large body round-trips through the chunked encoder. */
	unsigned char *big = pattern(40000);
	assert_int_equal(rms__oop_write_data(&b, &g, false, big, 40000), 0);
	rms_oop_packet p;
	assert_int_equal(rms__oop_parse(&p, b.data, b.len - 1), 0);
	assert_int_equal(p.len, 40000);
	assert_memory_equal(p.data, big, 40000);
	rms__oop_packet_clear(&p);
	rms__buf_free(&b);
	free(big);
}

static void test_oop_refuses_lines_that_are_not_packets(void **state)
{
	(void)state;
	static const struct {
		const char *line, *why;
	} bad[] = {
	    {"<Foo PSGuid='" PG "' />", "unknown element"},
	    {"<DataAckX PSGuid='" PG "' />", "unknown element"},
	    {"<DataAck />", "no PSGuid"},
	    {"<DataAck PSGuid='1234' />", "PSGuid is not a GUID"},
	    {"<DataAck PSGuid='" PG "' PSGuid='" PG "' />", "twice"},
	    {"<DataAck PSGuid='" PG "' Stream='Default' />", "unexpected attribute"},
	    {"<DataAck PSGuid='" PG "' Extra='1' />", "unexpected attribute"},
	    {"<DataAck PSGuid='" PG "'>", "'/>'"},
	    {"<DataAck PSGuid='" PG "' /> ", "'/>'"},
	    {"<DataAck PSGuid='" PG "\" />", "attribute value"},
	    {"<DataAck PSGuid=" PG " />", "not quoted"},
	    {"<DataAck PSGuid='" PG "'", "not closed"},
	    {"<Data PSGuid='" ZERO "'>AAAA</Data>", "Data without Stream"},
	    {"<Data Stream='Other' PSGuid='" ZERO "'>AAAA</Data>", "unknown Stream"},
	    {"<Data Stream='Default' PSGuid='" ZERO "' Extra='1'>AAAA</Data>",
	     "unexpected attribute"},
	    {"<Data Stream='Default' PSGuid='" ZERO "'>AAA*</Data>", "not base64"},
	    {"<Data Stream='Default' PSGuid='" ZERO "'>AAA</Data>", "not base64"},
	    {"<Data Stream='Default' PSGuid='" ZERO "'>AB==</Data>", "not base64"},
	    {"<Data Stream='Default' PSGuid='" ZERO "'>A===</Data>", "not base64"},
	    {"<Data Stream='Default' PSGuid='" ZERO "'>AA==AAAA</Data>", "not base64"},
	    {"<Data Stream='Default' PSGuid='" ZERO "'>AA AA</Data>", "not base64"},
	    {"<Data Stream='Default' PSGuid='" ZERO "'>AAAA</Data", "'</Data>'"},
	    {"<Data Stream='Default' PSGuid='" ZERO "' />", "without a body"},
	    {"<Data Stream='Default'PSGuid='" ZERO "'>AAAA</Data>", "malformed"},
	    {"", "not an XML element"},
	    {"__NamedPipeError__: Broken pipe", "not an XML element"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rms_oop_packet p;
		int rc = parse(&p, bad[i].line);
		if (rc != RMS_E_PROTOCOL)
			fail_msg("line %zu accepted: %s", i, bad[i].line);
		assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_DECODE);
		if (!strstr(last_message(), bad[i].why))
			fail_msg("line %zu: '%s' lacks '%s'", i, last_message(), bad[i].why);
		assert_null(p.data);
	}

	rms_oop_packet p;
	assert_protocol(parse(&p, "__NamedPipeError__: Broken pipe"),
	                "the PowerShell server sent a line that is not a packet: "
	                "'__NamedPipeError__: Broken pipe'");

	/* Quoted clipped, with non-printables escaped. */
	char line[400];
	memset(line, 'z', sizeof line);
	line[0] = '\x01';
	line[1] = '\xff';
	assert_protocol(rms__oop_parse(&p, line, sizeof line), "'\\x01\\xffzzz");
	assert_non_null(strstr(last_message(), "zzz...'"));
	assert_true(strlen(last_message()) < 300);
}

static void test_line_splitter_is_linear_bounded_and_limited(void **state)
{
	(void)state;
	rms_oop_lines l;
	const char *line;
	size_t len;
	rms__oop_lines_init(&l, 100);
	assert_int_equal(rms__oop_lines_feed(&l, "abc\nde", 6), 0);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(line, "abc", 3);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), RMS_ITEROVER);
	assert_int_equal(rms__oop_lines_pending(&l), 2);
	assert_int_equal(l.scanned, 2);
	assert_int_equal(rms__oop_lines_feed(&l, "f\n\nx", 4), 0);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(line, "def", 3);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), RMS_ITEROVER);
	assert_int_equal(rms__oop_lines_pending(&l), 1);
	rms__oop_lines_free(&l);

	/* One byte at a time: what was scanned is not scanned again. */
	rms__oop_lines_init(&l, RMS_OOP_LINE_MIN);
	for (size_t i = 0; i < 5000; i++) {
		assert_int_equal(rms__oop_lines_feed(&l, "y", 1), 0);
		assert_int_equal(rms__oop_lines_next(&l, &line, &len), RMS_ITEROVER);
		assert_int_equal(l.scanned, i + 1);
	}
	assert_int_equal(rms__oop_lines_feed(&l, "\n", 1), 0);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), 0);
	assert_int_equal(len, 5000);
	assert_int_equal(l.scanned, 0);

	/* A long stream of lines does not grow the buffer. */
	char chunk[1000];
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = i % 100 == 99 ? '\n' : 'q';
	size_t nlines = 0;
	for (int r = 0; r < 3000; r++) {
		/* fed off the line boundaries */
		assert_int_equal(rms__oop_lines_feed(&l, chunk, 37), 0);
		assert_int_equal(rms__oop_lines_feed(&l, chunk + 37, sizeof chunk - 37), 0);
		int rc;
		while ((rc = rms__oop_lines_next(&l, &line, &len)) == 0) {
			assert_int_equal(len, 99);
			nlines++;
		}
		assert_int_equal(rc, RMS_ITEROVER);
	}
	assert_int_equal(nlines, 3000 * 10);
	assert_true(l.buf.cap <= 16384);
	rms__oop_lines_free(&l);

	/* max_line: without a line break, and with one. */
	rms__oop_lines_init(&l, 100);
	char longl[150];
	memset(longl, 'w', sizeof longl);
	assert_int_equal(rms__oop_lines_feed(&l, longl, 100), 0);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), RMS_ITEROVER);
	assert_int_equal(rms__oop_lines_feed(&l, longl, 50), 0);
	assert_error(rms__oop_lines_next(&l, &line, &len), RMS_E_LIMIT, "more than 100 bytes");
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_LIMIT);
	assert_string_equal(rms_error_limit_name(rms_error_last()), "max_line");
	assert_int_equal(rms__oop_lines_pending(&l), 150);
	/* Feeding more is refused too: the buffer stops growing. */
	assert_error(rms__oop_lines_feed(&l, longl, 50), RMS_E_LIMIT, "more than 100 bytes");
	assert_int_equal(rms__oop_lines_pending(&l), 150);
	rms__oop_lines_free(&l);

	rms__oop_lines_init(&l, 100);
	longl[120] = '\n';
	assert_int_equal(rms__oop_lines_feed(&l, longl, 150), 0);
	assert_error(rms__oop_lines_next(&l, &line, &len), RMS_E_LIMIT, "more than 100 bytes");
	rms__oop_lines_free(&l);

	rms__oop_lines_init(&l, 100); /* exactly max_line is fine */
	longl[100] = '\n';
	assert_int_equal(rms__oop_lines_feed(&l, longl, 101), 0);
	assert_int_equal(rms__oop_lines_next(&l, &line, &len), 0);
	assert_int_equal(len, 100);
	rms__oop_lines_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_recorded_conversation_opens_acks_and_closes_alike),
	    cmocka_unit_test(test_lines_and_client_fragments_are_written_again_byte_for_byte),
	    cmocka_unit_test(test_range_gives_three_outputs_then_completed),
	    cmocka_unit_test(test_streams_carry_records_and_host_calls),
	    cmocka_unit_test(test_input_travels_in_one_data_line),
	    cmocka_unit_test(test_stop_signals_and_the_pipeline_stops),
	    cmocka_unit_test(test_big_output_comes_in_65_fragments_one_per_line),
	    cmocka_unit_test(test_two_pipelines_and_max_runspaces),
	    cmocka_unit_test(test_guid_uses_dotnet_byte_order),
	    cmocka_unit_test(test_message_pack_unpack_and_names),
	    cmocka_unit_test(test_fragmenter_cuts_at_the_boundaries),
	    cmocka_unit_test(test_interleaved_objects_are_reassembled_in_order_of_completion),
	    cmocka_unit_test(test_fragments_prefix_takes_whole_fragments_only),
	    cmocka_unit_test(test_defrag_refuses_broken_fragment_streams),
	    cmocka_unit_test(test_defrag_claimed_2gb_object_does_not_allocate_it),
	    cmocka_unit_test(test_defrag_many_small_messages_hold_no_slack),
	    cmocka_unit_test(test_defrag_allows_64_objects_in_progress_not_65),
	    cmocka_unit_test(test_oop_parses_the_forms_powershell_sends),
	    cmocka_unit_test(test_oop_writes_what_powershell_writes),
	    cmocka_unit_test(test_oop_refuses_lines_that_are_not_packets),
	    cmocka_unit_test(test_line_splitter_is_linear_bounded_and_limited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
