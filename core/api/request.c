/*
 * Requests: what an operation should do, independent of who does it.
 * Setters check that a field belongs to the request's kind, so that a
 * mistake (a command on an enumerate request) is reported where it is made.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "defaults.h"

static const char *const kind_names[] = {
	[RMS_OP_IDENTIFY] = "identify",     [RMS_OP_GET] = "get",
	[RMS_OP_ENUMERATE] = "enumerate",   [RMS_OP_QUERY] = "query",
	[RMS_OP_INVOKE] = "invoke",         [RMS_OP_CREATE] = "create",
	[RMS_OP_MODIFY] = "modify",         [RMS_OP_DELETE] = "delete",
	[RMS_OP_ASSOCIATORS] = "associators", [RMS_OP_REFERENCES] = "references",
	[RMS_OP_GET_CLASS] = "get class",   [RMS_OP_RUN] = "run",
};

const char *rms_op_kind_name(rms_op_kind kind)
{
	if ((unsigned)kind < sizeof kind_names / sizeof kind_names[0])
		return kind_names[kind];
	return "unknown";
}

#define K(kind) (1u << (kind))
/* Which kinds each field applies to. */
#define FOR_NAMESPACE (~(K(RMS_OP_IDENTIFY) | K(RMS_OP_RUN)))
#define FOR_CLASS (K(RMS_OP_ENUMERATE) | K(RMS_OP_GET_CLASS) | K(RMS_OP_CREATE) | K(RMS_OP_INVOKE))
#define FOR_REF                                                                                    \
	(K(RMS_OP_GET) | K(RMS_OP_MODIFY) | K(RMS_OP_DELETE) | K(RMS_OP_INVOKE) |                    \
	 K(RMS_OP_ASSOCIATORS) | K(RMS_OP_REFERENCES))
#define FOR_QUERY K(RMS_OP_QUERY)
#define FOR_METHOD K(RMS_OP_INVOKE)
#define FOR_INPUT (K(RMS_OP_INVOKE) | K(RMS_OP_CREATE) | K(RMS_OP_MODIFY))
#define FOR_ASSOC (K(RMS_OP_ASSOCIATORS) | K(RMS_OP_REFERENCES))
#define FOR_COMMAND K(RMS_OP_RUN)

static int check(const rms_request *req, unsigned kinds, const char *field)
{
	if (!req)
		return rms__error_field(RMS_E_INVALID_ARG, "request", "request is NULL");
	if (!(kinds & K(req->kind)))
		return rms__error_field(RMS_E_INVALID_ARG, field,
		                        "'%s' does not apply to a %s request", field,
		                        rms_op_kind_name(req->kind));
	return 0;
}

static int set_text(char **slot, const char *field, const char *value, bool allow_null)
{
	int rc = rms__check_text(field, value, allow_null);
	if (rc)
		return rc;
	return rms__set_str(slot, value) ? rms__error_nomem() : 0;
}

/* A CIM name (class, method, role) or, for "namespace", a namespace. */
static int set_name(char **slot, const char *field, const char *value, bool allow_null)
{
	int rc = strcmp(field, "namespace") == 0 ? rms__check_namespace(field, value, allow_null)
	                                         : rms__check_cim_name(field, value, allow_null);
	if (rc)
		return rc;
	return rms__set_str(slot, value) ? rms__error_nomem() : 0;
}

int rms_request_new(rms_request **out, rms_op_kind kind)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if ((unsigned)kind > RMS_OP_RUN)
		return rms__error_field(RMS_E_INVALID_ARG, "kind", "unknown operation kind %d",
		                        (int)kind);
	rms_request *r = calloc(1, sizeof *r);
	if (!r)
		return rms__error_nomem();
	r->kind = kind;
	*out = r;
	return 0;
}

static void free_argv(rms_request *r)
{
	for (size_t i = 0; i < r->argc; i++)
		free(r->argv[i]);
	free(r->argv);
	r->argv = NULL;
	r->argc = 0;
}

void rms_request_free(rms_request *r)
{
	if (!r)
		return;
	free(r->cim_namespace);
	free(r->class_name);
	rms_ref_free(r->ref);
	free(r->dialect);
	free(r->query);
	free(r->method);
	rms_instance_free(r->input);
	free(r->assoc_class);
	free(r->result_class);
	free(r->role);
	free(r->result_role);
	free(r->command);
	free_argv(r);
	free(r->stdin_data);
	free(r);
}

rms_op_kind rms_request_kind(const rms_request *req)
{
	return req ? req->kind : RMS_OP_IDENTIFY;
}

int rms_request_set_namespace(rms_request *req, const char *ns)
{
	int rc = check(req, FOR_NAMESPACE, "namespace");
	return rc ? rc : set_name(&req->cim_namespace, "namespace", ns, true);
}

int rms_request_set_class(rms_request *req, const char *class_name)
{
	int rc = check(req, FOR_CLASS, "class");
	return rc ? rc : set_name(&req->class_name, "class", class_name, false);
}

int rms_request_set_ref(rms_request *req, const rms_ref *ref)
{
	int rc = check(req, FOR_REF, "ref");
	if (rc)
		return rc;
	if (!ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref", "ref is NULL");
	rms_ref *copy;
	if ((rc = rms_ref_dup(&copy, ref)))
		return rc;
	rms_ref_free(req->ref);
	req->ref = copy;
	return 0;
}

int rms_request_set_query(rms_request *req, const char *dialect, const char *text)
{
	int rc = check(req, FOR_QUERY, "query");
	if (rc)
		return rc;
	/* A query may span lines; other control characters are refused. */
	if (!text || !*text)
		return rms__error_field(RMS_E_INVALID_ARG, "query", "query is empty");
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
			return rms__error_field(RMS_E_INVALID_ARG, "query",
			                        "query contains a control character (0x%02x)", *p);
	if (!rms__utf8_valid(text, strlen(text)))
		return rms__error_field(RMS_E_INVALID_ARG, "query", "query is not valid UTF-8");
	if (rms__set_str(&req->query, text))
		return rms__error_nomem();
	return set_text(&req->dialect, "dialect", dialect ? dialect : RMS_DIALECT_WQL, false);
}

int rms_request_set_method(rms_request *req, const char *method)
{
	int rc = check(req, FOR_METHOD, "method");
	return rc ? rc : set_name(&req->method, "method", method, false);
}

int rms_request_set_input(rms_request *req, const rms_instance *input)
{
	int rc = check(req, FOR_INPUT, "input");
	if (rc)
		return rc;
	if (!input)
		return rms__error_field(RMS_E_INVALID_ARG, "input", "input is NULL");
	rms_instance *copy;
	if ((rc = rms_instance_dup(&copy, input)))
		return rc;
	rms_instance_free(req->input);
	req->input = copy;
	return 0;
}

int rms_request_set_association(rms_request *req, const char *association_class,
                                const char *result_class, const char *role,
                                const char *result_role)
{
	int rc = check(req, FOR_ASSOC, "association");
	if (rc)
		return rc;
	if ((rc = set_name(&req->assoc_class, "association_class", association_class, true)) ||
	    (rc = set_name(&req->result_class, "result_class", result_class, true)) ||
	    (rc = set_name(&req->role, "role", role, true)) ||
	    (rc = set_name(&req->result_role, "result_role", result_role, true)))
		return rc;
	return 0;
}

int rms_request_set_command(rms_request *req, const char *command, size_t argc,
                            const char *const *argv)
{
	int rc = check(req, FOR_COMMAND, "command");
	if (rc)
		return rc;
	if (!command || !*command)
		return rms__error_field(RMS_E_INVALID_ARG, "command", "command is empty");
	if (argc && !argv)
		return rms__error_field(RMS_E_INVALID_ARG, "argv", "argc is %zu but argv is NULL",
		                        argc);
	for (size_t i = 0; i < argc; i++)
		if (!argv[i])
			return rms__error_field(RMS_E_INVALID_ARG, "argv", "argument %zu is NULL", i);
	char **copy = calloc(argc ? argc : 1, sizeof *copy);
	char *cmd = strdup(command);
	bool ok = copy && cmd;
	for (size_t i = 0; ok && i < argc; i++)
		ok = (copy[i] = strdup(argv[i])) != NULL;
	if (!ok) {
		for (size_t i = 0; copy && i < argc; i++)
			free(copy[i]);
		free(copy);
		free(cmd);
		return rms__error_nomem();
	}
	free(req->command);
	free_argv(req);
	req->command = cmd;
	req->argv = copy;
	req->argc = argc;
	return 0;
}

int rms_request_set_stdin(rms_request *req, const void *data, size_t len)
{
	int rc = check(req, FOR_COMMAND, "stdin");
	if (rc)
		return rc;
	if (len && !data)
		return rms__error_field(RMS_E_INVALID_ARG, "stdin", "len is %zu but data is NULL", len);
	unsigned char *copy = malloc(len ? len : 1);
	if (!copy)
		return rms__error_nomem();
	if (len)
		memcpy(copy, data, len);
	free(req->stdin_data);
	req->stdin_data = copy;
	req->stdin_len = len;
	req->has_stdin = true;
	req->stdin_fn = NULL;
	return 0;
}

int rms_request_set_stdin_fn(rms_request *req, rms_stdin_fn fn, void *userdata)
{
	int rc = check(req, FOR_COMMAND, "stdin");
	if (rc)
		return rc;
	free(req->stdin_data);
	req->stdin_data = NULL;
	req->stdin_len = 0;
	req->has_stdin = fn != NULL;
	req->stdin_fn = fn;
	req->stdin_userdata = userdata;
	return 0;
}

int rms_request_set_output_fn(rms_request *req, rms_output_fn fn, void *userdata)
{
	int rc = check(req, FOR_COMMAND, "output");
	if (rc)
		return rc;
	req->output_fn = fn;
	req->output_userdata = userdata;
	return 0;
}

int rms_request_set_timeout(rms_request *req, uint32_t timeout_ms)
{
	if (!req)
		return rms__error_field(RMS_E_INVALID_ARG, "request", "request is NULL");
	req->timeout_ms = timeout_ms;
	return 0;
}

int rms__request_dup(rms_request **out, const rms_request *src)
{
	rms_request *r;
	int rc = rms_request_new(&r, src->kind);
	if (rc)
		return rc;
	bool ok = true;
#define DUP(f) ok = ok && (!src->f || (r->f = strdup(src->f)) != NULL)
	DUP(cim_namespace);
	DUP(class_name);
	DUP(dialect);
	DUP(query);
	DUP(method);
	DUP(assoc_class);
	DUP(result_class);
	DUP(role);
	DUP(result_role);
#undef DUP
	if (ok && src->ref)
		ok = rms_ref_dup(&r->ref, src->ref) == 0;
	if (ok && src->input)
		ok = rms_instance_dup(&r->input, src->input) == 0;
	if (ok && src->command)
		ok = rms_request_set_command(r, src->command, src->argc,
		                             (const char *const *)src->argv) == 0;
	if (ok && src->stdin_data)
		ok = rms_request_set_stdin(r, src->stdin_data, src->stdin_len) == 0;
	if (!ok) {
		rms_request_free(r);
		return rms__error_nomem();
	}
	r->has_stdin = src->has_stdin;
	r->stdin_fn = src->stdin_fn;
	r->stdin_userdata = src->stdin_userdata;
	r->output_fn = src->output_fn;
	r->output_userdata = src->output_userdata;
	r->timeout_ms = src->timeout_ms;
	*out = r;
	return 0;
}

char *rms__request_target_namespace(const rms_request *r, const rms_session *s)
{
	const char *given = r->ref && rms_ref_namespace(r->ref) ? rms_ref_namespace(r->ref)
	                    : r->kind == RMS_OP_CREATE && r->input
	                            ? rms_instance_namespace(r->input)
	                            : NULL;
	if (given && !r->cim_namespace) {
		char *ns = strdup(given);
		for (char *p = ns; p && *p; p++)
			if (*p == '\\')
				*p = '/';
		return ns;
	}
	return rms__request_namespace(r, s);
}

char *rms__request_namespace(const rms_request *req, const rms_session *s)
{
	const char *ns = req->cim_namespace        ? req->cim_namespace
	                 : s && s->opts.cim.cim_namespace ? s->opts.cim.cim_namespace
	                                                  : RMS_DEFAULT_NAMESPACE;
	char *r = strdup(ns);
	for (char *p = r; p && *p; p++)
		if (*p == '\\')
			*p = '/';
	return r;
}
