"""The PowerShell plugin: PSRP over WinRS shells backed by real pwsh (docs/testing.md).

A minimal PSRP client lives here: fragments and messages packed by hand, CLIXML written as
text (taken from the pwsh 7.6.10 client in fixtures/pwsh-7.6.10-ssh/01-a-range.in, with a
null host as pypsrp sends it, so the server makes no host calls).
"""

import base64
import os
import re
import signal
import struct
import time
import unittest
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

from eptest import NS, SH, T, Endpoint, EndpointCase, envelope, fault_info

from winrm_endpoint.psplugin import find_pwsh

PS = 'http://schemas.microsoft.com/powershell/Microsoft.PowerShell'
STATE = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/'
PWSH = find_pwsh()

SESSION_CAPABILITY = 0x00010002
INIT_RUNSPACEPOOL = 0x00010004
RUNSPACEPOOL_STATE = 0x00021005
APPLICATION_PRIVATE_DATA = 0x00021009
CREATE_PIPELINE = 0x00021006
PIPELINE_INPUT = 0x00041002
END_OF_PIPELINE_INPUT = 0x00041003
PIPELINE_OUTPUT = 0x00041004
PIPELINE_STATE = 0x00041006

CAPABILITY_XML = ('<Obj RefId="0"><MS><Version N="protocolversion">2.4</Version><Version N="PSVersion">2.0'
                  '</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>')

_ENUM = '<T>System.Enum</T><T>System.ValueType</T><T>System.Object</T>'
INIT_POOL_XML = (
    '<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">1</I32>'
    '<Obj N="PSThreadOptions" RefId="1"><TN RefId="0"><T>System.Management.Automation.Runspaces.PSThreadOptions</T>'
    + _ENUM + '</TN><ToString>Default</ToString><I32>0</I32></Obj>'
    '<Obj N="ApartmentState" RefId="2"><TN RefId="1"><T>System.Threading.ApartmentState</T>' + _ENUM
    + '</TN><ToString>Unknown</ToString><I32>2</I32></Obj>'
    '<Obj N="ApplicationArguments" RefId="3"><TN RefId="2"><T>System.Management.Automation.PSPrimitiveDictionary</T>'
    '<T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT><En><S N="Key">PSVersionTable</S>'
    '<Obj N="Value" RefId="4"><TNRef RefId="2" /><DCT>'
    '<En><S N="Key">PSRemotingProtocolVersion</S><Version N="Value">2.4</Version></En>'
    '<En><S N="Key">PSEdition</S><S N="Value">Core</S></En>'
    '<En><S N="Key">SerializationVersion</S><Version N="Value">1.1.0.1</Version></En>'
    '<En><S N="Key">PSVersion</S><Version N="Value">7.6.10</Version></En>'
    '</DCT></Obj></En></DCT></Obj>'
    '<Obj N="HostInfo" RefId="5"><MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B>'
    '<B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS></Obj></MS></Obj>')


def merge_obj(name, ref):
    return ('<Obj N="%s" RefId="%d"><TNRef RefId="1" /><ToString>None</ToString><I32>0</I32></Obj>'
            % (name, ref))


def create_pipeline_xml(script, no_input=True):
    """CREATE_PIPELINE as 01-a-range.in's third pipeline, with the script replaced."""
    merges = ''.join(merge_obj(n, 5 + i) for i, n in enumerate(
        ('MergeToResult', 'MergePreviousResults', 'MergeError', 'MergeWarning', 'MergeVerbose',
         'MergeDebug', 'MergeInformation')))
    return (
        '<Obj RefId="0"><MS><Obj N="PowerShell" RefId="1"><MS><Obj N="Cmds" RefId="2"><TN RefId="0">'
        '<T>System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, '
        'Version=7.6.0.500, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T></TN><LST>'
        '<Obj RefId="3"><MS><S N="Cmd">%s</S><B N="IsScript">true</B><Nil N="UseLocalScope" />'
        '<Obj N="MergeMyResult" RefId="4"><TN RefId="1"><T>System.Management.Automation.Runspaces.PipelineResultTypes</T>'
        + _ENUM + '</TN><ToString>None</ToString><I32>0</I32></Obj>' + merges
        + '<Obj N="Args" RefId="12"><TNRef RefId="0" /><LST /></Obj></MS></Obj></LST></Obj>'
        '<B N="IsNested">false</B><Nil N="History" /><B N="RedirectShellErrorOutputPipe">true</B></MS></Obj>'
        '<B N="NoInput">%s</B><Obj N="ApartmentState" RefId="13"><TN RefId="2"><T>System.Threading.ApartmentState</T>'
        + _ENUM + '</TN><ToString>Unknown</ToString><I32>2</I32></Obj>'
        '<Obj N="RemoteStreamOptions" RefId="14"><TN RefId="3"><T>System.Management.Automation.RemoteStreamOptions</T>'
        + _ENUM + '</TN><ToString>0</ToString><I32>0</I32></Obj><B N="AddToHistory">true</B>'
        '<Obj N="HostInfo" RefId="15"><MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B>'
        '<B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS></Obj>'
        '<B N="IsNested">false</B></MS></Obj>') % (xml_escape(script), 'true' if no_input else 'false')


class PsClient:
    """Packs messages into fragments and unpacks the server's (facts.md 3.1, 3.2)."""

    def __init__(self):
        self.rpid = uuid.uuid4()
        self.next_object = 1
        self.partial = {}
        self.fragment_ids = {}

    def message(self, mtype, clixml, pid=None):
        blob = (struct.pack('<II', 2, mtype) + self.rpid.bytes_le + (pid or uuid.UUID(int=0)).bytes_le
                + clixml.encode('utf-8'))
        frag = struct.pack('>QQBI', self.next_object, 0, 3, len(blob)) + blob
        self.next_object += 1
        return frag

    def feed(self, data):
        """Whole messages in data: [(type, pid, clixml)]; checks fragment id order."""
        out = []
        pos = 0
        while pos < len(data):
            oid, fid, flags, length = struct.unpack_from('>QQBI', data, pos)
            blob = data[pos + 21:pos + 21 + length]
            assert len(blob) == length, 'a fragment split across Stream elements'
            pos += 21 + length
            if flags & 1:
                self.partial[oid] = b''
                self.fragment_ids[oid] = 0
            assert fid == self.fragment_ids[oid], 'fragment %d of object %d out of order' % (fid, oid)
            self.fragment_ids[oid] += 1
            self.partial[oid] += blob
            if flags & 2:
                msg = self.partial.pop(oid)
                mtype = struct.unpack_from('<I', msg, 4)[0]
                pid = uuid.UUID(bytes_le=msg[24:40])
                out.append((mtype, pid, msg[40:].decode('utf-8-sig')))
        return out


def state_of(clixml, name):
    return int(re.search(r'<I32 N="%s">(-?\d+)</I32>' % name, clixml).group(1))


@unittest.skipUnless(PWSH or os.environ.get('CI'), 'pwsh 7.6 not installed (~/.dotnet/tools/pwsh or $RMS_PWSH): '
                     'the PowerShell plugin needs it')
class PsCase(EndpointCase):
    @classmethod
    def setUpClass(cls):
        if not PWSH:
            raise AssertionError('CI is set but pwsh was not found: the PowerShell plugin cannot be tested')
        super().setUpClass()

    def call(self, action, body='', selectors=(), uri=PS, **kw):
        return self.ep.soap(envelope(action, uri, body, selectors=selectors, **kw))

    def create(self, client, idle=None, expect=200):
        creation = base64.b64encode(client.message(SESSION_CAPABILITY, CAPABILITY_XML)
                                    + client.message(INIT_RUNSPACEPOOL, INIT_POOL_XML)).decode()
        shell_id = str(client.rpid).upper()
        status, root = self.call(
            T + 'Create', '<rsp:Shell ShellId="%s"><rsp:InputStreams>stdin pr</rsp:InputStreams>'
            '<rsp:OutputStreams>stdout</rsp:OutputStreams>%s<creationXml xmlns="http://schemas.microsoft.com/powershell">'
            '%s</creationXml></rsp:Shell>' % (shell_id, '<rsp:IdleTimeOut>%s</rsp:IdleTimeOut>' % idle if idle else '',
                                              creation),
            options=[('protocolversion', '2.3')])
        self.assertEqual(status, expect, fault_info(root))
        return shell_id, root

    def receive(self, shell_id, cid=None, timeout='PT20S', max_env=512000):
        attr = ' CommandId="%s"' % cid if cid else ''
        return self.call(SH + 'Receive', '<rsp:Receive><rsp:DesiredStream%s>stdout</rsp:DesiredStream></rsp:Receive>'
                         % attr, [('ShellId', shell_id)], timeout=timeout, max_env=max_env)

    def receive_until(self, client, shell_id, stop, cid=None, max_env=512000, sizes=None):
        """Receives (retrying TimedOut) until stop(messages, root) is true; returns the messages."""
        msgs = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, root = self.receive(shell_id, cid, max_env=max_env)
            if status == 500 and fault_info(root)[1] == 'w:TimedOut':
                continue
            self.assertEqual(status, 200, fault_info(root))
            if sizes is not None:
                sizes.append(len(ET.tostring(root)))
            for st in root.iterfind('.//rsp:Stream', NS):
                self.assertEqual(st.get('Name'), 'stdout')
                self.assertEqual(st.get('CommandId'), cid)
                msgs.extend(client.feed(base64.b64decode(st.text or '')))
            if stop(msgs, root):
                return msgs
        self.fail('no end of receive within 60 s')

    def open_pool(self, client, **kw):
        shell_id, root = self.create(client, **kw)
        msgs = self.receive_until(client, shell_id, lambda m, r: any(
            t == RUNSPACEPOOL_STATE and state_of(x, 'RunspaceState') == 2 for t, _p, x in m))
        return shell_id, root, msgs

    def command(self, client, shell_id, script, no_input=True):
        pid = uuid.uuid4()
        first = client.message(CREATE_PIPELINE, create_pipeline_xml(script, no_input), pid)
        status, root = self.call(SH + 'Command', '<rsp:CommandLine CommandId="%s"><rsp:Command> </rsp:Command>'
                                 '<rsp:Arguments>%s</rsp:Arguments></rsp:CommandLine>'
                                 % (str(pid).upper(), base64.b64encode(first).decode()), [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        cid = root.findtext('.//rsp:CommandId', namespaces=NS)
        self.assertEqual(cid, str(pid).upper())
        return pid, cid

    def run_to_done(self, client, shell_id, cid, **kw):
        done = []

        def stop(msgs, root):
            state = root.find('.//rsp:CommandState', NS)
            if state is not None and state.get('State') == STATE + 'Done':
                self.assertEqual(state.get('CommandId'), cid)
                self.assertEqual(state.findtext('rsp:ExitCode', namespaces=NS), '0')
                done.append(True)
            return bool(done)
        return self.receive_until(client, shell_id, stop, cid, **kw)

    def delete(self, shell_id):
        status, root = self.call(T + 'Delete', selectors=[('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose.
    try:
        with open('/proc/%d/stat' % pid) as fh:
            return fh.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


class PowerShellTest(PsCase):
    def test_open_run_range_and_delete(self):
        client = PsClient()
        shell_id, root, msgs = self.open_pool(client)
        self.assertEqual(root.findtext('s:Header/a:Action', namespaces=NS), T + 'CreateResponse')
        self.assertEqual(root.findtext('.//x:ResourceCreated/a:ReferenceParameters/w:ResourceURI',
                                       namespaces=dict(NS, x=NS['x'] if 'x' in NS else
                                                       'http://schemas.xmlsoap.org/ws/2004/09/transfer')), PS)
        shell = root.find('s:Body/rsp:Shell', NS)
        self.assertEqual([c.tag.split('}')[1] for c in shell],
                         ['ShellId', 'ResourceUri', 'Owner', 'ClientIP', 'ProcessId', 'IdleTimeOut', 'InputStreams',
                          'OutputStreams', 'MaxIdleTimeOut', 'Locale', 'DataLocale', 'CompressionMode',
                          'ProfileLoaded', 'Encoding', 'BufferMode', 'State', 'ShellRunTime', 'ShellInactivity'])
        self.assertEqual(shell.findtext('rsp:ShellId', namespaces=NS), shell_id)
        pwsh_pid = int(shell.findtext('rsp:ProcessId', namespaces=NS))
        self.assertTrue(alive(pwsh_pid))
        self.assertEqual([t for t, _p, _x in msgs], [SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA, RUNSPACEPOOL_STATE])

        pid, cid = self.command(client, shell_id, '1..3')
        msgs = self.run_to_done(client, shell_id, cid)
        self.assertEqual([(t, p) for t, p, _x in msgs], [(PIPELINE_OUTPUT, pid)] * 3 + [(PIPELINE_STATE, pid)])
        self.assertEqual([x for _t, _p, x in msgs[:3]], ['<I32>1</I32>', '<I32>2</I32>', '<I32>3</I32>'])
        self.assertEqual(state_of(msgs[3][2], 'PipelineState'), 4)

        status, root = self.call(SH + 'Signal', '<rsp:Signal CommandId="%s"><rsp:Code>http://schemas.microsoft.com/'
                                 'wbem/wsman/1/windows/shell/signal/terminate</rsp:Code></rsp:Signal>' % cid,
                                 [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        self.assertIsNotNone(root.find('s:Body/rsp:SignalResponse', NS))
        status, root = self.receive(shell_id, cid)
        self.assertEqual(fault_info(root)[1:3], ('w:InvalidSelectors', '2150858843'))

        stats = self.ep.stats()
        self.assertGreaterEqual(stats['pwsh_running'], 1)
        self.delete(shell_id)
        self.assertFalse(alive(pwsh_pid), 'pwsh still runs after Delete')
        status, root = self.receive(shell_id)
        self.assertEqual(fault_info(root)[1:3], ('w:InvalidSelectors', '2150858843'))

    def test_pipeline_input(self):
        client = PsClient()
        shell_id, _root, _msgs = self.open_pool(client)
        pid, cid = self.command(client, shell_id, '$input | ForEach-Object { $_ * 2 }', no_input=False)
        data = b''.join(client.message(PIPELINE_INPUT, '<I32>%d</I32>' % i, pid) for i in (1, 2, 3))
        data += client.message(END_OF_PIPELINE_INPUT, '', pid)
        status, root = self.call(SH + 'Send', '<rsp:Send><rsp:Stream Name="stdin" CommandId="%s">%s</rsp:Stream>'
                                 '</rsp:Send>' % (cid, base64.b64encode(data).decode()), [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        self.assertIsNotNone(root.find('s:Body/rsp:SendResponse', NS))
        msgs = self.run_to_done(client, shell_id, cid)
        self.assertEqual([x for t, _p, x in msgs if t == PIPELINE_OUTPUT], ['<I32>2</I32>', '<I32>4</I32>', '<I32>6</I32>'])
        self.assertEqual(state_of(msgs[-1][2], 'PipelineState'), 4)
        self.delete(shell_id)

    def test_timed_out_then_stop_with_crtl_c(self):
        client = PsClient()
        shell_id, _root, _msgs = self.open_pool(client)
        pid, cid = self.command(client, shell_id, 'Start-Sleep -Seconds 120')
        status, root = self.receive(shell_id, cid, timeout='PT1S')
        self.assertEqual(fault_info(root)[1:3], ('w:TimedOut', '2150858793'))
        started = time.monotonic()
        # The code exactly as PowerShell's client sends it (relative, crtl_c).
        status, root = self.call(SH + 'Signal', '<rsp:Signal CommandId="%s"><rsp:Code>'
                                 'powershell/signal/crtl_c</rsp:Code></rsp:Signal>' % cid, [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        msgs = self.run_to_done(client, shell_id, cid)
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual(msgs[-1][0], PIPELINE_STATE)
        self.assertEqual(state_of(msgs[-1][2], 'PipelineState'), 3)       # Stopped
        # The pool stays usable.
        pid, cid = self.command(client, shell_id, '"after"')
        msgs = self.run_to_done(client, shell_id, cid)
        self.assertEqual(msgs[0][2], '<S>after</S>')
        self.delete(shell_id)

    def test_small_envelope_splits_output_into_whole_fragments(self):
        client = PsClient()
        shell_id, _root, _msgs = self.open_pool(client)
        pid, cid = self.command(client, shell_id, "'x' * 100000")
        sizes = []
        msgs = self.run_to_done(client, shell_id, cid, max_env=8192, sizes=sizes)
        self.assertEqual(msgs[0][2], '<S>%s</S>' % ('x' * 100000))
        self.assertGreater(len(sizes), 10)
        self.assertLessEqual(max(sizes), 8192)
        self.assertEqual(self.ep.stats()['responses_over_limit'], 0)
        self.delete(shell_id)

    def test_unknown_configuration(self):
        client = PsClient()
        self.create(client, expect=200)          # the default one exists ...
        self.delete(str(client.rpid).upper())
        status, root = self.call(T + 'Create', '<rsp:Shell><rsp:InputStreams>stdin pr</rsp:InputStreams>'
                                 '<rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>',
                                 uri='http://schemas.microsoft.com/powershell/JEARole')
        self.assertFault(status, root, 'a:DestinationUnreachable', 2150858770)
        self.assertIn('Cannot find the JEARole session configuration', root.findtext('.//f:Message', namespaces=NS))

    def test_pwsh_dying_is_a_plugin_fault(self):
        client = PsClient()
        shell_id, root, _msgs = self.open_pool(client)
        pwsh_pid = int(root.findtext('.//rsp:ProcessId', namespaces=NS))
        os.kill(pwsh_pid, signal.SIGKILL)
        status, root = self.receive(shell_id, timeout='PT10S')
        self.assertEqual(status, 500)
        self.assertEqual(fault_info(root)[1:3], ('w:InternalError', '1726'))
        self.assertIn('provider host process', root.findtext('.//f:Message', namespaces=NS))
        self.delete(shell_id)


class PowerShellQuotaTest(PsCase):
    ARGS = ('--max-shells-per-user', '1')

    def test_quota_and_idle_expiry_end_pwsh(self):
        client = PsClient()
        shell_id, root = self.create(client, idle='PT2S')
        pwsh_pid = int(root.findtext('.//rsp:ProcessId', namespaces=NS))
        status, root = self.create(PsClient(), expect=500)
        self.assertEqual(fault_info(root)[1], 'w:QuotaLimit')
        deadline = time.monotonic() + 20
        while alive(pwsh_pid) and time.monotonic() < deadline:
            time.sleep(0.25)
        self.assertFalse(alive(pwsh_pid), 'idle expiry did not end pwsh')
        stats = self.ep.stats()
        self.assertEqual(stats['shells_expired'], 1)
        self.assertEqual(stats['shells_open'], 0)
        other = PsClient()
        shell_id, _root = self.create(other)
        self.delete(shell_id)


if __name__ == '__main__':
    unittest.main()
