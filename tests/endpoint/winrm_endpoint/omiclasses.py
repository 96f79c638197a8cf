"""Classes only the OMI personality serves (namespace root/cimv2, like the others).

They stand in for OMI's own test providers (omi.md):

X_SmallNumber                  numbers 0..999, key Number; the order alternates between
                               enumerations (even then odd numbers, or 0..999); static
                               SpellNumber(num) whose output element is X_SmallNumber_OUTPUT
                               (not SpellNumber_OUTPUT) with an [OctetString] out parameter
TestClass_MethodProvider_Calc  static Add(Left, Right): output element <p:Add> in the URI
                               .../cim-schema/2/Add; HardError: a provider CIM_Error
Test_PhysicalDisk              base class: boolean, char16, interval (P2000D), real32 with
                               float noise, [OctetString] uint8[] (base64), a nil property
Test_VirtualDisk               derived from Test_PhysicalDisk (enumerated with it)
Test_DiskDependency            association (keys antecedent, dependent: references)
Test_DiskHealth                key DeviceID and Report, an embedded Test_HealthReport holding
                               OMI's forms inside an embedded instance: char16 as a number
                               (also a digit, '7' as 55), TRUE, an interval, an octet string;
                               disk9's char16 is 70000, which no client can decode
"""

import datetime

from .cimclasses import CimClass, Method
from .cimxml import Embedded, Prop, Ref


ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten',
        'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen',
        'eighteen', 'nineteen']
TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety']


def spell(n):
    """English words for 0 <= n <= 999999."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ('' if n % 10 == 0 else '-' + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + ' hundred' + ('' if n % 100 == 0 else ' ' + spell(n % 100))
    return spell(n // 1000) + ' thousand' + ('' if n % 1000 == 0 else ' ' + spell(n % 1000))


class OctetProp(Prop):
    """An [OctetString] uint8[] property or parameter; its Python value is bytes."""

    def __init__(self, name):
        super().__init__(name, 'uint8', array=True)
        self.octet = True


class ProviderError(Exception):
    """A provider's own failure (Calc.HardError): omi.py answers it with a CIM_Error."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


# ---- X_SmallNumber ---------------------------------------------------------------------

class SmallNumber(CimClass):
    name = 'X_SmallNumber'
    props = [Prop('Number', 'uint64', key=True), Prop('SpelledNumber', 'string'),
             Prop('IsEven', 'boolean')]
    COUNT = 1000

    def __init__(self, provider):
        super().__init__(provider)
        self.calls = 0
        self.methods = {
            'spellnumber': Method('SpellNumber', True, [Prop('num', 'uint64')],
                                  [Prop('SpelledNumber', 'string'), OctetProp('Octets')],
                                  self.spell_number),
        }

    # omi.md: "the output element is <p:X_SmallNumber_OUTPUT>, in the class URI"
    def output_element(self, method):
        return self.name + '_OUTPUT', self.name

    def make(self, n):
        return {'Number': n, 'SpelledNumber': spell(n), 'IsEven': n % 2 == 0}

    def items(self):
        # The provider alternates its order between calls: even numbers then odd ones,
        # or 0..999 in order.
        self.calls += 1
        if self.calls % 2:
            order = list(range(0, self.COUNT, 2)) + list(range(1, self.COUNT, 2))
        else:
            order = range(self.COUNT)
        for n in order:
            yield self, self.make(n)

    def instances(self):
        for n in range(self.COUNT):
            yield self.make(n)

    def get(self, keys):
        n = keys.get('number')
        if isinstance(n, int) and 0 <= n < self.COUNT:
            return self.make(n)
        return None

    def spell_number(self, inst, args):
        num = args.get('num')
        if num is None:
            return 1, {}
        words = spell(num) if num < 10**6 else str(num)
        return 0, {'SpelledNumber': words, 'Octets': words.encode('ascii')}


# ---- TestClass_MethodProvider_Calc -------------------------------------------------------

class Calc(CimClass):
    name = 'TestClass_MethodProvider_Calc'
    singleton = True
    props = [Prop('Name', 'string')]

    def __init__(self, provider):
        super().__init__(provider)
        self.methods = {
            'add': Method('Add', True, [Prop('Left', 'sint64'), Prop('Right', 'sint64')],
                          [Prop('sum', 'sint64')], self.add),
            'harderror': Method('HardError', True, [], [], self.hard_error),
        }

    # omi.md: "For the C provider TestClass_MethodProvider_Calc, it is
    # <p:Add xmlns:p=".../cim-schema/2/Add">: the method name, in a URI made from the method name."
    def output_element(self, method):
        return method.name, method.name

    def instances(self):
        yield {'Name': 'calc'}

    def get(self, keys):
        return next(self.instances())

    def add(self, inst, args):
        left, right = args.get('Left'), args.get('Right')
        if left is None or right is None:
            return 1, {}
        return 0, {'sum': left + right}

    def hard_error(self, inst, args):
        raise ProviderError(1, 'HardError: the provider failed on purpose')


# ---- Test_PhysicalDisk / Test_VirtualDisk / Test_DiskDependency ------------------------

DISK_PROPS = [
    Prop('DeviceID', 'string', key=True), Prop('Removable', 'boolean'),
    Prop('DriveLetter', 'char16'), Prop('PowerOnTime', 'datetime'),
    Prop('Temperature', 'real32'), OctetProp('Serial'), Prop('Label', 'string'),
]

PHYSICAL = [
    {'DeviceID': 'disk0', 'Removable': False, 'DriveLetter': 'C',
     'PowerOnTime': datetime.timedelta(days=2000), 'Temperature': 100.3, 'Serial': b'ABC',
     'Label': None},
    {'DeviceID': 'disk1', 'Removable': True, 'DriveLetter': 'D',
     'PowerOnTime': datetime.timedelta(days=12, hours=3), 'Temperature': 35.5,
     'Serial': b'\x00\xff\x10', 'Label': 'backup'},
]
VIRTUAL = [
    {'DeviceID': 'vdisk0', 'Removable': False, 'DriveLetter': 'E',
     'PowerOnTime': datetime.timedelta(minutes=90, seconds=1.5), 'Temperature': 0.1,
     'Serial': b'VD', 'Label': 'thin pool', 'Thin': True},
]


class PhysicalDisk(CimClass):
    name = 'Test_PhysicalDisk'
    props = DISK_PROPS

    def instances(self):
        return iter([dict(d) for d in PHYSICAL])

    def items(self):
        # An enumeration of the base class contains the derived class's instances, each
        # under its own element and URI.
        for inst in self.instances():
            yield self, inst
        yield from self.provider.registry.get('Test_VirtualDisk').items()


class VirtualDisk(CimClass):
    name = 'Test_VirtualDisk'
    superclass = 'Test_PhysicalDisk'
    props = DISK_PROPS + [Prop('Thin', 'boolean')]

    def instances(self):
        return iter([dict(d) for d in VIRTUAL])


class DiskDependency(CimClass):
    name = 'Test_DiskDependency'
    association = True
    props = [
        Prop('antecedent', 'reference', key=True, ref_class='Test_PhysicalDisk'),
        Prop('dependent', 'reference', key=True, ref_class='Test_VirtualDisk'),
        Prop('Weight', 'uint16'),
    ]

    def roles(self):
        return [('antecedent', 'Test_PhysicalDisk'), ('dependent', 'Test_VirtualDisk')]

    def instances(self):
        for i, disk in enumerate(PHYSICAL):
            yield {'antecedent': Ref('Test_PhysicalDisk', [('DeviceID', disk['DeviceID'])]),
                   'dependent': Ref('Test_VirtualDisk', [('DeviceID', VIRTUAL[0]['DeviceID'])]),
                   'Weight': 50 * (i + 1)}


class HealthReport(CimClass):
    """Only embedded (Test_DiskHealth.Report); it has no instances of its own."""
    name = 'Test_HealthReport'
    props = [Prop('Grade', 'char16'), Prop('Code', 'char16'), Prop('Healthy', 'boolean'),
             Prop('Since', 'datetime'), OctetProp('Signature')]

    def instances(self):
        return iter(())


class DiskHealth(CimClass):
    name = 'Test_DiskHealth'
    props = [Prop('DeviceID', 'string', key=True),
             Prop('Report', 'instance', embedded='Test_HealthReport')]

    def instances(self):
        yield {'DeviceID': 'disk0',
               'Report': Embedded('Test_HealthReport', {
                   'Grade': 'A', 'Code': '7', 'Healthy': True,
                   'Since': datetime.timedelta(days=3), 'Signature': b'OK'})}
        # A value no client can decode: a char16 code unit out of range (70000).
        yield {'DeviceID': 'disk9',
               'Report': Embedded('Test_HealthReport', {
                   'Grade': 'F', 'Code': 70000, 'Healthy': False,
                   'Since': datetime.timedelta(0), 'Signature': b''})}
        yield {'DeviceID': 'disk1',
               'Report': Embedded('Test_HealthReport', {
                   'Grade': 'B', 'Code': '0', 'Healthy': False,
                   'Since': datetime.timedelta(hours=5), 'Signature': b'\x00'})}


OMI_CLASSES = (SmallNumber, Calc, PhysicalDisk, VirtualDisk, DiskDependency, HealthReport,
               DiskHealth)
