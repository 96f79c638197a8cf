/*
 * CIM operations through the PSSession: the remote script, its command line,
 * and the decoding of its output into the same typed values the CIM backend
 * produces (see ps_cim.h for the line format).
 */
#include "ps_cim.h"

#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "error_internal.h"
#include "value_internal.h"

/* Deepest nesting of references and embedded instances in one line. */
#define MAX_DEPTH 32
/* What the script's "missing" marker names when it has no Get-CimInstance. */
#define MISSING_CMDLET "Get-CimInstance"
/* cmd.exe's exit code for a program it cannot find (9009, "is not
 * recognized as an internal or external command"). */
#define CMD_EXIT_NOT_FOUND 9009

/*
 * The script (PowerShell 3.0 and later, Windows PowerShell and pwsh). It
 * reads its parameters from the "$r = ConvertFrom-Json '...'" line that
 * precedes it, streams Get-CimInstance's output, and converts every value
 * to its invariant text itself, so nothing depends on the remote culture or
 * on how ConvertTo-Json renders .NET types.
 */
static const char SCRIPT_BODY[] =
    "$ic=[Globalization.CultureInfo]::InvariantCulture\n"
    "function T($t,$v){if($null -eq $v){return $null}\n"
    " if($t -eq 'Reference'){return (R $v)};if($t -eq 'Instance'){return (I $v)}\n"
    " if($v -is [datetime]){return $v.ToString('o',$ic)}\n"
    " if($v -is [timespan]){return [Xml.XmlConvert]::ToString($v)}\n"
    " if($v -is [bool]){if($v){return 'true'};return 'false'}\n"
    " if($v -is [double]){return $v.ToString('G17',$ic)}\n"
    " if($v -is [single]){return $v.ToString('G9',$ic)}\n"
    " return [Convert]::ToString($v,$ic)}\n"
    "function P($p){$t=[string]$p.CimType;$a=$t.EndsWith('Array')\n"
    " if($a){$t=$t.Substring(0,$t.Length-5)};$v=$null\n"
    " if($null -ne $p.Value){if($a){$v=@(foreach($x in $p.Value){T $t $x})}else{$v=T $t $p.Value}}\n"
    " [ordered]@{name=$p.Name;type=$t;array=$a;value=$v;"
    "key=(($p.Flags -band [Microsoft.Management.Infrastructure.CimFlags]::Key) -ne 0)}}\n"
    "function I($i){[ordered]@{class=$i.CimSystemProperties.ClassName;"
    "namespace=$i.CimSystemProperties.Namespace;"
    "props=@(foreach($p in $i.CimInstanceProperties){P $p})}}\n"
    "function R($i){$k=@(foreach($p in $i.CimInstanceProperties){"
    "if(($p.Flags -band [Microsoft.Management.Infrastructure.CimFlags]::Key) -ne 0){P $p}})\n"
    " if($k.Count -eq 0){$k=@(foreach($p in $i.CimInstanceProperties){if($null -ne $p.Value){P $p}})}\n"
    " [ordered]@{class=$i.CimSystemProperties.ClassName;"
    "namespace=$i.CimSystemProperties.Namespace;keys=$k}}\n"
    "$o={process{[Console]::Out.WriteLine((ConvertTo-Json -InputObject (I $_) -Compress -Depth 64))}}\n"
    "try{if($r.op -eq 'get'){$k=@{};foreach($x in $r.keys){$k[$x.name]=$x.value}\n"
    " $q=New-CimInstance -ClientOnly -Namespace $r.namespace -ClassName $r.class -Property $k "
    "-Key @(foreach($x in $r.keys){$x.name})\n"
    " Get-CimInstance -InputObject $q|&$o}\n"
    " elseif($r.op -eq 'query'){Get-CimInstance -Namespace $r.namespace -Query $r.query "
    "-QueryDialect $r.dialect|&$o}\n"
    " else{Get-CimInstance -Namespace $r.namespace -ClassName $r.class|&$o};exit 0}\n"
    "catch{$e=$_.Exception;$s=0\n"
    " if($e -is [Microsoft.Management.Infrastructure.CimException]){$s=[int]$e.NativeErrorCode}\n"
    " [Console]::Out.WriteLine((ConvertTo-Json -Compress -InputObject "
    "([ordered]@{error=[ordered]@{message=$e.Message;status=$s}})));exit 1}\n";

/* Before the parameters are read: a PowerShell without the CIM cmdlets
 * (2.0 has neither them nor ConvertFrom-Json) says so in a line of its own,
 * with a marker that does not depend on PowerShell's localized messages,
 * written without any cmdlet 3.0 added. */
static const char SCRIPT_HEAD[] = "$ErrorActionPreference='Stop'\n"
                                  "$ProgressPreference='SilentlyContinue'\n"
                                  "[Console]::OutputEncoding=New-Object Text.UTF8Encoding $false\n"
                                  "if(!(Get-Command Get-CimInstance -EA 0)){[Console]::Out."
                                  "WriteLine('{\"error\":{\"message\":\"Get-CimInstance is "
                                  "not available\",\"status\":0,\"missing\":\"" MISSING_CMDLET
                                  "\"}}');exit 1}\n";

/* ---- the command ---------------------------------------------------------- */

/* Get-CimInstance -QueryDialect takes a name: "WQL" for WS-Man's WQL URI. */
static const char *dialect_name(const char *dialect)
{
	if (!dialect)
		return "WQL";
	size_t n = strlen(dialect);
	if (n >= 3 && rms__streq_nocase(dialect + n - 3, "wql") &&
	    (n == 3 || dialect[n - 4] == '/'))
		return "WQL";
	if (n >= 3 && rms__streq_nocase(dialect + n - 3, "cql") &&
	    (n == 3 || dialect[n - 4] == '/'))
		return "CQL";
	return dialect;
}

static json_t *request_json(const rms_request *req, const char *ns)
{
	json_t *j = json_object();
	if (!j)
		return NULL;
	int bad = 0;
	const char *op = req->kind == RMS_OP_GET ? "get" : req->kind == RMS_OP_QUERY ? "query"
	                                                                            : "enumerate";
	bad |= json_object_set_new(j, "op", json_string(op));
	bad |= json_object_set_new(j, "namespace", json_string(ns));
	if (req->kind == RMS_OP_QUERY) {
		bad |= json_object_set_new(j, "dialect", json_string(dialect_name(req->dialect)));
		bad |= json_object_set_new(j, "query", json_string(req->query));
	} else if (req->kind == RMS_OP_GET) {
		const rms_ref *ref = req->ref;
		bad |= json_object_set_new(j, "class", json_string(rms_ref_class_name(ref)));
		json_t *keys = json_array();
		bad |= json_object_set_new(j, "keys", keys);
		for (size_t i = 0; keys && i < rms_ref_selector_count(ref); i++) {
			const char *name, *value;
			const rms_ref *nested;
			if (rms_ref_selector_at(ref, i, &name, &value, &nested))
				bad = 1;
			else if (nested) {
				json_decref(j);
				rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_OPTIONS,
				               "key %s is a reference: the PSSession backend gets "
				               "instances by scalar keys only; use the CIM backend",
				               name);
				return NULL;
			} else {
				json_t *k = json_object();
				bad |= json_array_append_new(keys, k);
				if (k) {
					bad |= json_object_set_new(k, "name", json_string(name));
					bad |= json_object_set_new(k, "value", json_string(value));
				}
			}
		}
	} else {
		bad |= json_object_set_new(j, "class", json_string(req->class_name));
	}
	if (bad) {
		json_decref(j);
		rms__error_nomem();
		return NULL;
	}
	return j;
}

static int dump_to_buf(const char *buffer, size_t size, void *data)
{
	return rms__buf_append(data, buffer, size) ? -1 : 0;
}

int rms__ps_cim_script(char **out, const rms_request *req, const char *ns)
{
	*out = NULL;
	if (req->kind == RMS_OP_GET && (!req->ref || !rms_ref_class_name(req->ref)))
		return rms__error_field(RMS_E_INVALID_ARG, "ref",
		                        "a get through the PSSession needs a reference with a class");
	json_t *j = request_json(req, ns);
	if (!j)
		return rms_error_code(rms_error_last());
	/* ASCII only: PowerShell ends a single-quoted string at any of the
	 * typographic single quotes (U+2018..U+201B) too, so text from the
	 * caller must not reach the script as such characters; JSON's \uXXXX
	 * escapes carry them, and ConvertFrom-Json turns them back. */
	rms_buf jb;
	rms__buf_init(&jb);
	int jrc = json_dump_callback(j, dump_to_buf, &jb,
	                             JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(j);
	char *text = jrc ? NULL : rms__buf_take(&jb);
	rms__buf_free(&jb);
	if (!text)
		return rms__error_nomem();
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, SCRIPT_HEAD);
	rms__buf_puts(&b, "$r = ConvertFrom-Json '");
	/* In a single-quoted PowerShell string only ' is special: doubled. */
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			rms__buf_puts(&b, "''");
		else
			rms__buf_append(&b, p, 1);
	}
	rms__buf_puts(&b, "'\n");
	rms__buf_puts(&b, SCRIPT_BODY);
	free(text);
	*out = rms__buf_take(&b);
	return *out ? 0 : rms__error_nomem();
}

/* UTF-8 to UTF-16LE, then base64: what -EncodedCommand takes. */
static char *encode_command(const char *script)
{
	size_t n = strlen(script);
	unsigned char *u16 = malloc(n * 4 + 4);
	if (!u16)
		return NULL;
	size_t k = 0;
	const char *p = script, *end = script + n;
	while (p < end) {
		const char *at = p;
		int32_t cp = rms__utf8_decode(&p, end);
		if (cp < 0) {
			cp = 0xFFFD;
			p = at + 1;
		}
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;
			uint16_t hi = (uint16_t)(0xD800 | (v >> 10)), lo = (uint16_t)(0xDC00 | (v & 0x3FF));
			u16[k++] = (unsigned char)(hi & 0xFF);
			u16[k++] = (unsigned char)(hi >> 8);
			u16[k++] = (unsigned char)(lo & 0xFF);
			u16[k++] = (unsigned char)(lo >> 8);
		} else {
			u16[k++] = (unsigned char)(cp & 0xFF);
			u16[k++] = (unsigned char)((uint32_t)cp >> 8);
		}
	}
	char *b64 = malloc((k + 2) / 3 * 4 + 1);
	if (b64)
		EVP_EncodeBlock((unsigned char *)b64, u16, (int)k);
	free(u16);
	return b64;
}

static const char *const FIXED_ARGS[] = { "-NoLogo",      "-NoProfile", "-NonInteractive",
	                                  "-OutputFormat", "Text",       "-EncodedCommand" };
#define NFIXED (sizeof FIXED_ARGS / sizeof FIXED_ARGS[0])

void rms__ps_cim_command_free(rms_ps_cim_command *c)
{
	if (!c)
		return;
	free(c->command);
	for (size_t i = 0; c->argv && i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	memset(c, 0, sizeof *c);
}

int rms__ps_cim_command(rms_ps_cim_command *out, const rms_request *req, const char *ns)
{
	memset(out, 0, sizeof *out);
	char *script;
	int rc = rms__ps_cim_script(&script, req, ns);
	if (rc)
		return rc;
	char *b64 = encode_command(script);
	free(script);
	if (!b64)
		return rms__error_nomem();
	size_t line = strlen("powershell.exe") + strlen(b64) + 1;
	for (size_t i = 0; i < NFIXED; i++)
		line += strlen(FIXED_ARGS[i]) + 1;
	if (line > RMS_PS_CIM_MAX_COMMAND_LINE) {
		free(b64);
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_OPTIONS,
		                      "the %s is too long to run through the PSSession: its command "
		                      "line would be %zu characters, cmd.exe takes at most %u; use "
		                      "the CIM backend",
		                      req->kind == RMS_OP_QUERY ? "query" : "request", line,
		                      RMS_PS_CIM_MAX_COMMAND_LINE);
	}
	out->command = rms__strdup("powershell.exe");
	out->argv = calloc(NFIXED + 1, sizeof *out->argv);
	if (out->command && out->argv) {
		for (size_t i = 0; i < NFIXED; i++)
			if ((out->argv[out->argc] = rms__strdup(FIXED_ARGS[i])))
				out->argc++;
		if (out->argc == NFIXED) {
			out->argv[out->argc++] = b64;
			return 0;
		}
	}
	free(b64);
	rms__ps_cim_command_free(out);
	return rms__error_nomem();
}

/* ---- decoding --------------------------------------------------------------- */

static int bad_line(const char *what, const char *detail)
{
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                      "the remote CIM script wrote a line that is not an instance: %s%s%s",
	                      what, detail ? ": " : "", detail ? detail : "");
}

static const char *member_string(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A CimType name ("UInt32", "DateTime", "Reference", "Unknown") as a type. */
static int cimtype(rms_type *out, const char *name, const char *prop)
{
	if (!name)
		return bad_line("a property has no type", prop);
	if (rms__streq_nocase(name, "Unknown")) {
		*out = RMS_TYPE_STRING;
		return 0;
	}
	if (rms__streq_nocase(name, "Reference")) {
		*out = RMS_TYPE_REFERENCE;
		return 0;
	}
	if (rms_type_parse(out, name) || (*out & RMS_TYPE_ARRAY))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the remote CIM script gave property %s the type '%.*s', "
		                      "which is not a CIM type",
		                      prop, (int)rms__utf8_prefix(name, strlen(name), 40), name);
	return 0;
}

static int reraise(int rc, const char *prop)
{
	if (rc == RMS_E_NOMEM)
		return rc;
	const rms_error *e = rms_error_last();
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                      "the remote CIM script wrote property %s: %s", prop,
	                      e ? rms_error_message(e) : "invalid value");
}

static int decode_instance(rms_instance **out, const json_t *obj, const char *fallback_ns,
                           int depth);
static int decode_ref(rms_ref **out, const json_t *obj, const char *fallback_ns, int depth);

static int scalar(rms_value **out, rms_type t, const json_t *j, const char *ns, const char *prop,
                  int depth)
{
	int rc;
	if (t == RMS_TYPE_REFERENCE || t == RMS_TYPE_INSTANCE) {
		if (!json_is_object(j))
			return bad_line("a reference or embedded instance is not an object", prop);
		if (t == RMS_TYPE_REFERENCE) {
			rms_ref *r = NULL;
			if ((rc = decode_ref(&r, j, ns, depth + 1)))
				return rc;
			rc = rms_value_new_reference(out, r);
			rms_ref_free(r);
		} else {
			rms_instance *inst = NULL;
			if ((rc = decode_instance(&inst, j, NULL, depth + 1)))
				return rc;
			rc = rms_value_new_instance(out, inst);
			rms_instance_free(inst);
		}
		return rc ? reraise(rc, prop) : 0;
	}
	if (!json_is_string(j))
		return bad_line("a value is not text", prop);
	const char *text = json_string_value(j);
	switch (t) {
	case RMS_TYPE_STRING:
		rc = rms_value_new_string_len(out, text, json_string_length(j));
		break;
	case RMS_TYPE_BOOLEAN:
		if (rms__streq_nocase(text, "true"))
			rc = rms_value_new_boolean(out, true);
		else if (rms__streq_nocase(text, "false"))
			rc = rms_value_new_boolean(out, false);
		else
			return reraise(rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
			                              "'%.32s' is not true or false", text),
			               prop);
		break;
	case RMS_TYPE_CHAR16: {
		const char *p = text, *end = text + json_string_length(j);
		int32_t cp = rms__utf8_decode(&p, end);
		if (cp < 0 || cp > 0xFFFF || p != end)
			return reraise(rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
			                              "'%.32s' is not one UTF-16 character", text),
			               prop);
		rc = rms_value_new_char16(out, (uint16_t)cp);
		break;
	}
	case RMS_TYPE_REAL32:
	case RMS_TYPE_REAL64: {
		/* .NET's invariant names for the special values. */
		const char *v = text;
		if (strcmp(v, "Infinity") == 0 || strcmp(v, "\xE2\x88\x9E") == 0)
			v = "INF";
		else if (strcmp(v, "-Infinity") == 0 || strcmp(v, "-\xE2\x88\x9E") == 0)
			v = "-INF";
		rc = rms_value_from_text(out, t, v);
		break;
	}
	case RMS_TYPE_DATETIME: {
		rms_datetime dt;
		memset(&dt, 0, sizeof dt);
		size_t n = strlen(text);
		/* ISO 8601 / xs:duration, or a DMTF string (yyyymmddHHMMSS.mmmmmm+UUU). */
		rc = (n == 25 && text[14] == '.') ? rms_datetime_parse_dmtf(&dt, text)
		                                  : rms_datetime_parse_xs(&dt, text);
		if (!rc)
			rc = rms_value_new_datetime(out, &dt);
		break;
	}
	default:
		rc = rms_value_from_text(out, t, text);
		break;
	}
	return rc ? reraise(rc, prop) : 0;
}

static int decode_prop(rms_value **out, const char **name, bool *key, const json_t *p,
                       const char *ns, int depth)
{
	if (!json_is_object(p))
		return bad_line("a property is not an object", NULL);
	*name = member_string(p, "name");
	if (!*name)
		return bad_line("a property has no name", NULL);
	int rc = rms__check_cim_name("property", *name, false);
	if (rc)
		return reraise(rc, "name");
	rms_type t;
	if ((rc = cimtype(&t, member_string(p, "type"), *name)))
		return rc;
	const json_t *arr = json_object_get(p, "array");
	bool is_array = json_is_true(arr);
	if (arr && !json_is_boolean(arr))
		return bad_line("\"array\" is not true or false", *name);
	const json_t *k = json_object_get(p, "key");
	if (k && !json_is_boolean(k))
		return bad_line("\"key\" is not true or false", *name);
	*key = json_is_true(k);
	const json_t *v = json_object_get(p, "value");
	if (!v || json_is_null(v)) {
		rc = rms_value_new_null(out, is_array ? (rms_type)(t | RMS_TYPE_ARRAY) : t);
		return rc ? reraise(rc, *name) : 0;
	}
	if (!is_array)
		return scalar(out, t, v, ns, *name, depth);
	if (!json_is_array(v))
		return bad_line("an array property's value is not a JSON array", *name);
	if ((rc = rms_value_new_array(out, t)))
		return reraise(rc, *name);
	size_t i;
	const json_t *item;
	json_array_foreach(v, i, item)
	{
		rms_value *e = NULL;
		if (json_is_null(item)) {
			rc = bad_line("an array holds null", *name);
		} else if (!(rc = scalar(&e, t, item, ns, *name, depth)) &&
		           (rc = rms_value_array_append(*out, e))) {
			rms_value_free(e);
			rc = reraise(rc, *name);
		}
		if (rc) {
			rms_value_free(*out);
			*out = NULL;
			return rc;
		}
	}
	return 0;
}

static int check_depth(int depth)
{
	if (depth > MAX_DEPTH)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the remote CIM script wrote values nested deeper than %d levels",
		                      MAX_DEPTH);
	return 0;
}

static int decode_ref(rms_ref **out, const json_t *obj, const char *fallback_ns, int depth)
{
	int rc = check_depth(depth);
	if (rc)
		return rc;
	const char *cls = member_string(obj, "class");
	const char *ns = member_string(obj, "namespace");
	const json_t *keys = json_object_get(obj, "keys");
	if (!cls || !json_is_array(keys))
		return bad_line("a reference lacks its class or keys", NULL);
	if ((rc = rms_ref_new(out, ns && *ns ? ns : fallback_ns, cls)))
		return reraise(rc, "reference");
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k)
	{
		rms_value *v = NULL;
		const char *name;
		bool key;
		if ((rc = decode_prop(&v, &name, &key, k, fallback_ns, depth)))
			break;
		if (rms_value_is_null(v))
			rc = bad_line("a reference key is null", name);
		else if (rms_value_type(v) == RMS_TYPE_REFERENCE) {
			const rms_ref *nested;
			rms_value_get_reference(v, &nested);
			rc = rms_ref_add_selector_ref(*out, name, nested);
		} else {
			char *text = NULL;
			if (!(rc = rms_value_to_text(&text, v)))
				rc = rms_ref_add_selector(*out, name, text);
			rms_free(text);
		}
		rms_value_free(v);
		if (rc)
			break;
	}
	if (rc) {
		rms_ref_free(*out);
		*out = NULL;
	}
	return rc;
}

static int decode_instance(rms_instance **out, const json_t *obj, const char *fallback_ns,
                           int depth)
{
	int rc = check_depth(depth);
	if (rc)
		return rc;
	const char *cls = member_string(obj, "class");
	const char *ns = member_string(obj, "namespace");
	const json_t *props = json_object_get(obj, "props");
	if (!cls || !json_is_array(props))
		return bad_line("an instance lacks its class or properties", NULL);
	if ((rc = rms__check_cim_name("class", cls, false)))
		return reraise(rc, "class");
	if ((rc = rms_instance_new(out, ns && *ns ? ns : fallback_ns, cls)))
		return reraise(rc, "class");
	size_t i;
	const json_t *p;
	json_array_foreach(props, i, p)
	{
		rms_value *v = NULL;
		const char *name;
		bool key;
		if ((rc = decode_prop(&v, &name, &key, p, ns && *ns ? ns : fallback_ns, depth)))
			break;
		if (rms_instance_get(*out, name)) {
			rms_value_free(v);
			rc = bad_line("a property appears twice", name);
			break;
		}
		if ((rc = rms__instance_append(*out, name, v))) {
			rms_value_free(v);
			rc = reraise(rc, name);
			break;
		}
		if (key)
			(*out)->props[(*out)->count - 1].flags |= RMS_PROP_KEY;
	}
	if (rc) {
		rms_instance_free(*out);
		*out = NULL;
	}
	return rc;
}

/* {"error":{"message":M,"status":N}}: the remote cmdlet's failure;
 * "missing":"Get-CimInstance" when the script found no such cmdlet. */
static int remote_error(const json_t *e)
{
	const char *msg = json_is_object(e) ? member_string(e, "message") : NULL;
	const json_t *st = json_is_object(e) ? json_object_get(e, "status") : NULL;
	json_int_t status = json_is_integer(st) ? json_integer_value(st) : 0;
	static const char *const names[] = {
		"OK",           "FAILED",         "ACCESS_DENIED", "INVALID_NAMESPACE",
		"INVALID_PARAMETER", "INVALID_CLASS", "NOT_FOUND", "NOT_SUPPORTED",
		"CLASS_HAS_CHILDREN", "CLASS_HAS_INSTANCES", "INVALID_SUPERCLASS", "ALREADY_EXISTS",
		"NO_SUCH_PROPERTY", "TYPE_MISMATCH", "QUERY_LANGUAGE_NOT_SUPPORTED", "INVALID_QUERY",
		"METHOD_NOT_AVAILABLE", "METHOD_NOT_FOUND"
	};
	const char *name = status >= 0 && (size_t)status < sizeof names / sizeof names[0]
	                       ? names[status]
	                       : "unknown status";
	size_t n = msg ? strlen(msg) : 0;
	while (n && (msg[n - 1] == ' ' || msg[n - 1] == '\r' || msg[n - 1] == '\n'))
		n--;
	n = msg ? rms__utf8_prefix(msg, n, 1024) : 0;
	int rc;
	if (status <= 0) {
		/* Not a CimException: PowerShell itself failed (an old version
		 * without the CIM cmdlets, a policy, ...). */
		const char *marker = json_is_object(e) ? member_string(e, "missing") : NULL;
		bool missing = marker && strcmp(marker, MISSING_CMDLET) == 0;
		return rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
		                      "%s: %.*s",
		                      missing ? "PowerShell on the remote computer has no CIM cmdlets "
		                                "(they come with PowerShell 3.0); the CIM backend "
		                                "needs no PowerShell"
		                              : "the remote CIM script failed",
		                      (int)n, msg ? msg : "(no message)");
	}
	rc = rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
	                    "Get-CimInstance failed on the remote computer: %.*s (CIM status "
	                    "%lld, %s)",
	                    (int)n, msg ? msg : "(no message)", (long long)status, name);
	struct rms_error *le = rms__error_last_mut();
	if (le && status > 0 && status <= 0xFFFF)
		le->cim_status = (uint32_t)status;
	return rc;
}

int rms__ps_cim_decode_line(rms_instance **out, const char *line, size_t len,
                            const char *fallback_ns)
{
	*out = NULL;
	json_error_t jerr;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		rms_buf show;
		rms__buf_init(&show);
		rms__buf_append_utf8_lossy(&show, line, len < 80 ? len : 80);
		int rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                        "the remote CIM script wrote a line that is not JSON (%s at "
		                        "column %d): %s",
		                        jerr.text, jerr.column, show.data ? show.data : "");
		rms__buf_free(&show);
		return rc;
	}
	int rc;
	if (!json_is_object(j))
		rc = bad_line("the line is not a JSON object", NULL);
	else if (json_object_get(j, "error"))
		rc = remote_error(json_object_get(j, "error"));
	else
		rc = decode_instance(out, j, fallback_ns, 0);
	json_decref(j);
	return rc;
}

/* ---- the reader ------------------------------------------------------------- */

int rms__ps_cim_reader_init(rms_ps_cim_reader *r, uint64_t max_line, const char *ns)
{
	memset(r, 0, sizeof *r);
	rms__buf_init(&r->out);
	rms__buf_init(&r->err);
	r->max_line = max_line;
	r->ns = rms__strdup(ns);
	return !ns || r->ns ? 0 : rms__error_nomem();
}

void rms__ps_cim_reader_free(rms_ps_cim_reader *r)
{
	rms__buf_free(&r->out);
	rms__buf_free(&r->err);
	free(r->ns);
	r->ns = NULL;
}

static int line_limit(const rms_ps_cim_reader *r, uint64_t have)
{
	rms__error_set(RMS_E_LIMIT, RMS_PHASE_LIMIT,
	               "MaximumReceivedObjectSize exceeded: one object (an output line of the "
	               "remote CIM script) reached %llu bytes, the limit is %llu; the command was "
	               "stopped",
	               (unsigned long long)have, (unsigned long long)r->max_line);
	rms__error_set_limit("MaximumReceivedObjectSize", r->max_line, have);
	return RMS_E_LIMIT;
}

int rms__ps_cim_feed(rms_ps_cim_reader *r, rms_stream stream, const void *data, size_t len)
{
	if (stream == RMS_STREAM_STDERR) {
		r->err_total += len;
		size_t room = RMS_PS_CIM_STDERR_KEEP > r->err.len ? RMS_PS_CIM_STDERR_KEEP - r->err.len
		                                                  : 0;
		if (room && rms__buf_append(&r->err, data, len < room ? len : room))
			return rms__error_nomem();
		return 0;
	}
	/* Drop what was decoded before the buffer grows. */
	if (r->start > 0 && (r->start == r->out.len || r->start >= 65536)) {
		memmove(r->out.data, r->out.data + r->start, r->out.len - r->start);
		r->out.len -= r->start;
		r->scan -= r->start;
		r->start = 0;
		r->out.data[r->out.len] = '\0';
	}
	/* No line may outgrow the object cap: every line of the chunk is
	 * checked before anything is buffered, so a runaway line costs at most
	 * the cap (plus the chunk) in memory. */
	if (r->max_line) {
		const char *p = data, *end = p + len;
		uint64_t cur = r->line_len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (cur + seg > r->max_line)
				return line_limit(r, cur + seg);
			cur = nl ? 0 : cur + seg;
			p = nl ? nl + 1 : end;
		}
		r->line_len = cur;
	}
	return rms__buf_append(&r->out, data, len) ? rms__error_nomem() : 0;
}

int rms__ps_cim_take(rms_ps_cim_reader *r, rms_instance **out)
{
	*out = NULL;
	for (;;) {
		if (r->scan < r->start)
			r->scan = r->start;
		const char *base = r->out.data;
		const char *nl = base ? memchr(base + r->scan, '\n', r->out.len - r->scan) : NULL;
		if (!nl) {
			r->scan = r->out.len;
			return RMS_EAGAIN;
		}
		size_t end = (size_t)(nl - base);
		size_t s = r->start;
		r->start = r->scan = end + 1;
		if (r->max_line && end - s > r->max_line)
			return line_limit(r, end - s);
		size_t e = end;
		while (e > s && (base[e - 1] == '\r' || base[e - 1] == ' '))
			e--;
		if (e == s)
			continue; /* an empty line */
		return rms__ps_cim_decode_line(out, base + s, e - s, r->ns);
	}
}

/* The same walk as rms__ps_cim_take without consuming: blank lines (which
 * take skips) do not count, or a caller told "ready" would get RMS_EAGAIN
 * (found by tests/fuzz/fuzz_ps_cim_reader). */
bool rms__ps_cim_ready(const rms_ps_cim_reader *r)
{
	const char *base = r->out.data;
	size_t s = r->start, from = r->scan > r->start ? r->scan : r->start;
	while (base && from < r->out.len) {
		const char *nl = memchr(base + from, '\n', r->out.len - from);
		if (!nl)
			return false;
		size_t end = (size_t)(nl - base);
		if (r->max_line && end - s > r->max_line)
			return true; /* take reports the limit */
		size_t e = end;
		while (e > s && (base[e - 1] == '\r' || base[e - 1] == ' '))
			e--;
		if (e > s)
			return true;
		s = from = end + 1;
	}
	return false;
}

int rms__ps_cim_end(rms_ps_cim_reader *r, int exit_code, rms_instance **out)
{
	*out = NULL;
	size_t s = r->start, e = r->out.len;
	while (s < e && (r->out.data[s] == '\r' || r->out.data[s] == '\n' || r->out.data[s] == ' '))
		s++;
	while (e > s && (r->out.data[e - 1] == '\r' || r->out.data[e - 1] == ' '))
		e--;
	r->start = r->scan = r->out.len;
	r->line_len = 0;
	if (e > s) {
		if (r->max_line && e - s > r->max_line)
			return line_limit(r, e - s);
		int rc = rms__ps_cim_decode_line(out, r->out.data + s, e - s, r->ns);
		/* An instance is delivered (the next call reports the exit code);
		 * a remote error line is the best explanation; a malformed last
		 * line of a failed command is explained by its exit code. */
		if (rc == 0 || exit_code == 0 || rc == RMS_E_FAULT || rc == RMS_E_NOMEM)
			return rc;
	}
	if (exit_code == 0)
		return RMS_ITEROVER;
	/* No error line: PowerShell itself did not run, or died. stderr may be
	 * in an OEM codepage and cut anywhere: shown as valid text. */
	rms_buf shown;
	rms__buf_init(&shown);
	if (r->err.len)
		rms__buf_append_utf8_lossy(&shown, r->err.data, r->err.len);
	const char *err = shown.data ? shown.data : "";
	size_t n = shown.len;
	while (n && (err[n - 1] == '\r' || err[n - 1] == '\n' || err[n - 1] == ' '))
		n--;
	bool missing = exit_code == CMD_EXIT_NOT_FOUND;
	int rc = rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
	                      "%s (exit code %d)%s%.*s%s",
	                      missing ? "PowerShell is not available on the remote computer: "
	                                "CIM operations through a PSSession run Get-CimInstance "
	                                "there; the CIM backend needs no PowerShell"
	                              : "the remote CIM script failed",
	                      exit_code, n ? ": " : "", (int)n, err,
	                      r->err_total > r->err.len ? " [stderr cut]" : "");
	rms__buf_free(&shown);
	return rc;
}
