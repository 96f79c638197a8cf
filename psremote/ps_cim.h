/*
 * CIM operations through the PSSession: get, enumerate and query run on the
 * remote computer as a PowerShell command (Get-CimInstance), and only its
 * output comes back, through the shell and its limits.
 *
 * The command is `powershell.exe ... -EncodedCommand <script>`. The script
 * takes its parameters from one JSON line and writes one JSON line per
 * instance on stdout:
 *
 *   {"class":C,"namespace":NS,"props":[{"name":N,"type":T,"array":B,"value":V,"key":K}...]}
 *
 * T is the property's CimType name as PowerShell prints it ("UInt32",
 * "DateTime", "Reference", ...). V is null, a scalar's invariant text form
 * (booleans "true"/"false", reals round-trip, datetimes ISO 8601, intervals
 * xs:duration), an array of those, or for references {"class","namespace",
 * "keys":[props]} and for embedded instances a nested instance object. K
 * (optional) marks a key property. A
 * failure is one line {"error":{"message":M,"status":CIM status}} and exit
 * code 1; a PowerShell without Get-CimInstance writes such a line with
 * status 0 and "missing":"Get-CimInstance". docs/pssession.md describes the format; the test endpoint
 * (tests/endpoint/winrm_endpoint/pscim.py) answers the same script.
 */
#ifndef RMS_PSREMOTE_PS_CIM_H
#define RMS_PSREMOTE_PS_CIM_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "util.h"

/* cmd.exe's longest command line: a longer one is refused before sending. */
#define RMS_PS_CIM_MAX_COMMAND_LINE 8191u

/* A command line for the WinRS Command request. */
typedef struct rms_ps_cim_command {
	char *command;
	char **argv;
	size_t argc;
} rms_ps_cim_command;

/* The command that runs req (RMS_OP_GET, ENUMERATE or QUERY) in namespace
 * ns. RMS_E_INVALID_ARG when the command line would exceed cmd.exe's limit. */
int rms__ps_cim_command(rms_ps_cim_command *out, const rms_request *req, const char *ns);
void rms__ps_cim_command_free(rms_ps_cim_command *c);

/* The PowerShell script alone (UTF-8), for tests and docs. */
int rms__ps_cim_script(char **out, const rms_request *req, const char *ns);

/* Splits the command's stdout into lines and decodes each into an
 * instance; keeps the first part of stderr for error messages. */
typedef struct rms_ps_cim_reader {
	rms_buf out;       /* stdout not yet decoded: out.data[start..len) */
	size_t start;      /* first byte of the current line */
	size_t scan;       /* where the search for '\n' goes on */
	uint64_t max_line; /* MaximumReceivedObjectSize (0: none) */
	uint64_t line_len; /* bytes of the unterminated last line buffered */
	rms_buf err;       /* the first RMS_PS_CIM_STDERR_KEEP bytes of stderr */
	uint64_t err_total;
	char *ns; /* namespace for instances whose line names none */
} rms_ps_cim_reader;

#define RMS_PS_CIM_STDERR_KEEP 2048u

int rms__ps_cim_reader_init(rms_ps_cim_reader *r, uint64_t max_line, const char *ns);
void rms__ps_cim_reader_free(rms_ps_cim_reader *r);
/* Output of the command, in order. RMS_E_LIMIT when one line (one object)
 * grows past max_line. */
int rms__ps_cim_feed(rms_ps_cim_reader *r, rms_stream stream, const void *data, size_t len);
/* The next instance: 0 with *out set, RMS_EAGAIN when no whole line is
 * buffered, or the error of a line (a remote error, malformed JSON). */
int rms__ps_cim_take(rms_ps_cim_reader *r, rms_instance **out);
/* Whether a whole line is buffered (rms__ps_cim_take will not return
 * RMS_EAGAIN). */
bool rms__ps_cim_ready(const rms_ps_cim_reader *r);
/* After the command ended with exit_code: 0 with *out set when an
 * unterminated last line holds an instance, RMS_ITEROVER when all is read,
 * or the failure the exit code and stderr describe. */
int rms__ps_cim_end(rms_ps_cim_reader *r, int exit_code, rms_instance **out);

/* One output line (without its line break) into an instance. */
int rms__ps_cim_decode_line(rms_instance **out, const char *line, size_t len,
                            const char *fallback_ns);

#endif
