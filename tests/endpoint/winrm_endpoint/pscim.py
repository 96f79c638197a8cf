"""The one PowerShell command this endpoint understands: remsess's CIM query script.

The PSSession backend runs get / enumerate / query on the remote computer as

    powershell.exe -NoLogo -NoProfile -NonInteractive -OutputFormat Text
                   -EncodedCommand <base64 of the UTF-16LE script>

(psremote/ps_cim.c). The script takes its parameters from a single line

    $r = ConvertFrom-Json '<request JSON>'

and writes one JSON line per instance to stdout (docs/pssession.md, "CIM operations
through the PSSession", has the format). This endpoint has no PowerShell: it decodes the
script, reads that line, answers the request from the same CIM classes its WS-Man CIM
provider serves, and writes the lines the real script writes, through the same WinRS
command machinery (streams, codepage, Receive limits, signals) as a real process. Any
other PowerShell command line fails as it would on a host without PowerShell's CIM
cmdlets: a message on stderr and exit code 1.
"""

import base64
import binascii
import datetime
import json
import re
import signal
import threading

from . import wql
from .cimxml import Embedded, Ref, convert_text, format_datetime, format_interval
from .cimxml import scalar_text as cimxml_scalar_text
from .cimops import SUPPORTED_NS, normalize_ns
from .faults import WsmanFault

POWERSHELL_NAMES = ('powershell', 'powershell.exe', 'pwsh', 'pwsh.exe')
ENCODED_FLAGS = ('-encodedcommand', '-enc', '-e', '-ec')
PARAM_LINE = re.compile(r"^\$r = ConvertFrom-Json '((?:[^']|'')*)'\s*$", re.M)
STATUS_CONTROL_C_EXIT = -1073741510
# Output the generator may run ahead of the client's Receives (a real process blocks on
# its full pipe the same way).
MAX_PENDING = 256 * 1024

# CimType names as PowerShell prints them (Microsoft.Management.Infrastructure.CimType).
CIMTYPE = {
    'boolean': 'Boolean', 'uint8': 'UInt8', 'sint8': 'SInt8', 'uint16': 'UInt16',
    'sint16': 'SInt16', 'uint32': 'UInt32', 'sint32': 'SInt32', 'uint64': 'UInt64',
    'sint64': 'SInt64', 'real32': 'Real32', 'real64': 'Real64', 'char16': 'Char16',
    'string': 'String', 'datetime': 'DateTime', 'reference': 'Reference',
    'instance': 'Instance',
}
# CIM status codes (DSP0200 / MI_Result) the script reports with an error.
CIM_FAILED = 1
CIM_INVALID_NAMESPACE = 3
CIM_INVALID_PARAMETER = 4
CIM_INVALID_CLASS = 5
CIM_NOT_FOUND = 6
CIM_QUERY_LANGUAGE_NOT_SUPPORTED = 14
CIM_INVALID_QUERY = 15


class NotRemsessScript(Exception):
    pass


def split_command_line(line):
    """Whitespace-separated words with "double quotes" grouped, as cmd.exe passes them."""
    words, cur, quoted, any_char = [], [], False, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
            any_char = True
        elif ch.isspace() and not quoted:
            if any_char:
                words.append(''.join(cur))
            cur, any_char = [], False
        else:
            cur.append(ch)
            any_char = True
    if any_char:
        words.append(''.join(cur))
    return words


def is_powershell(line):
    words = split_command_line(line)
    if not words:
        return False
    exe = words[0].replace('\\', '/').rsplit('/', 1)[-1].lower()
    return exe in POWERSHELL_NAMES


def parse_request(line):
    """The request dict of a remsess CIM script command line; NotRemsessScript otherwise."""
    words = split_command_line(line)
    for i, word in enumerate(words[1:], 1):
        if word.lower() in ENCODED_FLAGS and i + 1 < len(words):
            try:
                script = base64.b64decode(words[i + 1], validate=True).decode('utf-16-le')
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise NotRemsessScript('The -EncodedCommand argument is not base64 of UTF-16LE text.')
            m = PARAM_LINE.search(script)
            if not m:
                raise NotRemsessScript('This test endpoint runs only remsess CIM scripts; '
                                       'the script has no "$r = ConvertFrom-Json" line.')
            try:
                req = json.loads(m.group(1).replace("''", "'"))
            except ValueError as exc:
                raise NotRemsessScript('The request line is not JSON: %s' % exc)
            if not isinstance(req, dict) or req.get('op') not in ('get', 'enumerate', 'query'):
                raise NotRemsessScript('The request names no operation this endpoint knows.')
            return req
    raise NotRemsessScript('This test endpoint has no PowerShell; it runs only remsess CIM '
                           'scripts given with -EncodedCommand.')


class CimError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


def scalar_text(ptype, value):
    # .NET's invariant names for the infinities, as the real script writes them.
    if isinstance(value, datetime.datetime):
        return format_datetime(value)
    if isinstance(value, datetime.timedelta):
        return format_interval(value)
    return cimxml_scalar_text(ptype, value, infinity='Infinity')


def value_json(registry, prop, value):
    if value is None:
        return None
    if isinstance(value, list):
        return [value_json(registry, prop, v) for v in value]
    if isinstance(value, Ref):
        cls = registry.get(value.class_name)
        keys = []
        for name, v in value.keys:
            kprop = cls.prop(name) if cls is not None else None
            ktype = kprop.type if kprop is not None else 'string'
            keys.append({'name': kprop.name if kprop is not None else name,
                         'type': CIMTYPE.get(ktype, 'String'), 'array': False,
                         'value': scalar_text(ktype, v), 'key': True})
        return {'class': value.class_name, 'namespace': 'root/cimv2', 'keys': keys}
    if isinstance(value, Embedded):
        ecls = registry.get(value.class_name)
        return {'class': value.class_name, 'namespace': 'root/cimv2',
                'props': [prop_json(registry, p, value.values.get(p.name)) for p in ecls.props]}
    return scalar_text(prop.type, value)


def prop_json(registry, prop, value):
    return {'name': prop.name, 'type': CIMTYPE.get(prop.type, 'String'), 'array': bool(prop.array),
            'value': value_json(registry, prop, value), 'key': bool(prop.key)}


def instance_json(registry, cls, inst, only):
    props = [prop_json(registry, p, inst.get(p.name)) for p in cls.props
             if only is None or p.name.lower() in only or p.key]
    return {'class': cls.name, 'namespace': 'root/cimv2', 'props': props}


class PsCimCommand:
    """A WinRS command that plays PowerShell running the remsess CIM script."""

    def __init__(self, shell, command_id, line, req, cim, stats):
        self.shell = shell
        self.id = command_id
        self.line = line
        self.stats = stats
        self.cond = threading.Condition()
        self.events = []
        self.exit_code = None
        self.finished = False
        self.done_delivered = False
        self.stopped = False
        self.cim = cim
        self.req = req
        if req is not None:
            stats.add('ps_cim_commands')
        threading.Thread(target=self._run, daemon=True).start()

    # ---- output ------------------------------------------------------------------------

    def _emit(self, stream, text):
        data = text.encode(self.shell.codec, 'replace') if self.shell.codec else text.encode('utf-8')
        with self.cond:
            while not self.stopped and sum(len(d) for _, d in self.events) > MAX_PENDING:
                self.cond.wait(0.1)
            if self.stopped:
                return False
            self.stats.add(stream + '_bytes', len(data))
            self.events.append((stream, data))
            self.cond.notify_all()
        return True

    def _finish(self, code):
        with self.cond:
            if self.exit_code is None:
                self.exit_code = code
            self.finished = True
            self.cond.notify_all()
        self.stats.add('commands_running', -1)

    def _run(self):
        try:
            items, only = self._items()
            for cls, inst in items:
                line = json.dumps(instance_json(self.cim.registry, cls, inst, only),
                                  separators=(',', ':'), ensure_ascii=False)
                if not self._emit('stdout', line + '\r\n'):
                    return self._finish(STATUS_CONTROL_C_EXIT)
                self.stats.add('ps_cim_instances')
            self._finish(0)
        except wql.WqlError as exc:
            err = {'error': {'message': 'Invalid query: %s ' % exc, 'status': CIM_INVALID_QUERY}}
            self._emit('stdout', json.dumps(err, separators=(',', ':')) + '\r\n')
            self._finish(1)
        except CimError as exc:
            err = {'error': {'message': exc.message, 'status': exc.status}}
            self._emit('stdout', json.dumps(err, separators=(',', ':')) + '\r\n')
            self._finish(1)
        except Exception as exc:  # a bug of the endpoint must still end the command
            self._emit('stderr', 'endpoint error: %r\r\n' % (exc,))
            self._finish(1)

    # ---- the request -------------------------------------------------------------------

    def _check_namespace(self):
        if normalize_ns(self.req.get('namespace') or SUPPORTED_NS) != SUPPORTED_NS:
            raise CimError(CIM_INVALID_NAMESPACE, 'Invalid namespace ')

    def _class(self, name):
        self._check_namespace()
        cls = self.cim.registry.get(name)
        if cls is None:
            raise CimError(CIM_INVALID_CLASS, 'Invalid class ')
        return cls

    def _items(self):
        op = self.req['op']
        if op == 'enumerate':
            return self._class(self.req.get('class')).items(), None
        if op == 'get':
            cls = self._class(self.req.get('class'))
            keys = {}
            for k in self.req.get('keys') or []:
                prop = cls.prop(k.get('name', ''))
                if prop is None:
                    raise CimError(CIM_INVALID_PARAMETER, 'Invalid parameter ')
                try:
                    keys[prop.name.lower()] = convert_text(prop, k.get('value') or '', 'key')
                except Exception:
                    raise CimError(CIM_INVALID_PARAMETER, 'Invalid parameter ')
            inst = cls.get(keys)
            if inst is None:
                raise CimError(CIM_NOT_FOUND, 'No instance found with given property values. ')
            return iter([(cls, inst)]), None
        dialect = (self.req.get('dialect') or 'WQL').upper()
        if dialect != 'WQL':
            raise CimError(CIM_QUERY_LANGUAGE_NOT_SUPPORTED,
                           'The query dialect %s is not supported. ' % dialect)
        self._check_namespace()
        try:
            # The WS-Man provider's own WQL evaluation: the same instances either way.
            return self.cim.wql_items(self.req.get('query') or '')
        except WsmanFault as fault:
            unknown_class = 'class does not exist' in fault.reason or 'class does not exist' in str(fault.detail)
            raise CimError(CIM_INVALID_CLASS if unknown_class else CIM_INVALID_QUERY,
                           'Invalid class ' if unknown_class else 'Invalid query ')

    # ---- the Command interface WinRS uses ----------------------------------------------

    def send(self, data, end):
        if data:
            self.stats.add('stdin_bytes', len(data))

    def signal(self, sig):
        if sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            with self.cond:
                self.stopped = True
                self.cond.notify_all()

    def kill(self):
        self.signal(signal.SIGKILL)


class NoPowerShellCommand(PsCimCommand):
    """A PowerShell command line this endpoint cannot run: stderr and exit code 1."""

    def __init__(self, shell, command_id, line, message, stats):
        self.message = message
        PsCimCommand.__init__(self, shell, command_id, line, None, None, stats)

    def _run(self):
        self._emit('stderr', self.message + '\r\n')
        self._finish(1)
