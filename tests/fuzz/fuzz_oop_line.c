/* OutOfProc lines (psremote/psrp_oop.c): the input goes through the line
 * splitter (max_line 4 KiB, fed in two pieces cut where the first byte
 * says), every whole line through rms__oop_parse, and every packet parsed
 * is written again and must parse to the same packet. */
#include "fuzz_common.h"
#include "psrp_oop.h"

static void round_trip(const rms_oop_packet *p)
{
	rms_buf b;
	rms__buf_init(&b);
	int rc = p->kind == RMS_OOP_DATA
	             ? rms__oop_write_data(&b, &p->guid, p->prompt_response, p->data, p->len)
	             : rms__oop_write(&b, p->kind, &p->guid);
	if (rc || b.len == 0 || b.data[b.len - 1] != '\n')
		abort();
	rms_oop_packet q;
	if (rms__oop_parse(&q, b.data, b.len - 1))
		abort();
	if (q.kind != p->kind || !rms__guid_equal(&q.guid, &p->guid) ||
	    q.prompt_response != p->prompt_response || q.len != p->len ||
	    (p->len && memcmp(q.data, p->data, p->len)))
		abort();
	rms__oop_packet_clear(&q);
	rms__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rms_oop_lines l;
	rms__oop_lines_init(&l, 4096);
	size_t cut = size ? (size_t)data[0] * size / 256 : 0;
	const size_t piece[2][2] = {{0, cut}, {cut, size - cut}};
	int rc = 0;
	for (int i = 0; i < 2 && rc != RMS_E_LIMIT; i++) {
		if (rms__oop_lines_feed(&l, data + piece[i][0], piece[i][1]))
			abort();
		const char *line;
		size_t len;
		while ((rc = rms__oop_lines_next(&l, &line, &len)) == 0) {
			if (len > 4096 || memchr(line, '\n', len))
				abort();
			rms_oop_packet p;
			if (rms__oop_parse(&p, line, len) == 0)
				round_trip(&p);
			rms__oop_packet_clear(&p);
		}
		if (rc != RMS_ITEROVER && rc != RMS_E_LIMIT)
			abort();
	}
	if (rms__oop_lines_pending(&l) > size)
		abort();
	rms__oop_lines_free(&l);
	fuzz_done();
	return 0;
}
