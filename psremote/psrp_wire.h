/*
 * Internal: the PowerShell remoting protocol's wire units, without I/O
 * (MS-PSRP 2.2.1 messages, 2.2.4 fragments; facts.md §3.1-3.3).
 *
 *   message   40-byte little-endian header (destination, type, runspace
 *             pool id, pipeline id as GUIDs in .NET byte order) + CLIXML
 *   fragment  21-byte big-endian header (ObjectId, FragmentId, start/end
 *             flags, BlobLength) + a slice of one message
 *
 * Outgoing messages are cut into fragments no larger than the transport's
 * maximum (32,768 bytes over SSH, from MaxEnvelopeSize over WinRM);
 * incoming fragments are put back together, those of several messages
 * interleaved, with every length checked and the object-size cap
 * (MaximumReceivedObjectSize) applied while the message grows, so memory is
 * bounded by one message.
 */
#ifndef RMS_PSREMOTE_PSRP_WIRE_H
#define RMS_PSREMOTE_PSRP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define RMS_PSRP_FRAGMENT_HEADER 21
#define RMS_PSRP_MESSAGE_HEADER 40
/* Over SSH (OutOfProc) a fragment is at most this, header included. */
#define RMS_PSRP_OOP_FRAGMENT_MAX 32768

#define RMS_PSRP_FLAG_START 0x1
#define RMS_PSRP_FLAG_END 0x2

#define RMS_PSRP_DEST_CLIENT 0x1
#define RMS_PSRP_DEST_SERVER 0x2

/* Message types (MS-PSRP 2.2.1; facts.md §3.3). */
enum {
	RMS_PSRP_SESSION_CAPABILITY = 0x00010002,
	RMS_PSRP_CLOSE_SESSION = 0x00010003,
	RMS_PSRP_INIT_RUNSPACEPOOL = 0x00010004,
	RMS_PSRP_PUBLIC_KEY = 0x00010005,
	RMS_PSRP_ENCRYPTED_SESSION_KEY = 0x00010006,
	RMS_PSRP_PUBLIC_KEY_REQUEST = 0x00010007,
	RMS_PSRP_CONNECT_RUNSPACEPOOL = 0x00010008,
	RMS_PSRP_SET_MAX_RUNSPACES = 0x00021002,
	RMS_PSRP_SET_MIN_RUNSPACES = 0x00021003,
	RMS_PSRP_RUNSPACE_AVAILABILITY = 0x00021004,
	RMS_PSRP_RUNSPACEPOOL_STATE = 0x00021005,
	RMS_PSRP_CREATE_PIPELINE = 0x00021006,
	RMS_PSRP_GET_AVAILABLE_RUNSPACES = 0x00021007,
	RMS_PSRP_USER_EVENT = 0x00021008,
	RMS_PSRP_APPLICATION_PRIVATE_DATA = 0x00021009,
	RMS_PSRP_GET_COMMAND_METADATA = 0x0002100A,
	RMS_PSRP_RUNSPACEPOOL_INIT_DATA = 0x0002100B,
	RMS_PSRP_RESET_RUNSPACE_STATE = 0x0002100C,
	RMS_PSRP_RUNSPACEPOOL_HOST_CALL = 0x00021100,
	RMS_PSRP_RUNSPACEPOOL_HOST_RESPONSE = 0x00021101,
	RMS_PSRP_PIPELINE_INPUT = 0x00041002,
	RMS_PSRP_END_OF_PIPELINE_INPUT = 0x00041003,
	RMS_PSRP_PIPELINE_OUTPUT = 0x00041004,
	RMS_PSRP_ERROR_RECORD = 0x00041005,
	RMS_PSRP_PIPELINE_STATE = 0x00041006,
	RMS_PSRP_DEBUG_RECORD = 0x00041007,
	RMS_PSRP_VERBOSE_RECORD = 0x00041008,
	RMS_PSRP_WARNING_RECORD = 0x00041009,
	RMS_PSRP_PROGRESS_RECORD = 0x00041010,
	RMS_PSRP_INFORMATION_RECORD = 0x00041011,
	RMS_PSRP_PIPELINE_HOST_CALL = 0x00041100,
	RMS_PSRP_PIPELINE_HOST_RESPONSE = 0x00041101
};

/* "SESSION_CAPABILITY", ... ; NULL for a type MS-PSRP does not define. */
const char *rms__psrp_message_name(uint32_t type);

/* ---- GUIDs ---------------------------------------------------------------- */

/* A GUID as 16 bytes in .NET's Guid.ToByteArray() order (the first three
 * groups little-endian): the order of the message header. */
typedef struct rms_guid {
	uint8_t b[16];
} rms_guid;

bool rms__guid_is_zero(const rms_guid *g);
bool rms__guid_equal(const rms_guid *a, const rms_guid *b);
/* A random (version 4) GUID. Returns 0 or an error (raised). */
int rms__guid_random(rms_guid *out);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case, into out[37]. */
void rms__guid_format(const rms_guid *g, char out[37]);
/* The 36-character form, any case. RMS_E_PARSE (raised, naming `what`)
 * otherwise. */
int rms__guid_parse(rms_guid *out, const char *text, size_t len, const char *what);

/* ---- messages -------------------------------------------------------------- */

typedef struct rms_psrp_message {
	uint32_t destination; /* RMS_PSRP_DEST_* */
	uint32_t type;
	rms_guid rpid; /* the runspace pool */
	rms_guid pid;  /* the pipeline; zero for a pool message */
	/* The CLIXML text with any UTF-8 byte-order mark removed: points
	 * into the buffer given to unpack. */
	const char *data;
	size_t len;
} rms_psrp_message;

/* Append header and data (no byte-order mark is written). */
int rms__psrp_message_pack(rms_buf *out, uint32_t destination, uint32_t type,
                           const rms_guid *rpid, const rms_guid *pid, const void *data,
                           size_t len);
/* Read a whole message. RMS_E_PROTOCOL (raised, saying what is wrong)
 * for fewer than 40 bytes, a destination other than client or server, or
 * a type MS-PSRP does not define (the number is named). */
int rms__psrp_message_unpack(rms_psrp_message *out, const void *buf, size_t len);

/* ---- fragments: out ------------------------------------------------------- */

/* Cuts messages into fragments. Object ids count from 1 per fragmenter. */
typedef struct rms_psrp_fragmenter {
	uint64_t next_object_id;
	size_t max_fragment; /* header included; > RMS_PSRP_FRAGMENT_HEADER */
} rms_psrp_fragmenter;

void rms__psrp_fragmenter_init(rms_psrp_fragmenter *f, size_t max_fragment);

/*
 * Append to out the fragments of one message (msg[0..len)), back to back,
 * each at most f->max_fragment bytes; *nfragments (may be NULL) gets their
 * number. A message of 0 bytes is refused (messages are never empty).
 */
int rms__psrp_fragment(rms_psrp_fragmenter *f, rms_buf *out, const void *msg, size_t len,
                       size_t *nfragments);

/* Where the fragments in buf[0..len) end: the largest prefix made of whole
 * fragments that is at most max bytes (0 when the first fragment is larger
 * than max, or buf holds no whole fragment). For a transport that sends
 * queued fragments in pieces of a bounded size. */
size_t rms__psrp_fragments_prefix(const void *buf, size_t len, size_t max);

/* ---- fragments: in --------------------------------------------------------- */

/* Puts messages back together. Each fragment is checked: its length
 * against the bytes there, the start flag on fragment 0 only, fragment
 * ids consecutive per object, no object started twice, no more than
 * RMS_PSRP_MAX_PARTIAL objects in progress at once, and an object's size
 * against max_object as it grows. Any violation is RMS_E_PROTOCOL saying
 * which object and fragment; exceeding max_object is RMS_E_LIMIT
 * ("... exceeds MaximumReceivedObjectSize (N bytes)"). After an error the
 * defragmenter is unusable (the stream cannot be resynchronised). */
#define RMS_PSRP_MAX_PARTIAL 64

typedef struct rms_psrp_defrag rms_psrp_defrag;

/* max_object: bytes of one whole message (header included); UINT64_MAX
 * for no cap. */
int rms__psrp_defrag_new(rms_psrp_defrag **out, uint64_t max_object);
void rms__psrp_defrag_free(rms_psrp_defrag *d);

/* Feed data[0..len): any number of whole fragments (a fragment never spans
 * two transport messages, MS-PSRP 3.1.5.1.2: a fragment cut short is an
 * error). Completed messages queue up in arrival order of their last
 * fragment; take them with rms__psrp_defrag_next. */
int rms__psrp_defrag_feed(rms_psrp_defrag *d, const void *data, size_t len);

/* The next completed message: 0 with *msg (owned by the caller, free with
 * free()) and *len, or RMS_ITEROVER when none is complete. */
int rms__psrp_defrag_next(rms_psrp_defrag *d, unsigned char **msg, size_t *len);

/* Bytes held now (partial and completed messages): for tests of the
 * memory bound. */
size_t rms__psrp_defrag_held(const rms_psrp_defrag *d);

#endif
