"""The classes the endpoint's "WMI provider" serves (namespace root/cimv2).

Win32_OperatingSystem  singleton
Win32_Service          a few dozen services; StartService / StopService / ChangeStartMode
Win32_Process          static Create spawns a real local process (/bin/sh -c); Terminate
X_Widget               writable: Create / Put / Delete
Win32_DependentService association between services (Antecedent, Dependent)
X_Number               N generated instances carrying every CIM type, made on demand
X_NumberDetail         the embedded-instance class used by X_Number.Detail
CIM_Service, CIM_Process, CIM_OperatingSystem  superclasses (deep enumeration)

Method return codes are the documented Win32_Service / Win32_Process ones.
"""

import datetime
import os
import signal
import subprocess
import threading

from . import faults
from .cimxml import Embedded, Prop, Ref

UTC = datetime.timezone.utc
BOOT_TIME = datetime.datetime(2024, 3, 1, 6, 30, 0, 125000, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))


class Method:
    def __init__(self, name, static, params, outs, func):
        self.name = name
        self.static = static
        self.params = params      # [Prop] in parameters
        self.outs = outs          # [Prop] out parameters (ReturnValue is added last)
        self.func = func          # func(inst_or_None, args) -> (return_value, {out: value})


class CimClass:
    name = ''
    superclass = None
    singleton = False
    writable = False
    association = False

    def __init__(self, provider):
        self.provider = provider
        self.methods = {}

    props = []

    def key_props(self):
        return [p for p in self.props if p.key]

    def prop(self, name):
        for p in self.props:
            if p.name.lower() == name.lower():
                return p
        return None

    def items(self):
        """Iterator of (concrete class, instance dict); lazy for large classes."""
        for inst in self.instances():
            yield self, inst

    def instances(self):
        return iter(())

    def get(self, keys):
        """keys: {lower-case key name: typed value}. Returns the instance or None."""
        for inst in self.instances():
            if all(_eq(inst.get(p.name), keys.get(p.name.lower())) for p in self.key_props()):
                return inst
        return None

    def key_values(self, inst):
        return [(p.name, inst.get(p.name)) for p in self.key_props()]

    def ref(self, inst):
        return Ref(self.name, self.key_values(inst))

    def create(self, values):
        raise _not_supported('Create', self.name)

    def put(self, keys, values):
        raise _not_supported('Put', self.name)

    def delete(self, keys):
        raise _not_supported('Delete', self.name)


def _not_supported(op, cls):
    return faults.wmi_error('w:UnsupportedFeature', 's:Sender', (0x8004100C, 7),
                            'Not supported: %s on %s ' % (op, cls), 0)


def _eq(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


class Registry:
    """Class lookup by case-insensitive name."""

    def __init__(self):
        self.classes = {}

    def add(self, cls):
        self.classes[cls.name.lower()] = cls

    def get(self, name):
        return self.classes.get((name or '').lower())


REGISTRY = Registry()


# ---- Win32_OperatingSystem -------------------------------------------------------------

class OperatingSystem(CimClass):
    name = 'Win32_OperatingSystem'
    superclass = 'CIM_OperatingSystem'
    singleton = True
    props = [
        Prop('BootDevice', 'string'), Prop('BuildNumber', 'string'), Prop('Caption', 'string'),
        Prop('CodeSet', 'string'), Prop('CountryCode', 'string'), Prop('CSName', 'string'),
        Prop('CurrentTimeZone', 'sint16'), Prop('FreePhysicalMemory', 'uint64'),
        Prop('InstallDate', 'datetime'), Prop('LastBootUpTime', 'datetime'),
        Prop('LocalDateTime', 'datetime'), Prop('Locale', 'string'), Prop('Manufacturer', 'string'),
        Prop('MUILanguages', 'string', array=True), Prop('Name', 'string'),
        Prop('NumberOfProcesses', 'uint32'), Prop('NumberOfUsers', 'uint32'),
        Prop('OSArchitecture', 'string'), Prop('OSType', 'uint16'), Prop('Primary', 'boolean'),
        Prop('ProductType', 'uint32'), Prop('SerialNumber', 'string'),
        Prop('ServicePackMajorVersion', 'uint16'), Prop('Status', 'string'),
        Prop('SystemDirectory', 'string'), Prop('TotalVisibleMemorySize', 'uint64'),
        Prop('Version', 'string'), Prop('WindowsDirectory', 'string'),
    ]

    def instances(self):
        now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=1))).replace(microsecond=0)
        yield {
            'BootDevice': r'\Device\HarddiskVolume1', 'BuildNumber': '14393',
            'Caption': 'Microsoft Windows Server 2016 Datacenter', 'CodeSet': '1252',
            'CountryCode': '1', 'CSName': 'REMSESS-TEST', 'CurrentTimeZone': 60,
            'FreePhysicalMemory': 5242880, 'InstallDate': datetime.datetime(2023, 11, 2, 9, 15, 0, tzinfo=UTC),
            'LastBootUpTime': BOOT_TIME, 'LocalDateTime': now, 'Locale': '0409',
            'Manufacturer': 'Microsoft Corporation', 'MUILanguages': ['en-US'],
            'Name': r'Microsoft Windows Server 2016 Datacenter|C:\Windows|\Device\Harddisk0\Partition2',
            'NumberOfProcesses': len(list(self.provider.processes())), 'NumberOfUsers': 1,
            'OSArchitecture': '64-bit', 'OSType': 18, 'Primary': True, 'ProductType': 3,
            'SerialNumber': '00376-40000-00000-AA947', 'ServicePackMajorVersion': 0, 'Status': 'OK',
            'SystemDirectory': r'C:\Windows\system32', 'TotalVisibleMemorySize': 8388148,
            'Version': '10.0.14393', 'WindowsDirectory': r'C:\Windows',
        }

    def get(self, keys):
        inst = next(self.instances())
        if 'name' in keys and keys['name'] != inst['Name']:
            return None
        return inst


# ---- Win32_Service ---------------------------------------------------------------------

# (Name, DisplayName, running, StartMode, AcceptStop, depends on)
SERVICES = [
    ('AppIDSvc', 'Application Identity', False, 'Manual', True, ['RpcSS', 'CryptSvc']),
    ('Appinfo', 'Application Information', True, 'Manual', True, ['RpcSS']),
    ('AudioSrv', 'Windows Audio', False, 'Manual', True, ['AudioEndpointBuilder', 'RpcSS']),
    ('AudioEndpointBuilder', 'Windows Audio Endpoint Builder', False, 'Manual', True, []),
    ('BFE', 'Base Filtering Engine', True, 'Auto', False, ['RpcSS']),
    ('BITS', 'Background Intelligent Transfer Service', False, 'Manual', True, ['RpcSS']),
    ('CryptSvc', 'Cryptographic Services', True, 'Auto', True, ['RpcSS']),
    ('DcomLaunch', 'DCOM Server Process Launcher', True, 'Auto', False, []),
    ('Dhcp', 'DHCP Client', True, 'Auto', True, ['Tcpip', 'Afd']),
    ('Afd', 'Ancillary Function Driver for Winsock', True, 'Auto', False, []),
    ('Tcpip', 'TCP/IP Protocol Driver', True, 'Auto', False, []),
    ('Dnscache', 'DNS Client', True, 'Auto', False, ['Tcpip']),
    ('EventLog', 'Windows Event Log', True, 'Auto', True, []),
    ('gpsvc', 'Group Policy Client', True, 'Auto', False, ['RpcSS', 'Mup']),
    ('Mup', 'Multiple UNC Provider', True, 'Auto', False, []),
    ('HTTP', 'HTTP Service', True, 'Manual', True, []),
    ('IKEEXT', 'IKE and AuthIP IPsec Keying Modules', False, 'Manual', True, ['BFE']),
    ('iphlpsvc', 'IP Helper', True, 'Auto', True, ['RpcSS', 'Tcpip', 'WinHttpAutoProxySvc']),
    ('WinHttpAutoProxySvc', 'WinHTTP Web Proxy Auto-Discovery Service', True, 'Manual', True, ['Dhcp']),
    ('LanmanServer', 'Server', True, 'Auto', True, ['SamSS', 'Srv2']),
    ('LanmanWorkstation', 'Workstation', True, 'Auto', True, ['Bowser', 'MRxSmb20', 'NSI']),
    ('Bowser', 'Browser', True, 'Manual', False, []),
    ('MRxSmb20', 'SMB 2.0 MiniRedirector', True, 'Manual', False, []),
    ('NSI', 'Network Store Interface Service', True, 'Auto', False, ['RpcSS']),
    ('SamSS', 'Security Accounts Manager', True, 'Auto', False, ['RpcSS']),
    ('Srv2', 'Server SMB 2.xxx Driver', True, 'Manual', False, []),
    ('MpsSvc', 'Windows Firewall', True, 'Auto', False, ['BFE']),
    ('msiserver', 'Windows Installer', False, 'Manual', True, ['RpcSS']),
    ('Netlogon', 'Netlogon', False, 'Manual', True, ['LanmanWorkstation']),
    ('RemoteRegistry', 'Remote Registry', False, 'Disabled', True, ['RpcSS']),
    ('RpcEptMapper', 'RPC Endpoint Mapper', True, 'Auto', False, []),
    ('RpcSS', 'Remote Procedure Call (RPC)', True, 'Auto', False, ['RpcEptMapper', 'DcomLaunch']),
    ('Schedule', 'Task Scheduler', True, 'Auto', False, ['RpcSS']),
    ('Spooler', 'Print Spooler', True, 'Auto', True, ['RpcSS', 'HTTP']),
    ('TermService', 'Remote Desktop Services', True, 'Manual', True, ['RpcSS']),
    ('W32Time', 'Windows Time', True, 'Manual', True, []),
    ('WinRM', 'Windows Remote Management (WS-Management)', True, 'Auto', True, ['RpcSS', 'HTTP']),
    ('Winmgmt', 'Windows Management Instrumentation', True, 'Auto', True, ['RpcSS']),
    ('wuauserv', 'Windows Update', False, 'Manual', True, ['RpcSS']),
    ('TrustedInstaller', 'Windows Modules Installer', False, 'Manual', True, []),
]


class Service(CimClass):
    name = 'Win32_Service'
    superclass = 'CIM_Service'
    props = [
        Prop('AcceptPause', 'boolean'), Prop('AcceptStop', 'boolean'), Prop('Caption', 'string'),
        Prop('CheckPoint', 'uint32'), Prop('CreationClassName', 'string'),
        Prop('DelayedAutoStart', 'boolean'), Prop('Description', 'string'),
        Prop('DesktopInteract', 'boolean'), Prop('DisplayName', 'string'),
        Prop('ErrorControl', 'string'), Prop('ExitCode', 'uint32'), Prop('InstallDate', 'datetime'),
        Prop('Name', 'string', key=True), Prop('PathName', 'string'), Prop('ProcessId', 'uint32'),
        Prop('ServiceSpecificExitCode', 'uint32'), Prop('ServiceType', 'string'),
        Prop('Started', 'boolean'), Prop('StartMode', 'string'), Prop('StartName', 'string'),
        Prop('State', 'string'), Prop('Status', 'string'), Prop('SystemCreationClassName', 'string'),
        Prop('SystemName', 'string'), Prop('TagId', 'uint32'), Prop('WaitHint', 'uint32'),
    ]

    def __init__(self, provider):
        super().__init__(provider)
        self.lock = threading.Lock()
        self.state = {}
        for idx, (name, display, running, mode, accept_stop, deps) in enumerate(SERVICES):
            self.state[name.lower()] = {
                'name': name, 'display': display, 'running': running, 'mode': mode,
                'accept_stop': accept_stop, 'deps': deps, 'pid': 600 + idx * 4 if running else 0,
            }
        self.methods = {
            'startservice': Method('StartService', False, [], [], self.start_service),
            'stopservice': Method('StopService', False, [], [], self.stop_service),
            'changestartmode': Method('ChangeStartMode', False, [Prop('StartMode', 'string')], [],
                                      self.change_start_mode),
        }

    def _inst(self, st):
        running = st['running']
        return {
            'AcceptPause': False, 'AcceptStop': running and st['accept_stop'],
            'Caption': st['display'], 'CheckPoint': 0, 'CreationClassName': 'Win32_Service',
            'DelayedAutoStart': False, 'Description': '%s service.' % st['display'],
            'DesktopInteract': False, 'DisplayName': st['display'], 'ErrorControl': 'Normal',
            'ExitCode': 0 if running else 1077, 'InstallDate': None, 'Name': st['name'],
            'PathName': r'C:\Windows\system32\svchost.exe -k netsvcs -p', 'ProcessId': st['pid'],
            'ServiceSpecificExitCode': 0, 'ServiceType': 'Share Process', 'Started': running,
            'StartMode': st['mode'], 'StartName': 'LocalSystem',
            'State': 'Running' if running else 'Stopped', 'Status': 'OK',
            'SystemCreationClassName': 'Win32_ComputerSystem', 'SystemName': 'REMSESS-TEST',
            'TagId': 0, 'WaitHint': 0,
        }

    def instances(self):
        with self.lock:
            snapshot = [dict(st) for st in self.state.values()]
        for st in snapshot:
            yield self._inst(st)

    def get(self, keys):
        name = keys.get('name')
        with self.lock:
            st = self.state.get(str(name).lower()) if name is not None else None
            return self._inst(dict(st)) if st else None

    def dependencies(self):
        """(antecedent, dependent) name pairs: dependent needs antecedent."""
        with self.lock:
            pairs = []
            for st in self.state.values():
                for dep in st['deps']:
                    if dep.lower() in self.state:
                        pairs.append((self.state[dep.lower()]['name'], st['name']))
        return pairs

    def start_service(self, inst, args):
        with self.lock:
            st = self.state[inst['Name'].lower()]
            if st['running']:
                return 10, {}        # Service Already Running
            if st['mode'] == 'Disabled':
                return 14, {}        # Service Disabled
            st['running'] = True
            st['pid'] = 4000 + len(st['name'])
        return 0, {}

    def stop_service(self, inst, args):
        with self.lock:
            st = self.state[inst['Name'].lower()]
            if not st['running']:
                return 5, {}         # Service Cannot Accept Control (not running)
            if not st['accept_stop']:
                return 5, {}
            for other in self.state.values():
                if other['running'] and st['name'] in other['deps']:
                    return 3, {}     # Dependent Services Running
            st['running'] = False
            st['pid'] = 0
        return 0, {}

    def change_start_mode(self, inst, args):
        mode = args.get('StartMode')
        valid = {'boot': 'Boot', 'system': 'System', 'automatic': 'Auto', 'auto': 'Auto',
                 'manual': 'Manual', 'disabled': 'Disabled'}
        if mode is None or mode.lower() not in valid:
            return 21, {}            # Invalid Parameter
        with self.lock:
            self.state[inst['Name'].lower()]['mode'] = valid[mode.lower()]
        return 0, {}


# ---- Win32_Process ---------------------------------------------------------------------

SYSTEM_PROCESSES = [
    (0, 'System Idle Process', None, 0), (4, 'System', None, 0), (312, 'smss.exe', None, 4),
    (416, 'csrss.exe', None, 404), (488, 'wininit.exe', None, 404), (560, 'services.exe', None, 488),
    (572, 'lsass.exe', r'C:\Windows\system32\lsass.exe', 488),
    (688, 'svchost.exe', r'C:\Windows\system32\svchost.exe -k DcomLaunch', 560),
    (1224, 'svchost.exe', r'C:\Windows\System32\svchost.exe -k NetworkService', 560),
]


class Process(CimClass):
    name = 'Win32_Process'
    superclass = 'CIM_Process'
    props = [
        Prop('Caption', 'string'), Prop('CommandLine', 'string'), Prop('CreationClassName', 'string'),
        Prop('CreationDate', 'datetime'), Prop('CSName', 'string'), Prop('ExecutablePath', 'string'),
        Prop('Handle', 'string', key=True), Prop('HandleCount', 'uint32'), Prop('KernelModeTime', 'uint64'),
        Prop('Name', 'string'), Prop('OSName', 'string'), Prop('ParentProcessId', 'uint32'),
        Prop('Priority', 'uint32'), Prop('ProcessId', 'uint32'), Prop('ThreadCount', 'uint32'),
        Prop('UserModeTime', 'uint64'), Prop('WorkingSetSize', 'uint64'),
    ]

    def __init__(self, provider):
        super().__init__(provider)
        self.lock = threading.Lock()
        self.spawned = {}      # pid -> (Popen, command line, creation datetime, cwd)
        self.methods = {
            'create': Method('Create', True,
                             [Prop('CommandLine', 'string'), Prop('CurrentDirectory', 'string'),
                              Prop('ProcessStartupInformation', 'instance', embedded='Win32_ProcessStartup')],
                             [Prop('ProcessId', 'uint32')], self.create_process),
            'terminate': Method('Terminate', False, [Prop('Reason', 'uint32')], [], self.terminate),
        }

    def _fixed(self, pid, name, cmdline, parent):
        return {
            'Caption': name, 'CommandLine': cmdline, 'CreationClassName': 'Win32_Process',
            'CreationDate': BOOT_TIME if pid else None, 'CSName': 'REMSESS-TEST',
            'ExecutablePath': cmdline.split(' ')[0] if cmdline else None, 'Handle': str(pid),
            'HandleCount': 100 + pid % 97, 'KernelModeTime': pid * 15625, 'Name': name,
            'OSName': 'Microsoft Windows Server 2016 Datacenter', 'ParentProcessId': parent,
            'Priority': 8, 'ProcessId': pid, 'ThreadCount': 4, 'UserModeTime': pid * 31250,
            'WorkingSetSize': 4096 * (pid + 1),
        }

    def reap(self):
        with self.lock:
            for pid, (popen, _cmd, _created, _cwd) in list(self.spawned.items()):
                if popen.poll() is not None:
                    del self.spawned[pid]

    def instances(self):
        for pid, name, cmdline, parent in SYSTEM_PROCESSES:
            yield self._fixed(pid, name, cmdline, parent)
        self.reap()
        with self.lock:
            spawned = list(self.spawned.items())
        for pid, (popen, cmdline, created, cwd) in spawned:
            inst = self._fixed(pid, 'sh', '/bin/sh -c ' + cmdline, os.getpid())
            inst.update({'CommandLine': cmdline, 'CreationDate': created, 'ExecutablePath': '/bin/sh',
                         'Name': 'sh', 'Caption': 'sh'})
            yield inst

    def get(self, keys):
        handle = keys.get('handle')
        for inst in self.instances():
            if inst['Handle'] == str(handle):
                return inst
        return None

    def create_process(self, inst, args):
        cmdline = args.get('CommandLine')
        if not cmdline:
            return 21, {'ProcessId': None}            # Invalid Parameter
        cwd = args.get('CurrentDirectory') or self.provider.cfg.workdir
        if not os.path.isdir(cwd):
            return 9, {'ProcessId': None}             # Path Not Found
        try:
            popen = subprocess.Popen(['/bin/sh', '-c', cmdline], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        except OSError:
            return 8, {'ProcessId': None}             # Unknown Failure
        with self.lock:
            self.spawned[popen.pid] = (popen, cmdline, datetime.datetime.now(UTC), cwd)
        self.provider.stats.add('processes_created')
        return 0, {'ProcessId': popen.pid}

    def terminate(self, inst, args):
        pid = inst['ProcessId']
        with self.lock:
            entry = self.spawned.get(pid)
        if entry is None:
            return 2, {}                              # Access Denied (system processes)
        popen = entry[0]
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.reap()
        return 0, {}

    def close(self):
        with self.lock:
            entries = list(self.spawned.values())
            self.spawned.clear()
        for popen, _c, _d, _w in entries:
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


class ProcessStartup(CimClass):
    name = 'Win32_ProcessStartup'
    props = [Prop('ShowWindow', 'uint16'), Prop('Title', 'string'), Prop('EnvironmentVariables', 'string', array=True)]


# ---- X_Widget (writable) ---------------------------------------------------------------

class Widget(CimClass):
    name = 'X_Widget'
    writable = True
    props = [
        Prop('Id', 'string', key=True), Prop('Name', 'string'), Prop('Size', 'uint32'),
        Prop('Enabled', 'boolean'), Prop('Ratio', 'real64'), Prop('Tags', 'string', array=True),
        Prop('Created', 'datetime'),
    ]

    def __init__(self, provider):
        super().__init__(provider)
        self.lock = threading.Lock()
        self.rows = {}
        for i, (wid, name) in enumerate([('w1', 'alpha'), ('w2', 'beta'), ('w3', 'gamma')]):
            self.rows[wid] = {'Id': wid, 'Name': name, 'Size': (i + 1) * 10, 'Enabled': i != 1,
                              'Ratio': 0.5 * (i + 1), 'Tags': ['t%d' % k for k in range(i)],
                              'Created': datetime.datetime(2024, 1, 1 + i, 12, 0, 0, tzinfo=UTC)}

    def instances(self):
        with self.lock:
            rows = [dict(r) for r in self.rows.values()]
        return iter(rows)

    def get(self, keys):
        with self.lock:
            for wid, row in self.rows.items():
                if wid.lower() == str(keys.get('id')).lower():
                    return dict(row)
        return None

    def _complete(self, values):
        row = {p.name: None for p in self.props}
        row['Tags'] = []
        row.update(values)
        return row

    def create(self, values):
        wid = values.get('Id')
        if not wid:
            raise faults.invalid_representation('The key property Id of X_Widget is missing. ')
        with self.lock:
            if any(k.lower() == wid.lower() for k in self.rows):
                raise faults.wmi_already_exists()
            row = self._complete(values)
            if row['Created'] is None:
                row['Created'] = datetime.datetime.now(UTC).replace(microsecond=0)
            self.rows[wid] = row
            return dict(row)

    def put(self, keys, values):
        with self.lock:
            for wid, row in self.rows.items():
                if wid.lower() == str(keys.get('id')).lower():
                    if 'Id' in values and str(values['Id']).lower() != wid.lower():
                        # ERROR_WSMAN_CANNOT_CHANGE_KEYS 0x803380ED.
                        raise faults.WsmanFault(
                            's:Sender', 'x:InvalidRepresentation',
                            'The WS-Management service cannot change the key properties of a '
                            'resource. ', faults.fault_detail_uri('InvalidValue')
                            + faults.wsman_fault_detail(2150859245, 'The key property Id cannot be changed. '),
                            action=faults.ACTION_TRANSFER)
                    row.update({k: v for k, v in values.items() if k != 'Id'})
                    return dict(row)
        raise faults.wmi_not_found()

    def delete(self, keys):
        with self.lock:
            for wid in list(self.rows):
                if wid.lower() == str(keys.get('id')).lower():
                    del self.rows[wid]
                    return
        raise faults.wmi_not_found()


# ---- Win32_DependentService (association) ----------------------------------------------

class DependentService(CimClass):
    name = 'Win32_DependentService'
    association = True
    props = [
        Prop('Antecedent', 'reference', key=True, ref_class='Win32_Service'),
        Prop('Dependent', 'reference', key=True, ref_class='Win32_Service'),
        Prop('TypeOfDependency', 'uint16'),
    ]

    def roles(self):
        return [('Antecedent', 'Win32_Service'), ('Dependent', 'Win32_Service')]

    def instances(self):
        for ante, dep in self.provider.registry.get('Win32_Service').dependencies():
            yield {'Antecedent': Ref('Win32_Service', [('Name', ante)]),
                   'Dependent': Ref('Win32_Service', [('Name', dep)]), 'TypeOfDependency': 2}


# ---- X_Number (large, generated) -------------------------------------------------------

class NumberDetail(CimClass):
    name = 'X_NumberDetail'
    props = [Prop('Parity', 'string'), Prop('Digits', 'uint8'), Prop('Half', 'real64')]


NUMBER_EPOCH = datetime.datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))


class Number(CimClass):
    """Instance i (1..N) is a pure function of i, so nothing is stored."""
    name = 'X_Number'
    props = [
        Prop('Id', 'uint64', key=True), Prop('U8', 'uint8'), Prop('S8', 'sint8'),
        Prop('U16', 'uint16'), Prop('S16', 'sint16'), Prop('U32', 'uint32'), Prop('S32', 'sint32'),
        Prop('U64', 'uint64'), Prop('S64', 'sint64'), Prop('R32', 'real32'), Prop('R64', 'real64'),
        Prop('Flag', 'boolean'), Prop('Letter', 'char16'), Prop('Text', 'string'),
        Prop('When', 'datetime'), Prop('Span', 'datetime'), Prop('Squares', 'uint32', array=True),
        Prop('Words', 'string', array=True), Prop('Owner', 'reference', ref_class='Win32_Service'),
        Prop('Detail', 'instance', embedded='X_NumberDetail'), Prop('Nothing', 'string'),
        Prop('Sometimes', 'uint32'),
    ]

    def count(self):
        return self.provider.cfg.instances

    def make(self, i):
        when_tz = PLUS_TWO if i % 2 else UTC
        return {
            'Id': i, 'U8': i % 256, 'S8': i % 256 - 128, 'U16': i % 65536, 'S16': i % 65536 - 32768,
            'U32': (i * 2654435761) % 2**32, 'S32': -i, 'U64': 2**64 - i, 'S64': -2**63 + i,
            'R32': i / 4.0, 'R64': i / 3.0, 'Flag': i % 2 == 0, 'Letter': chr(ord('A') + i % 26),
            'Text': 'number %d <&> "\u00e9\u4e2d"' % i,
            'When': (NUMBER_EPOCH + datetime.timedelta(seconds=i, microseconds=(i % 1000) * 1000)).astimezone(when_tz),
            'Span': datetime.timedelta(days=i // 86400, seconds=i % 86400, microseconds=500000 if i % 2 else 0),
            'Squares': [(i + k) ** 2 % 2**32 for k in range(i % 4)],
            'Words': ['w%d' % k for k in range(i % 3)],
            'Owner': Ref('Win32_Service', [('Name', SERVICES[i % len(SERVICES)][0])]),
            'Detail': Embedded('X_NumberDetail', {'Parity': 'odd' if i % 2 else 'even',
                                                  'Digits': len(str(i)), 'Half': i / 2.0}),
            'Nothing': None, 'Sometimes': None if i % 10 == 0 else i,
        }

    def instances(self):
        for i in range(1, self.count() + 1):
            yield self.make(i)

    def get(self, keys):
        i = keys.get('id')
        if isinstance(i, int) and 1 <= i <= self.count():
            return self.make(i)
        return None


# ---- superclasses ----------------------------------------------------------------------

class Superclass(CimClass):
    """A CIM_ class whose instances are those of its Win32_ subclass (deep enumeration)."""

    def __init__(self, provider, name, sub):
        super().__init__(provider)
        self.name = name
        self.sub = sub
        self.props = sub.props

    def items(self):
        return self.sub.items()

    def get(self, keys):
        return self.sub.get(keys)


class Provider:
    def __init__(self, cfg, stats):
        self.cfg = cfg
        self.stats = stats
        self.registry = REGISTRY
        for klass in (OperatingSystem, Service, Process, ProcessStartup, Widget, DependentService,
                      NumberDetail, Number):
            self.registry.add(klass(self))
        for sup, sub in (('CIM_Service', 'Win32_Service'), ('CIM_Process', 'Win32_Process'),
                         ('CIM_OperatingSystem', 'Win32_OperatingSystem')):
            self.registry.add(Superclass(self, sup, self.registry.get(sub)))
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, daemon=True)
        self._reaper.start()

    def processes(self):
        return self.registry.get('Win32_Process').instances()

    def associations(self):
        return [c for c in self.registry.classes.values() if c.association]

    def _reap_loop(self):
        while not self._stop.wait(1.0):
            self.registry.get('Win32_Process').reap()

    def close(self):
        self._stop.set()
        self.registry.get('Win32_Process').close()
