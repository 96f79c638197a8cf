"""Fidelity: replay recorded client requests from ../shared/fixtures to the endpoint and
compare its answers with what Windows answered, structurally.

Sources (all recorded against real Windows hosts unless noted):
  jborean93-pypsrp/responses/test_winrs_*.yml, test_client_execute_cmd.yml,
      test_wsman_update_envelope_size_500.yml   (pypsrp, MIT)
  adstep-WinRMSharp/.../Data/Sessions/*.yml      (WinRMSharp, MIT)
  diyan-pywinrm/extracted-from-winrm-tests-conftest.py/*.xml  (pywinrm, MIT; hand-normalised,
      compared in subset mode: every element Windows sent must be in our answer)

Comparison: same HTTP status; same response a:Action; for faults the same s:Code value,
subcode and WSManFault Code; for the body, the same tree of element names and namespaces,
ignoring text, attribute values and how many times an element repeats in a row (output
chunks). rsp:ExitCode is optional because whether a Receive finds the command finished is
timing. Ids are mapped: a ShellId / CommandId Windows returned is replaced in later requests
by the one the endpoint returned. Commands that only exist on Windows are rewritten to a
POSIX command with the same observable behaviour (REWRITES below).
"""

import glob
import os
import re
import unittest
import xml.etree.ElementTree as ET

import yaml

from eptest import FIXTURES, NS, Endpoint

PYPSRP = os.path.join(FIXTURES, 'jborean93-pypsrp', 'responses')
WINRMSHARP = os.path.join(FIXTURES, 'adstep-WinRMSharp', 'src', 'WinRMSharp.Tests', 'Data', 'Sessions')
PYWINRM = os.path.join(FIXTURES, 'diyan-pywinrm', 'extracted-from-winrm-tests-conftest.py')

# Per recording: (pattern, replacement) applied to each request before sending.
REWRITES = {
    'test_winrs_operation_timeout.yml': [
        ('PT10S', 'PT1S'),
        (r'<rsp:Command>powershell.exe</rsp:Command><rsp:Arguments>[^<]*</rsp:Arguments>',
         '<rsp:Command>echo hi; sleep 2.5; echo hi again</rsp:Command>')],
    'test_winrs_send.yml': [(r'<rsp:Command>powershell.exe</rsp:Command><rsp:Arguments>-</rsp:Arguments>',
                             '<rsp:Command>cat</rsp:Command>')],
    'test_winrs_no_cmd_shell.yml': [(r'C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\powershell.exe', 'echo')],
    'ProtocolRunCommandExceedingOperationTimeout.yml': [
        ('PT5S', 'PT1S'), ('powershell -Command Start-Sleep -s 10', 'sleep 3')],
    'ProtocolRunCommandWithCommandTimeout.yml': [('powershell -Command Start-Sleep -s 10', 'sleep 0.2')],
    'ProtocolRunCommandWithCommandInput.yml': [('<rsp:Command>cmd</rsp:Command>', '<rsp:Command>cat</rsp:Command>')],
}

OPTIONAL = {'{%s}ExitCode' % NS['rsp']}

# pywinrm request -> response pairs (the conversation of its tests, ids normalised to 1111...).
PYWINRM_CONVERSATIONS = {
    'pywinrm_run_cmd': [('open_shell_request', 'open_shell_response'),
                        ('run_cmd_with_args_request', 'run_cmd_ps_response'),
                        ('get_cmd_ps_output_request', 'get_cmd_output_response'),
                        ('cleanup_cmd_request', 'cleanup_cmd_response'),
                        ('close_shell_request', 'close_shell_response')],
    'pywinrm_stdin': [('open_shell_request', 'open_shell_response'),
                      ('run_cmd_req_input', 'run_cmd_req_input_response'),
                      ('run_cmd_send_input', 'run_cmd_send_input_response'),
                      ('run_cmd_send_input_get_output', 'run_cmd_send_input_get_output_response'),
                      ('stdin_cmd_cleanup', 'stdin_cmd_cleanup_response'),
                      ('close_shell_request', 'close_shell_response')],
}


def shape(el):
    """(tag, [child shapes]) with runs of same-tag siblings collapsed to one."""
    children = []
    last = None
    for child in el:
        if child.tag == last:
            continue
        last = child.tag
        children.append(shape(child))
    return el.tag, children


def compare(recorded, ours, path, subset, diffs):
    if recorded[0] != ours[0]:
        diffs.append('%s: Windows has %s, endpoint has %s' % (path, recorded[0], ours[0]))
        return
    here = path + '/' + recorded[0].split('}')[-1]
    rec_kids = [c for c in recorded[1] if c[0] not in OPTIONAL]
    our_kids = [c for c in ours[1] if c[0] not in OPTIONAL]
    if subset:
        by_tag = {c[0]: c for c in our_kids}
        for c in rec_kids:
            if c[0] not in by_tag:
                diffs.append('%s: endpoint lacks %s' % (here, c[0]))
            else:
                compare(c, by_tag[c[0]], here, subset, diffs)
        return
    if [c[0] for c in rec_kids] != [c[0] for c in our_kids]:
        diffs.append('%s: children differ: Windows %s, endpoint %s'
                     % (here, [c[0].split('}')[-1] for c in rec_kids], [c[0].split('}')[-1] for c in our_kids]))
        return
    for a, b in zip(rec_kids, our_kids):
        compare(a, b, here, subset, diffs)


def fault_key(root):
    fault = root.find('s:Body/s:Fault', NS)
    if fault is None:
        return None
    wf = fault.find('s:Detail/f:WSManFault', NS)
    return (fault.findtext('s:Code/s:Value', namespaces=NS).strip(),
            fault.findtext('s:Code/s:Subcode/s:Value', namespaces=NS).strip(),
            wf.get('Code') if wf is not None else None)


def parse(text):
    text = re.sub(r'^\s*<\?xml[^>]*\?>', '', text)
    return ET.fromstring(text.encode('utf-8'))


def ids_in(root):
    out = []
    for sel in root.iterfind('.//w:Selector[@Name="ShellId"]', NS):
        out.append((sel.text or '').strip())
    for cid in root.iterfind('.//rsp:CommandId', NS):
        out.append((cid.text or '').strip())
    return out


def load_pypsrp(path):
    with open(path, encoding='utf-8') as fh:
        doc = yaml.safe_load(fh)
    out = []
    for m in doc['messages']:
        status = 200
        if isinstance(m.get('transport_error'), dict):
            status = m['transport_error'].get('code', 500)
        out.append((m['request'], m['response'], status))
    return out


def load_winrmsharp(path):
    with open(path, encoding='utf-8') as fh:
        doc = yaml.safe_load(fh)
    return [(m['Request']['Body'], m['Response']['Body'], m['Response']['StatusCode']) for m in doc]


def load_pywinrm(pairs):
    out = []
    for req, resp in pairs:
        with open(os.path.join(PYWINRM, req + '.xml'), encoding='utf-8') as fh:
            req_text = fh.read().replace('%s', '1')
        with open(os.path.join(PYWINRM, resp + '.xml'), encoding='utf-8') as fh:
            resp_text = fh.read().replace('%s', '1')
        out.append((req_text, resp_text, 500 if '<s:Fault>' in resp_text else 200))
    return out


def pypsrp_supported(path):
    """WinRS and config conversations; PSRP ones need the PowerShell endpoint (later issue)."""
    if os.path.basename(path).startswith('_'):
        return False
    with open(path, encoding='utf-8') as fh:
        text = fh.read()
    return 'microsoft.com/powershell' not in text.lower() and 'messages:' in text


class FidelityTest(unittest.TestCase):
    ep = None

    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint('--max-shells-per-user', '100')

    @classmethod
    def tearDownClass(cls):
        cls.ep.stop()

    def replay(self, name, exchanges, subset=False):
        idmap = {}
        for n, (req, resp, status) in enumerate(exchanges):
            for pattern, repl in REWRITES.get(name, []):
                req = re.sub(pattern, lambda m: repl, req)
            for old, new in idmap.items():
                req = re.sub(re.escape(old), new, req, flags=re.I)
            req = re.sub(r'^\s*<\?xml[^>]*\?>', '', req)
            got_status, _headers, body = self.ep.raw(req)
            where = '%s exchange %d' % (name, n)
            self.assertEqual(got_status, status, '%s: HTTP status (body %r)' % (where, body[:300]))
            recorded = parse(resp)
            ours = ET.fromstring(body)
            self.assertEqual(ours.findtext('s:Header/a:Action', namespaces=NS),
                             (recorded.findtext('s:Header/a:Action', namespaces=NS) or '').strip() or None,
                             '%s: action' % where)
            self.assertEqual(fault_key(ours), fault_key(recorded), '%s: fault code/subcode' % where)
            mid = parse(req).findtext('s:Header/a:MessageID', namespaces=NS)
            if mid:
                self.assertEqual(ours.findtext('s:Header/a:RelatesTo', namespaces=NS), mid.strip(), where)
            diffs = []
            compare(shape(recorded.find('s:Body', NS)), shape(ours.find('s:Body', NS)), '', subset, diffs)
            self.assertEqual(diffs, [], '%s: body structure' % where)
            for old, new in zip(ids_in(recorded), ids_in(ours)):
                if old and new and old.upper() != new.upper():
                    idmap[old] = new


def _add(name, loader, subset=False):
    def test(self):
        self.replay(name, loader(), subset)
    test.__name__ = 'test_' + re.sub(r'\W', '_', name)
    setattr(FidelityTest, test.__name__, test)


for _path in sorted(glob.glob(os.path.join(PYPSRP, '*.yml'))):
    if pypsrp_supported(_path):
        _add(os.path.basename(_path), lambda p=_path: load_pypsrp(p))
for _path in sorted(glob.glob(os.path.join(WINRMSHARP, '*.yml'))):
    _add(os.path.basename(_path), lambda p=_path: load_winrmsharp(p))
for _name, _pairs in PYWINRM_CONVERSATIONS.items():
    _add(_name, lambda p=_pairs: load_pywinrm(p), subset=True)


class CoverageTest(unittest.TestCase):
    def test_comparison_detects_differences(self):
        rec = ET.fromstring('<r xmlns:x="urn:x"><x:a/><x:b><x:c/></x:b></r>')
        for other in ('<r xmlns:x="urn:x"><x:a/><x:b/></r>', '<r xmlns:x="urn:y"><x:a/><x:b><x:c/></x:b></r>',
                      '<r xmlns:x="urn:x"><x:b><x:c/></x:b><x:a/></r>'):
            diffs = []
            compare(shape(rec), shape(ET.fromstring(other)), '', False, diffs)
            self.assertNotEqual(diffs, [], other)
        diffs = []
        compare(shape(rec), shape(ET.fromstring('<r xmlns:x="urn:x"><x:a/><x:a/><x:b><x:c/></x:b></r>')),
                '', False, diffs)
        self.assertEqual(diffs, [])

    def test_fixtures_are_present(self):
        self.assertTrue(os.path.isdir(PYPSRP), 'fixtures not found at %s (set RMS_FIXTURES_DIR)' % FIXTURES)
        replayed = [m for m in dir(FidelityTest) if m.startswith('test_')]
        self.assertGreaterEqual(len(replayed), 30)


if __name__ == '__main__':
    unittest.main()
