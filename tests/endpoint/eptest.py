"""Helpers for the endpoint's own tests: start tests/endpoint/run on port 0, talk to it
with http.client on 127.0.0.1, build WS-Man requests, read responses."""

import base64
import http.client
import json
import os
import ssl
import subprocess
import unittest
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, 'run')
FIXTURES = os.environ.get('RMS_FIXTURES_DIR') or os.path.normpath(
    os.path.join(HERE, '..', '..', '..', 'shared', 'fixtures'))

NS = {
    's': 'http://www.w3.org/2003/05/soap-envelope',
    'a': 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
    'x': 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
    'n': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration',
    'w': 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
    'p': 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
    'b': 'http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd',
    'rsp': 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
    'f': 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
    'cim': 'http://schemas.dmtf.org/wbem/wscim/1/common',
    'xsi': 'http://www.w3.org/2001/XMLSchema-instance',
    'wsmid': 'http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd',
    'msft': 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError',
}
for _p, _u in NS.items():
    ET.register_namespace(_p, _u)

WMI = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/'
DMTF = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/'
CMD = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
T = 'http://schemas.xmlsoap.org/ws/2004/09/transfer/'
E = 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/'
SH = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/'
SOAP_CT = 'application/soap+xml;charset=UTF-8'


class Endpoint:
    """A running tests/endpoint/run process."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([RUN, '--port', '0'] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith('listening '):
            err = self.proc.stderr.read()
            raise RuntimeError('endpoint did not start: %r %s' % (line, err))
        self.url = line.split(' ', 1)[1]
        self.tls = self.url.startswith('https:')
        self.port = int(self.url.rsplit(':', 1)[1].split('/')[0])
        self.cert = None
        if self.tls:
            self.cert = self.proc.stdout.readline().strip().split(' ', 1)[1]
        self.auth = None
        self._conn = None

    def stop(self):
        if self._conn is not None:
            self._conn.close()
        self.proc.terminate()
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def connect(self, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.cert)
            return http.client.HTTPSConnection('127.0.0.1', self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)

    def raw(self, body, headers=None, method='POST', path='/wsman', conn=None):
        """Send one request; returns (status, headers dict, body bytes)."""
        own = conn is None
        if own:
            if self._conn is None:
                self._conn = self.connect()
            conn = self._conn
        hdrs = {'Content-Type': SOAP_CT}
        if self.auth:
            hdrs['Authorization'] = 'Basic ' + base64.b64encode(self.auth.encode()).decode()
        hdrs.update(headers or {})
        data = body.encode('utf-8') if isinstance(body, str) else body
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
        except (ConnectionError, http.client.HTTPException):
            if own:
                self._conn.close()
                self._conn = None
            raise
        if own and resp.will_close:
            self._conn.close()
            self._conn = None
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload

    def soap(self, body, **kw):
        status, headers, payload = self.raw(body, **kw)
        root = ET.fromstring(payload) if payload else None
        return status, root

    def stats(self):
        conn = self.connect()
        try:
            conn.request('GET', '/stats')
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def control(self, path, data=''):
        conn = self.connect()
        try:
            conn.request('POST', path, body=data.encode())
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def envelope(action, resource, body='', selectors=(), options=(), timeout=None, max_env=512000,
             message_id=None, extra_header=''):
    sel = ''
    if selectors:
        sel = '<w:SelectorSet>%s</w:SelectorSet>' % ''.join(
            '<w:Selector Name="%s">%s</w:Selector>' % (k, v) for k, v in selectors)
    opt = ''
    if options:
        opt = '<w:OptionSet>%s</w:OptionSet>' % ''.join(
            '<w:Option Name="%s">%s</w:Option>' % (k, v) for k, v in options)
    mid = message_id or 'uuid:%s' % str(uuid.uuid4()).upper()
    return ('<s:Envelope xmlns:s="%(s)s" xmlns:a="%(a)s" xmlns:w="%(w)s" xmlns:n="%(n)s" '
            'xmlns:p="%(p)s" xmlns:rsp="%(rsp)s" xmlns:b="%(b)s"><s:Header>'
            '<a:To>http://127.0.0.1/wsman</a:To><a:ReplyTo><a:Address s:mustUnderstand="true">'
            'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
            % NS
            + '<w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>' % resource
            + '<a:Action s:mustUnderstand="true">%s</a:Action>' % action
            + '<a:MessageID>%s</a:MessageID>' % mid
            + ('<w:MaxEnvelopeSize s:mustUnderstand="true">%d</w:MaxEnvelopeSize>' % max_env if max_env else '')
            + ('<w:OperationTimeout>%s</w:OperationTimeout>' % timeout if timeout else '')
            + sel + opt + extra_header + '</s:Header><s:Body>%s</s:Body></s:Envelope>' % body)


def identify_body():
    return ('<s:Envelope xmlns:s="%s" xmlns:wsmid="%s"><s:Header/><s:Body><wsmid:Identify/></s:Body>'
            '</s:Envelope>' % (NS['s'], NS['wsmid']))


def fault_info(root):
    """(code value, subcode, WSManFault Code or None, MSFT_WmiError error_Code or None)."""
    fault = root.find('s:Body/s:Fault', NS)
    if fault is None:
        return None
    value = fault.findtext('s:Code/s:Value', namespaces=NS)
    sub = fault.findtext('s:Code/s:Subcode/s:Value', namespaces=NS)
    wf = fault.find('s:Detail/f:WSManFault', NS)
    wmi = fault.findtext('s:Detail/msft:MSFT_WmiError/msft:error_Code', namespaces=NS)
    return value, sub, (wf.get('Code') if wf is not None else None), wmi


def action_of(root):
    return root.findtext('s:Header/a:Action', namespaces=NS)


class EndpointCase(unittest.TestCase):
    """Starts one endpoint per test class (ARGS), stops it afterwards."""
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.ep.stop()

    def assertFault(self, status, root, subcode, code=None):
        self.assertEqual(status, 500, 'expected a SOAP fault')
        info = fault_info(root)
        self.assertIsNotNone(info, 'no s:Fault in the response')
        self.assertEqual(info[1], subcode)
        if code is not None:
            self.assertIn(str(code), (info[2], info[3]))
        return info


def shell_create(ep, body_extra='', options=(), attrs=''):
    status, root = ep.soap(envelope(
        T + 'Create', CMD, '<rsp:Shell%s><rsp:InputStreams>stdin</rsp:InputStreams>'
        '<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>%s</rsp:Shell>' % (attrs, body_extra),
        options=options))
    return status, root


def shell_id_of(root):
    return root.findtext('.//w:Selector[@Name="ShellId"]', namespaces=NS)


def run_command(ep, shell_id, command, args=(), options=(), stdin=None, timeout='PT20S', limit=512000):
    """Command + optional Send + Receive until Done. Returns (stdout, stderr, exit code, receives)."""
    argxml = ''.join('<rsp:Arguments>%s</rsp:Arguments>' % xml_escape(a) for a in args)
    status, root = ep.soap(envelope(SH + 'Command', CMD,
                                    '<rsp:CommandLine><rsp:Command>%s</rsp:Command>%s</rsp:CommandLine>'
                                    % (xml_escape(command), argxml), selectors=[('ShellId', shell_id)], options=options))
    assert status == 200, ET.tostring(root)
    cid = root.findtext('.//rsp:CommandId', namespaces=NS)
    if stdin is not None:
        status, root = ep.soap(envelope(SH + 'Send', CMD,
                                        '<rsp:Send><rsp:Stream Name="stdin" CommandId="%s" End="true">%s'
                                        '</rsp:Stream></rsp:Send>' % (cid, base64.b64encode(stdin).decode()),
                                        selectors=[('ShellId', shell_id)]))
        assert status == 200
    out = {'stdout': b'', 'stderr': b''}
    receives = 0
    while True:
        status, root = ep.soap(envelope(SH + 'Receive', CMD,
                                        '<rsp:Receive><rsp:DesiredStream CommandId="%s">stdout stderr'
                                        '</rsp:DesiredStream></rsp:Receive>' % cid,
                                        selectors=[('ShellId', shell_id)], timeout=timeout, max_env=limit))
        receives += 1
        if status == 500 and fault_info(root)[1] == 'w:TimedOut':
            continue
        assert status == 200, ET.tostring(root)
        for st in root.iterfind('.//rsp:Stream', NS):
            out[st.get('Name')] += base64.b64decode(st.text or '')
        state = root.find('.//rsp:CommandState', NS)
        if state.get('State').endswith('/Done'):
            return out['stdout'], out['stderr'], int(state.findtext('rsp:ExitCode', namespaces=NS)), receives, cid
