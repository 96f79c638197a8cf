/*
 * Internal: the OutOfProc framing that PowerShell speaks over SSH (the
 * `powershell` subsystem, `pwsh -sshs`), over a child's pipes and named
 * pipes (facts.md §3.7; ../shared/fixtures/pwsh-7.6.10-ssh/README.md).
 * Without I/O: lines in, packets out; packets in, lines out.
 *
 * One XML element per line, '\n'-terminated, UTF-8:
 *   <Data Stream='Default' PSGuid='G'>BASE64</Data>   (Stream 'PromptResponse' too)
 *   <DataAck PSGuid='G' />  <Command PSGuid='G' />  <CommandAck PSGuid='G' />
 *   <Signal PSGuid='G' />   <SignalAck PSGuid='G' />
 *   <Close PSGuid='G' />    <CloseAck PSGuid='G' />
 * G is a GUID in its 36-character form, all zeros for the runspace pool.
 */
#ifndef RMS_PSREMOTE_PSRP_OOP_H
#define RMS_PSREMOTE_PSRP_OOP_H

#include <stdbool.h>
#include <stddef.h>

#include "psrp_wire.h"
#include "util.h"

typedef enum rms_oop_kind {
	RMS_OOP_DATA = 0,
	RMS_OOP_DATA_ACK,
	RMS_OOP_COMMAND,
	RMS_OOP_COMMAND_ACK,
	RMS_OOP_SIGNAL,
	RMS_OOP_SIGNAL_ACK,
	RMS_OOP_CLOSE,
	RMS_OOP_CLOSE_ACK
} rms_oop_kind;

/* "Data", "DataAck", ... (the element names). */
const char *rms__oop_kind_name(rms_oop_kind kind);

typedef struct rms_oop_packet {
	rms_oop_kind kind;
	rms_guid guid;
	bool prompt_response; /* Data on Stream='PromptResponse' */
	/* Data only: the decoded bytes (PSRP fragments), owned by the packet. */
	unsigned char *data;
	size_t len;
} rms_oop_packet;

void rms__oop_packet_clear(rms_oop_packet *p);

/*
 * Parse one line (without its '\n'; a trailing '\r' is allowed). The
 * element, its attributes (single or double quotes, any order, exactly the
 * ones the kind has) and, for Data, strict base64 are checked. Anything
 * else is RMS_E_PROTOCOL (raised) quoting the start of the line, e.g.
 * "the PowerShell server sent a line that is not a packet:
 * '__NamedPipeError__: ...'".
 */
int rms__oop_parse(rms_oop_packet *out, const char *line, size_t len);

/* Append one packet's line, '\n' included. */
int rms__oop_write_data(rms_buf *out, const rms_guid *guid, bool prompt_response,
                        const void *data, size_t len);
int rms__oop_write(rms_buf *out, rms_oop_kind kind, const rms_guid *guid);

/*
 * Splits a byte stream into lines. Bytes are appended as they arrive; a
 * line longer than max_line (not counting '\n') is RMS_E_LIMIT, so a
 * server that never ends a line cannot take unbounded memory. A 32 KiB
 * fragment is about 44 KB of base64, so max_line must allow at least
 * RMS_OOP_LINE_MIN.
 */
#define RMS_OOP_LINE_MIN (64u * 1024u)

typedef struct rms_oop_lines {
	rms_buf buf;     /* bytes not yet returned */
	size_t start;    /* where the next line starts in buf */
	size_t scanned;  /* bytes from start already known to hold no '\n' */
	size_t max_line;
} rms_oop_lines;

void rms__oop_lines_init(rms_oop_lines *l, size_t max_line);
void rms__oop_lines_free(rms_oop_lines *l);
int rms__oop_lines_feed(rms_oop_lines *l, const void *data, size_t len);
/* 0 with the next whole line (borrowed until the next feed or next call,
 * '\n' removed), RMS_ITEROVER when no whole line is there yet, or
 * RMS_E_LIMIT. */
int rms__oop_lines_next(rms_oop_lines *l, const char **line, size_t *len);
/* Bytes of an unfinished last line (what was left when the stream ended). */
size_t rms__oop_lines_pending(const rms_oop_lines *l);

#endif
