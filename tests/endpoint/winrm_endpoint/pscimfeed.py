"""The CIM data behind the Get-CimInstance of the endpoint's PowerShell shells.

PowerShell on Linux has no CimCmdlets module (it needs Windows' MI). Each pwsh child of a
PowerShell shell (psplugin.py) finds one on its PSModulePath instead: pwsh/CimCmdlets, a
real PowerShell module whose Get-CimInstance asks this feed for instances over a Unix
socket ($env:RMS_PSCIM_SOCKET) and turns them into objects shaped as Windows' CimInstances
(type names, CIM properties as the object's own properties, PSComputerName, the
__ClassMetadata member with each class's MiXml), which pwsh then serializes itself. So what
a client receives is PowerShell's own CLIXML of those objects.

One request per connection, one JSON line:

    {"op": "enumerate", "namespace": NS, "class": C}
    {"op": "filter", "namespace": NS, "class": C, "filter": WQL condition}
    {"op": "query", "namespace": NS, "query": Q, "dialect": D}

Answer, one JSON line each, then the connection closes:

    {"schema": {"class", "superclass", "namespace", "mixml", "props": [{name, type, array,
                 key}]}}          before the first instance of each class (and its superclass)
    {"class", "namespace", "props": [...]}    an instance, as pscim.instance_json writes it
    {"error": {"message", "status", "hresult"}}   the CIM failure, last
"""

import atexit
import json
import os
import socket
import tempfile
import threading

from . import wql
from .cimops import SUPPORTED_NS, normalize_ns
from .faults import WsmanFault
from .pscim import (CIM_INVALID_CLASS, CIM_INVALID_NAMESPACE, CIM_INVALID_QUERY,
                    CIM_QUERY_LANGUAGE_NOT_SUPPORTED, CIMTYPE, CimError, instance_json)
from .soap import esc

MODULE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pwsh')

# The WMI HRESULTs Windows' Get-CimInstance names in its FullyQualifiedErrorId
# ("HRESULT 0x80041010,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand").
HRESULT = {
    CIM_INVALID_NAMESPACE: 0x8004100E,   # WBEM_E_INVALID_NAMESPACE
    CIM_INVALID_CLASS: 0x80041010,       # WBEM_E_INVALID_CLASS
    CIM_INVALID_QUERY: 0x80041017,       # WBEM_E_INVALID_QUERY
    CIM_QUERY_LANGUAGE_NOT_SUPPORTED: 0x80041018,  # WBEM_E_INVALID_QUERY_TYPE
}
# MI_Result names (NativeErrorCode), as CimException.NativeErrorCode prints.
NATIVE = {CIM_INVALID_NAMESPACE: 'InvalidNamespace', CIM_INVALID_CLASS: 'InvalidClass',
          CIM_INVALID_QUERY: 'InvalidQuery', CIM_QUERY_LANGUAGE_NOT_SUPPORTED: 'QueryLanguageNotSupported'}


def mixml(cls):
    """The class as CIM-XML (DSP0201 CLASS), what PowerShell puts in __ClassMetadata.MiXml."""
    parts = ['<CLASS NAME="%s"' % esc(cls.name)]
    if getattr(cls, 'superclass', None):
        parts.append(' SUPERCLASS="%s"' % esc(cls.superclass))
    parts.append('>')
    for p in cls.props:
        key = ('<QUALIFIER NAME="key" TYPE="boolean" OVERRIDABLE="false"><VALUE>true</VALUE>'
               '</QUALIFIER>' if p.key else '')
        if p.type == 'reference':
            parts.append('<PROPERTY.REFERENCE NAME="%s" REFERENCECLASS="%s">%s</PROPERTY.REFERENCE>'
                         % (esc(p.name), esc(p.ref_class or ''), key))
        elif p.type == 'instance':
            tag = 'PROPERTY.ARRAY' if p.array else 'PROPERTY'
            parts.append('<%s NAME="%s" TYPE="string" EmbeddedObject="instance">%s<QUALIFIER '
                         'NAME="EmbeddedInstance" TYPE="string"><VALUE>%s</VALUE></QUALIFIER></%s>'
                         % (tag, esc(p.name), key, esc(p.embedded or ''), tag))
        else:
            tag = 'PROPERTY.ARRAY' if p.array else 'PROPERTY'
            parts.append('<%s NAME="%s" TYPE="%s">%s</%s>' % (tag, esc(p.name), p.type, key, tag))
    parts.append('</CLASS>')
    return ''.join(parts)


def schema_json(cls):
    return {'class': cls.name, 'superclass': getattr(cls, 'superclass', None),
            'namespace': SUPPORTED_NS, 'mixml': mixml(cls),
            'props': [{'name': p.name, 'type': CIMTYPE.get(p.type, 'String'), 'array': bool(p.array),
                       'key': bool(p.key)} for p in cls.props]}


class Feed:
    """A Unix socket the pwsh children read CIM instances from."""

    def __init__(self, cim, stats):
        self.cim = cim
        self.stats = stats
        self.dir = tempfile.mkdtemp(prefix='rms-pscim-')
        self.path = os.path.join(self.dir, 'feed.sock')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        atexit.register(self.close)

    def close(self):
        try:
            self.sock.close()
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        out = conn.makefile('w', encoding='utf-8', newline='\n')
        try:
            line = conn.makefile('r', encoding='utf-8').readline()
            self.stats.add('ps_cim_feeds')
            sent = set()
            try:
                items, only = self._items(json.loads(line))
                for cls, inst in items:
                    if only is not None:
                        # WMI's answer to a SELECT with a property list: instances of
                        # the whole class, the properties not selected (keys aside) null.
                        inst = {p.name: inst.get(p.name) if p.key or p.name.lower() in only
                                else None for p in cls.props}
                    for c in self._chain(cls):
                        if c.name not in sent:
                            sent.add(c.name)
                            out.write(json.dumps({'schema': schema_json(c)}) + '\n')
                    self._schemas_of_values(cls, inst, sent, out)
                    out.write(json.dumps(instance_json(self.cim.registry, cls, inst, None),
                                         ensure_ascii=False) + '\n')
                    self.stats.add('ps_cim_instances')
            except wql.WqlError:
                self._error(out, CIM_INVALID_QUERY, 'Invalid query ')
            except CimError as exc:
                self._error(out, exc.status, exc.message)
            out.flush()
        except (OSError, ValueError):
            pass
        finally:
            try:
                out.close()
                conn.close()
            except OSError:
                pass

    def _chain(self, cls):
        chain = [cls]
        while getattr(chain[-1], 'superclass', None):
            sup = self.cim.registry.get(chain[-1].superclass)
            if sup is None or sup in chain:
                break
            chain.append(sup)
        return chain

    def _schemas_of_values(self, cls, inst, sent, out):
        """The classes of references and embedded instances the instance holds."""
        for p in cls.props:
            if p.type not in ('reference', 'instance'):
                continue
            name = p.ref_class if p.type == 'reference' else p.embedded
            c = self.cim.registry.get(name) if name else None
            if c is None:
                continue
            for k in self._chain(c):
                if k.name not in sent:
                    sent.add(k.name)
                    out.write(json.dumps({'schema': schema_json(k)}) + '\n')

    @staticmethod
    def _error(out, status, message):
        out.write(json.dumps({'error': {'message': message, 'status': status,
                                        'hresult': HRESULT.get(status, 0x80041001),
                                        'native': NATIVE.get(status, 'Failed')}}) + '\n')

    def _class(self, req):
        if normalize_ns(req.get('namespace') or SUPPORTED_NS) != SUPPORTED_NS:
            raise CimError(CIM_INVALID_NAMESPACE, 'Invalid namespace ')
        cls = self.cim.registry.get(req.get('class') or '')
        if cls is None:
            raise CimError(CIM_INVALID_CLASS, 'Invalid class ')
        return cls

    def _wql(self, text):
        try:
            return self.cim.wql_items(text)
        except WsmanFault as fault:
            unknown = 'class does not exist' in fault.reason or 'class does not exist' in str(fault.detail)
            raise CimError(CIM_INVALID_CLASS if unknown else CIM_INVALID_QUERY,
                           'Invalid class ' if unknown else 'Invalid query ')

    def _items(self, req):
        op = req.get('op')
        if op == 'enumerate':
            return self._class(req).items(), None
        if op == 'filter':
            cls = self._class(req)
            return self._wql('SELECT * FROM %s WHERE %s' % (cls.name, req.get('filter') or ''))
        if (req.get('dialect') or 'WQL').upper() != 'WQL':
            raise CimError(CIM_QUERY_LANGUAGE_NOT_SUPPORTED,
                           'The query dialect %s is not supported. ' % req.get('dialect'))
        if normalize_ns(req.get('namespace') or SUPPORTED_NS) != SUPPORTED_NS:
            raise CimError(CIM_INVALID_NAMESPACE, 'Invalid namespace ')
        return self._wql(req.get('query') or '')
