/*
 * Internal: a PowerShell runspace pool and its pipelines, as the client
 * side of MS-PSRP, without I/O: what to send comes out as "sends", what the
 * server sent goes in as fragment bytes, and what it means comes out as
 * pool state and per-pipeline events. A transport adapter (OutOfProc over
 * SSH: ps_psrp_ssh.c; WinRS later) maps sends to its own packets.
 *
 *   pool open     SESSION_CAPABILITY + INIT_RUNSPACEPOOL, then the server's
 *                 SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA and
 *                 RUNSPACEPOOL_STATE Opened (Broken with its error);
 *   pipelines     CREATE_PIPELINE (a script, or commands with parameters,
 *                 chained, with stream merging), PIPELINE_INPUT and
 *                 END_OF_PIPELINE_INPUT, output, the records of the other
 *                 streams, PIPELINE_STATE Completed / Failed / Stopped;
 *   host calls    a non-interactive host: a call with call id -100 needs
 *                 no answer; any other gets an error answer at once;
 *   runspaces     SET_MAX_RUNSPACES / SET_MIN_RUNSPACES and their answers;
 *   connect       to a pool another client left disconnected (protocol 2.2+,
 *                 MS-PSRP 3.1.4.10.3): SESSION_CAPABILITY + CONNECT_RUNSPACEPOOL,
 *                 then the server's SESSION_CAPABILITY and RUNSPACEPOOL_INIT_DATA
 *                 (its runspaces) make it Opened; its pipelines are attached by
 *                 id (no CREATE_PIPELINE) and give what they wrote meanwhile.
 *
 * Received messages are checked against MaximumReceivedObjectSize while
 * they are put back together; memory is bounded by one message plus the
 * events the caller has not taken.
 */
#ifndef RMS_PSREMOTE_PSRP_POOL_H
#define RMS_PSREMOTE_PSRP_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "psrp_wire.h"
#include "remsess/operation.h"
#include "remsess/value.h"
#include "util.h"

typedef struct rms_psrp_pool rms_psrp_pool;
typedef struct rms_psrp_pipeline rms_psrp_pipeline;

typedef enum rms_psrp_pool_state {
	RMS_PSRP_POOL_OPENING = 0,
	RMS_PSRP_POOL_OPENED,
	RMS_PSRP_POOL_CLOSING,
	RMS_PSRP_POOL_CLOSED,
	RMS_PSRP_POOL_BROKEN
} rms_psrp_pool_state;

typedef struct rms_psrp_pool_config {
	int min_runspaces;      /* 0: 1 */
	int max_runspaces;      /* 0: 1 */
	size_t max_fragment;    /* the transport's, header included */
	uint64_t max_object;    /* MaximumReceivedObjectSize; UINT64_MAX: none */
	const char *protocol_version; /* NULL: "2.3" */
} rms_psrp_pool_config;

/* What the pool asks its transport to send, in order. */
typedef enum rms_psrp_send_kind {
	RMS_PSRP_SEND_DATA = 0,     /* fragments for guid (pool or pipeline) */
	RMS_PSRP_SEND_CREATE,       /* a new pipeline (guid): its CREATE_PIPELINE fragments */
	RMS_PSRP_SEND_STOP,         /* stop pipeline guid (OutOfProc Signal, WinRS ctrl_c) */
	RMS_PSRP_SEND_CLOSE_PIPELINE, /* the pipeline guid is done with */
	RMS_PSRP_SEND_CLOSE_POOL,   /* close the pool */
	RMS_PSRP_SEND_ATTACH        /* read pipeline guid, which an earlier client started
	                               (WinRS: Connect CommandId=guid) */
} rms_psrp_send_kind;

typedef struct rms_psrp_send {
	rms_psrp_send_kind kind;
	rms_guid guid;        /* zero: the pool */
	bool prompt_response; /* DATA: a host answer (OutOfProc Stream='PromptResponse', WinRS 'pr') */
	rms_buf data;         /* DATA, CREATE: whole fragments, back to back */
} rms_psrp_send;

void rms__psrp_send_clear(rms_psrp_send *s);

int rms__psrp_pool_new(rms_psrp_pool **out, const rms_psrp_pool_config *cfg);
void rms__psrp_pool_free(rms_psrp_pool *p);

const rms_guid *rms__psrp_pool_id(const rms_psrp_pool *p);
rms_psrp_pool_state rms__psrp_pool_state(const rms_psrp_pool *p);
/* "Opening", "Opened", ... */
const char *rms__psrp_pool_state_name(rms_psrp_pool_state st);
/* Why it is Broken (or failed to open): a sentence, or NULL. */
const char *rms__psrp_pool_reason(const rms_psrp_pool *p);
/* The server's protocol version and PSVersion from its SESSION_CAPABILITY
 * (NULL before), and its APPLICATION_PRIVATE_DATA (NULL before). */
const char *rms__psrp_pool_server_protocol(const rms_psrp_pool *p);
const rms_value *rms__psrp_pool_private_data(const rms_psrp_pool *p);

/* Change the size messages queued from now on are cut to (a transport
 * that learnt its envelope size after the pool was made). */
void rms__psrp_pool_set_max_fragment(rms_psrp_pool *p, size_t max_fragment);

/* Queue SESSION_CAPABILITY and INIT_RUNSPACEPOOL (once). */
int rms__psrp_pool_open(rms_psrp_pool *p);
/* Queue SESSION_CAPABILITY and CONNECT_RUNSPACEPOOL for the pool id (a
 * shell another client left disconnected) instead of an open (once, and
 * not after rms__psrp_pool_open). The pool is Opened when the server's
 * RUNSPACEPOOL_INIT_DATA comes. */
int rms__psrp_pool_connect(rms_psrp_pool *p, const rms_guid *id);
/* The runspaces the server said the pool has (RUNSPACEPOOL_INIT_DATA);
 * 0 before. */
int rms__psrp_pool_max_runspaces(const rms_psrp_pool *p);
/* Whether the server's protocol version (SESSION_CAPABILITY) is at least
 * major.minor; false before it came. */
bool rms__psrp_pool_protocol_at_least(const rms_psrp_pool *p, int major, int minor);

/* Queue the pool's close (pipelines still running are abandoned). */
int rms__psrp_pool_close(rms_psrp_pool *p);
/* The transport saw the close acknowledged, or the server gone: Closed. */
void rms__psrp_pool_closed(rms_psrp_pool *p);
/* The transport lost the server (it exited, the connection dropped):
 * Broken with this reason; every pipeline fails with it. */
void rms__psrp_pool_lost(rms_psrp_pool *p, const char *reason);

/* The transport dropped pipeline id before anything of it reached the
 * server (it was stopped before its Command went out): it ends as Stopped
 * with why, and no close is sent for it. */
void rms__psrp_pipeline_dropped(rms_psrp_pool *p, const rms_guid *id, const char *why);

/* The carrier says pipeline id ended without its final state (WinRS
 * CommandState Done before PIPELINE_STATE): Failed with why, if it has not
 * ended already. */
void rms__psrp_pipeline_ended_by_carrier(rms_psrp_pool *p, const rms_guid *id, const char *why);

/* Ask for max_runspaces (SET_MAX_RUNSPACES with a call id); the answer
 * comes as rms__psrp_pool_runspaces_answer. */
int rms__psrp_pool_set_max_runspaces(rms_psrp_pool *p, int n);
int rms__psrp_pool_set_min_runspaces(rms_psrp_pool *p, int n);
/* 1 answered yes, 0 answered no, RMS_EAGAIN not yet answered. */
int rms__psrp_pool_runspaces_answer(const rms_psrp_pool *p);

/* The next thing to send: 0 with *out (the caller owns its data; clear
 * with rms__psrp_send_clear), RMS_ITEROVER when nothing is queued. */
int rms__psrp_pool_take(rms_psrp_pool *p, rms_psrp_send *out);
bool rms__psrp_pool_has_sends(const rms_psrp_pool *p);

/*
 * Feed what the server sent: whole fragments (any number). Completed
 * messages are handled at once: pool messages change the pool, pipeline
 * messages become events of their pipeline (messages for a pipeline the
 * caller freed are dropped). A malformed or unexpected message, or one
 * over MaximumReceivedObjectSize, is an error: the pool is then Broken
 * (the stream cannot be trusted) and the error raised.
 */
int rms__psrp_pool_feed(rms_psrp_pool *p, const void *data, size_t len);

/* ---- pipelines -------------------------------------------------------------- */

/* Records come on the streams of remsess/operation.h (rms_ps_stream). */

typedef enum rms_psrp_pipeline_state {
	RMS_PSRP_PIPELINE_RUNNING = 1,
	RMS_PSRP_PIPELINE_STOPPING = 2,
	RMS_PSRP_PIPELINE_STOPPED = 3,
	RMS_PSRP_PIPELINE_COMPLETED = 4,
	RMS_PSRP_PIPELINE_FAILED = 5
} rms_psrp_pipeline_state;

/* One command of a pipeline. */
typedef struct rms_psrp_param {
	const char *name;      /* NULL: a positional argument */
	const rms_value *value; /* NULL: a switch (name given) */
} rms_psrp_param;

typedef struct rms_psrp_command {
	const char *text;   /* a command name, or a script */
	bool is_script;
	bool use_local_scope;
	bool merge_errors;  /* 2>&1: this command's errors go to its output */
	const rms_psrp_param *params;
	size_t nparams;
} rms_psrp_command;

typedef struct rms_psrp_pipeline_spec {
	const rms_psrp_command *commands; /* chained with | */
	size_t ncommands;
	bool has_input; /* input comes (rms__psrp_pipeline_input...); else NoInput */
} rms_psrp_pipeline_spec;

/* Create a pipeline on an Opened pool and queue its CREATE_PIPELINE. */
int rms__psrp_pipeline_new(rms_psrp_pipeline **out, rms_psrp_pool *p,
                           const rms_psrp_pipeline_spec *spec);
/* A pipeline an earlier client started on this pool (by its id): no
 * CREATE_PIPELINE; an ATTACH send asks the carrier to read it. Its events
 * are what the server kept for it. */
int rms__psrp_pipeline_attach(rms_psrp_pipeline **out, rms_psrp_pool *p, const rms_guid *id);
/* Free: a pipeline not finished is stopped first; one not closed gets its
 * close queued. The pool keeps nothing of it. */
void rms__psrp_pipeline_free(rms_psrp_pipeline *pl);

const rms_guid *rms__psrp_pipeline_id(const rms_psrp_pipeline *pl);
/* Queue one input object (PIPELINE_INPUT), or the end of input. */
int rms__psrp_pipeline_input(rms_psrp_pipeline *pl, const rms_value *v);
int rms__psrp_pipeline_input_end(rms_psrp_pipeline *pl);
/* Queue a stop (once). */
int rms__psrp_pipeline_stop(rms_psrp_pipeline *pl);

typedef struct rms_psrp_event {
	/* An object on a stream (owned by the caller), or, with done set, the
	 * pipeline's end: state, and for Failed/Stopped the error record (owned
	 * by the caller, may be NULL) and its message. */
	rms_ps_stream stream;
	rms_value *value;
	bool done;
	rms_psrp_pipeline_state state;
	char *message; /* done: why it failed or stopped (owned; NULL when completed) */
} rms_psrp_event;

void rms__psrp_event_clear(rms_psrp_event *ev);

/* The next event: 0 with *ev, RMS_EAGAIN when none is queued (feed more),
 * RMS_ITEROVER after the end was given, or a failure: the pool broke. */
int rms__psrp_pipeline_next(rms_psrp_pipeline *pl, rms_psrp_event *ev);
/* Bytes of CLIXML received for this pipeline so far. */
uint64_t rms__psrp_pipeline_received(const rms_psrp_pipeline *pl);
bool rms__psrp_pipeline_done(const rms_psrp_pipeline *pl);
/* Whether an event is queued (next would not return RMS_EAGAIN). */
bool rms__psrp_pipeline_has_event(const rms_psrp_pipeline *pl);


#endif
