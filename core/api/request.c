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
	[RMS_OP_POWERSHELL] = "powershell",
};

const char *rms_op_kind_name(rms_op_kind kind)
{
	if ((unsigned)kind < sizeof kind_names / sizeof kind_names[0])
		return kind_names[kind];
	return "unknown";
}

#define K(kind) (1u << (kind))
/* Which kinds each field applies to. */
#define FOR_NAMESPACE (~(K(RMS_OP_IDENTIFY) | K(RMS_OP_RUN) | K(RMS_OP_POWERSHELL)))
#define FOR_CLASS (K(RMS_OP_ENUMERATE) | K(RMS_OP_GET_CLASS) | K(RMS_OP_CREATE) | K(RMS_OP_INVOKE))
#define FOR_REF                                                                                    \
	(K(RMS_OP_GET) | K(RMS_OP_MODIFY) | K(RMS_OP_DELETE) | K(RMS_OP_INVOKE) |                    \
	 K(RMS_OP_ASSOCIATORS) | K(RMS_OP_REFERENCES))
#define FOR_QUERY K(RMS_OP_QUERY)
#define FOR_METHOD K(RMS_OP_INVOKE)
#define FOR_INPUT (K(RMS_OP_INVOKE) | K(RMS_OP_CREATE) | K(RMS_OP_MODIFY))
#define FOR_ASSOC (K(RMS_OP_ASSOCIATORS) | K(RMS_OP_REFERENCES))
#define FOR_COMMAND K(RMS_OP_RUN)
#define FOR_PIPELINE K(RMS_OP_POWERSHELL)

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
	if ((unsigned)kind > RMS_OP_POWERSHELL)
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

static void free_ps_commands(rms_request *r)
{
	for (size_t i = 0; i < r->ps_ncmds; i++) {
		struct rms_ps_command *c = &r->ps_cmds[i];
		for (size_t j = 0; j < c->nparams; j++) {
			free(c->params[j].name);
			rms_value_free(c->params[j].value);
		}
		free(c->params);
		free(c->text);
	}
	free(r->ps_cmds);
	r->ps_cmds = NULL;
	r->ps_ncmds = r->ps_cap = 0;
}

void rms_request_free(rms_request *r)
{
	if (!r)
		return;
	free_ps_commands(r);
	for (size_t i = 0; i < r->ps_ninput; i++)
		rms_value_free(r->ps_input[i]);
	free(r->ps_input);
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

/* ---- PowerShell pipelines ------------------------------------------------- */

/* PowerShell text: valid UTF-8, any characters but NUL (a script has
 * lines, tabs and carriage returns). */
static int check_ps_text(const char *field, const char *text)
{
	if (!text)
		return rms__error_field(RMS_E_INVALID_ARG, field, "the %s is NULL", field);
	if (!rms__utf8_valid(text, strlen(text)))
		return rms__error_field(RMS_E_INVALID_ARG, field, "the %s is not valid UTF-8", field);
	return 0;
}

/* Append a command (the text checked as UTF-8 without NUL, not empty). */
static int add_ps_command(rms_request *req, const char *field, const char *text, bool is_script)
{
	int rc = check(req, FOR_PIPELINE, field);
	if (rc || (rc = check_ps_text(field, text)))
		return rc;
	if (!*text)
		return rms__error_field(RMS_E_INVALID_ARG, field, "the %s is empty", field);
	if ((rc = rms__array_grow((void **)&req->ps_cmds, &req->ps_cap, req->ps_ncmds + 1,
	                          sizeof *req->ps_cmds)))
		return rc;
	struct rms_ps_command *c = &req->ps_cmds[req->ps_ncmds];
	memset(c, 0, sizeof *c);
	if (!(c->text = strdup(text)))
		return rms__error_nomem();
	c->is_script = is_script;
	req->ps_ncmds++;
	return 0;
}

int rms_request_set_script(rms_request *req, const char *script)
{
	int rc = check(req, FOR_PIPELINE, "script");
	if (rc)
		return rc;
	if ((rc = check_ps_text("script", script)))
		return rc;
	free_ps_commands(req);
	return add_ps_command(req, "script", script, true);
}

int rms_request_add_command(rms_request *req, const char *command)
{
	int rc = check(req, FOR_PIPELINE, "command");
	if (rc)
		return rc;
	if (req->ps_ncmds == 1 && req->ps_cmds[0].is_script)
		free_ps_commands(req);
	return add_ps_command(req, "command", command, false);
}

int rms_request_add_parameter(rms_request *req, const char *name, const rms_value *value)
{
	int rc = check(req, FOR_PIPELINE, "parameter");
	if (rc)
		return rc;
	if (!req->ps_ncmds)
		return rms__error_field(RMS_E_STATE, "parameter",
		                        "a parameter needs a command or a script first "
		                        "(rms_request_add_command or rms_request_set_script)");
	if (name && (rc = rms__check_text("parameter", name, false)))
		return rc;
	if (name && (!*name || name[0] == '-'))
		return rms__error_field(RMS_E_INVALID_ARG, "parameter",
		                        "parameter name '%s' is empty or starts with '-' (give the "
		                        "name alone: \"Path\", not \"-Path\")",
		                        name);
	if (!name && !value)
		return rms__error_field(RMS_E_INVALID_ARG, "parameter",
		                        "a positional argument needs a value");
	struct rms_ps_command *c = &req->ps_cmds[req->ps_ncmds - 1];
	if ((rc = rms__array_grow((void **)&c->params, &c->cap, c->nparams + 1, sizeof *c->params)))
		return rc;
	struct rms_ps_param p = { NULL, NULL };
	if ((name && !(p.name = strdup(name))) || (value && rms_value_dup(&p.value, value))) {
		free(p.name);
		return rms__error_nomem();
	}
	c->params[c->nparams++] = p;
	return 0;
}

int rms_request_merge_errors(rms_request *req)
{
	int rc = check(req, FOR_PIPELINE, "merge_errors");
	if (rc)
		return rc;
	if (!req->ps_ncmds)
		return rms__error_field(RMS_E_STATE, "merge_errors",
		                        "merging errors needs a command or a script first");
	req->ps_cmds[req->ps_ncmds - 1].merge_errors = true;
	return 0;
}

int rms_request_add_input(rms_request *req, const rms_value *value)
{
	int rc = check(req, FOR_PIPELINE, "input");
	if (rc)
		return rc;
	if (!value)
		return rms__error_field(RMS_E_INVALID_ARG, "input", "input value is NULL");
	if ((rc = rms__array_grow((void **)&req->ps_input, &req->ps_input_cap, req->ps_ninput + 1,
	                          sizeof *req->ps_input)))
		return rc;
	if ((rc = rms_value_dup(&req->ps_input[req->ps_ninput], value)))
		return rc;
	req->ps_ninput++;
	return 0;
}

static bool dup_ps(rms_request *r, const rms_request *src)
{
	for (size_t i = 0; i < src->ps_ncmds; i++) {
		const struct rms_ps_command *c = &src->ps_cmds[i];
		if (add_ps_command(r, "command", c->text, c->is_script))
			return false;
		r->ps_cmds[i].merge_errors = c->merge_errors;
		for (size_t j = 0; j < c->nparams; j++)
			if (rms_request_add_parameter(r, c->params[j].name, c->params[j].value))
				return false;
	}
	for (size_t i = 0; i < src->ps_ninput; i++)
		if (rms_request_add_input(r, src->ps_input[i]))
			return false;
	return true;
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
	if (ok)
		ok = dup_ps(r, src);
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

/* ---- PowerShell streams and records ----------------------------------------- */

const char *rms_ps_stream_name(rms_ps_stream stream)
{
	static const char *const names[] = { "output",  "error",       "warning", "verbose",
		                             "debug",   "information", "progress" };
	if ((unsigned)stream < sizeof names / sizeof names[0])
		return names[stream];
	return NULL;
}

/* A property's text: a string's, or an object's ToString. */
static const char *text_of(const rms_value *v)
{
	const rms_psobject *o = NULL;
	const char *s = NULL;
	if (!v || rms_value_is_null(v))
		return NULL;
	if (rms_value_get_object(v, &o) == 0 && o)
		return rms_psobject_to_string(o);
	return rms_value_get_text(v, &s) == 0 ? s : NULL;
}

const char *rms_ps_record_message(const rms_value *record)
{
	const rms_psobject *o = NULL;
	if (!record || rms_value_get_object(record, &o) != 0 || !o)
		return NULL;
	/* Warning, verbose and debug records; information records; an
	 * error's details; then the record's own ToString (an ErrorRecord's
	 * is its message); a progress record has none and says its
	 * activity. */
	static const char *const names[] = { "InformationalRecord_Message", "MessageData",
		                             "ErrorDetails_Message" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *s = text_of(rms_psobject_get(o, names[i]));
		if (s)
			return s;
	}
	const char *s = rms_psobject_to_string(o);
	if (s)
		return s;
	if ((s = text_of(rms_psobject_get(o, "Message"))))
		return s;
	return text_of(rms_psobject_get(o, "Activity"));
}
