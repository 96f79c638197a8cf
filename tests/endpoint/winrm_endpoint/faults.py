"""SOAP faults shaped as Windows WinRM shapes them.

Shape (from the recorded Windows faults in ../shared/fixtures, e.g. pypsrp
test_winrs_bad_cmd_id.yml, WinRb soap_fault_v2.xml and wmi_error_v2.xml):

  s:Fault / s:Code (s:Value + s:Subcode/s:Value) / s:Reason/s:Text xml:lang /
  s:Detail [w:FaultDetail] (f:WSManFault Code= Machine= / f:Message [f:ProviderFault ...])
           or p:MSFT_WmiError b:IsCIM_Error="true" for WMI errors.

Each fault is an exception; the dispatcher turns it into an HTTP 500 envelope.
Reason and message texts that are in a recording are copied exactly; the others are
approximations (docs/testing.md lists them).
"""

from .soap import envelope, esc, esc_attr

ACTION_WSMAN = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault'
ACTION_ADDRESSING = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/fault'
ACTION_ENUM = 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault'
ACTION_TRANSFER = 'http://schemas.xmlsoap.org/ws/2004/09/transfer/fault'

DETAIL_BASE = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/'

# WinRM error codes (decimal, as they appear in WSManFault Code=); see facts.md 1.8.
RESOURCE_NOT_FOUND = 2150858752
INVALID_MESSAGE_INFORMATION_HEADER = 2150858767
DESTINATION_UNREACHABLE = 2150858770
ACTION_NOT_SUPPORTED = 2150858771
INVALID_REPRESENTATION = 2150858773
CANNOT_PROCESS_FILTER = 2150858778
INVALID_ENUMERATION_CONTEXT = 2150858779
OPERATION_TIMEDOUT = 2150858793
INVALID_OPTIONS = 2150858809
INVALID_PARAMETER = 2150858810
INVALID_SELECTORS = 2150858813
QUOTA_LIMIT = 2150858815
SCHEMA_VALIDATION_ERROR = 2150858817
UNSUPPORTED_FEATURE = 2150858818
MAX_ENVELOPE_SIZE_EXCEEDED = 2150858824
UNEXPECTED_SELECTORS = 2150858843
MIN_ENVELOPE_SIZE = 2150858878
INVALID_URI_WMI_SINGLETON = 2150859002
MAX_SHELLS_PER_USER = 2150859173
FILE_NOT_FOUND = 2147942402          # 0x80070002 as a WinRM code
DIRECTORY_INVALID = 2147942667       # 0x8007010B

# WMI (WBEM) HRESULTs and their CIM status codes, for MSFT_WmiError.
WBEM_E_NOT_FOUND = (0x80041002, 6)
WBEM_E_INVALID_NAMESPACE = (0x8004100E, 3)
WBEM_E_INVALID_CLASS = (0x80041010, 5)
WBEM_E_INVALID_QUERY = (0x80041017, 4)
WBEM_E_ALREADY_EXISTS = (0x80041019, 11)
WBEM_E_INVALID_PARAMETER = (0x80041008, 4)
WBEM_E_INVALID_METHOD = (0x8004102E, 17)
WBEM_E_INVALID_METHOD_PARAMETERS = (0x8004102F, 4)

MACHINE = 'localhost'


class WsmanFault(Exception):
    """A SOAP fault to send back (HTTP 500)."""

    def __init__(self, value, subcode, reason, detail, action=ACTION_WSMAN):
        super().__init__('%s %s: %s' % (value, subcode, reason))
        self.value = value          # 's:Sender' or 's:Receiver'
        self.subcode = subcode      # QName with the response prefixes, e.g. 'w:TimedOut'
        self.reason = reason
        self.detail = detail        # XML inside s:Detail ('' for none)
        self.action = action

    def body(self):
        detail = '<s:Detail>%s</s:Detail>' % self.detail if self.detail else ''
        return ('<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value>'
                '</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason>%s'
                '</s:Fault>' % (self.value, self.subcode, esc(self.reason), detail))

    def envelope(self, relates_to):
        return envelope(self.action, relates_to, self.body(), family='fault')


def wsman_fault_detail(code, message_xml, machine=None):
    """<f:WSManFault Code= Machine=><f:Message>...</f:Message></f:WSManFault>; message_xml is XML."""
    return ('<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
            'Code="%d" Machine="%s"><f:Message>%s</f:Message></f:WSManFault>'
            % (code, esc_attr(machine or MACHINE), message_xml))


def provider_fault(provider, path, inner_xml):
    return '<f:ProviderFault provider="%s" path="%s">%s</f:ProviderFault>' % (
        esc_attr(provider), esc_attr(path), inner_xml)


def fault_detail_uri(name):
    return '<w:FaultDetail>%s%s</w:FaultDetail>' % (DETAIL_BASE, name)


def msft_wmi_error(cim_status, hresult, message, category=0, error_type='HRESULT'):
    """A p:MSFT_WmiError instance, property order and xsi:types as in wmi_error_v2.xml."""
    def prop(name, cimtype, value):
        if value is None:
            return '<p:%s xsi:nil="true" xsi:type="cim:%s"/>' % (name, cimtype)
        return '<p:%s xsi:type="cim:%s">%s</p:%s>' % (name, cimtype, esc(value), name)
    props = [
        prop('CIMStatusCode', 'cimUnsignedInt', cim_status),
        prop('CIMStatusCodeDescription', 'cimString', None),
        prop('ErrorSource', 'cimString', None),
        prop('ErrorSourceFormat', 'cimUnsignedShort', 0),
        prop('ErrorType', 'cimUnsignedShort', 0),
        prop('Message', 'cimString', message),
        prop('MessageID', 'cimString', 'HRESULT 0x%08x' % hresult),
        prop('OtherErrorSourceFormat', 'cimString', None),
        prop('OtherErrorType', 'cimString', None),
        prop('OwningEntity', 'cimString', None),
        prop('PerceivedSeverity', 'cimUnsignedShort', 0),
        prop('ProbableCause', 'cimUnsignedShort', 0),
        prop('ProbableCauseDescription', 'cimString', None),
        prop('error_Category', 'cimUnsignedInt', category),
        prop('error_Code', 'cimUnsignedInt', hresult),
        prop('error_Type', 'cimString', error_type),
        prop('error_WindowsErrorMessage', 'cimString', message),
    ]
    return ('<p:MSFT_WmiError b:IsCIM_Error="true" '
            'xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
            'xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" '
            'xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError" '
            'xsi:type="p:MSFT_WmiError_Type" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">%s</p:MSFT_WmiError>'
            % ''.join(props))


# ---- the catalogue -------------------------------------------------------------------

def timed_out():
    # Exact text from pypsrp test_winrs_operation_timeout.yml (two trailing spaces).
    text = ('The WS-Management service cannot complete the operation within the time '
            'specified in OperationTimeout.  ')
    return WsmanFault('s:Receiver', 'w:TimedOut', text,
                      wsman_fault_detail(OPERATION_TIMEDOUT, esc(text)))


INVALID_SELECTORS_TEXT = ('The WS-Management service cannot process the request because the '
                          'request contained invalid selectors for the resource. ')


def unknown_command():
    # pypsrp test_winrs_bad_cmd_id.yml / WinRMSharp ProtocolGetCommandStateBeforeRun.yml.
    msg = ('The Windows Remote Shell received a request to perform an operation on a command '
           'identifier that does not exist. Either the command has completed execution or the '
           'client specified an invalid command identifier. ')
    return WsmanFault('s:Sender', 'w:InvalidSelectors', INVALID_SELECTORS_TEXT,
                      fault_detail_uri('UnexpectedSelectors')
                      + wsman_fault_detail(UNEXPECTED_SELECTORS, esc(msg)))


def unknown_shell(shell_id):
    # Shape from pypsrp test_psrp_is_alive_invalid_selectors.yml (provider fault nesting).
    inner = wsman_fault_detail(UNEXPECTED_SELECTORS, esc(
        'The request for the Windows Remote Shell with ShellId %s failed because the shell was '
        'not found on the server. Possible causes are: the specified ShellId is incorrect or the '
        'shell no longer exists on the server. Provide the correct ShellId or create a new shell '
        'and retry the operation. ' % shell_id))
    msg = provider_fault('Shell cmd plugin', r'%systemroot%\system32\winrscmd.dll', inner)
    return WsmanFault('s:Sender', 'w:InvalidSelectors', INVALID_SELECTORS_TEXT,
                      fault_detail_uri('UnexpectedSelectors')
                      + wsman_fault_detail(UNEXPECTED_SELECTORS, msg))


def action_not_supported(action):
    text = 'The WS-Management service cannot process the request because the action is not supported. '
    return WsmanFault('s:Sender', 'a:ActionNotSupported', text,
                      fault_detail_uri('ActionMismatch')
                      + wsman_fault_detail(ACTION_NOT_SUPPORTED, esc(
                          'The action %s is not supported by the service. ' % (action or ''))),
                      action=ACTION_ADDRESSING)


def resource_not_in_catalog(resource_uri):
    text = ('The WS-Management service cannot process the request. The resource URI (%s) was not '
            'found in the WS-Management catalog. The catalog contains the metadata that describes '
            'resources, or logical endpoints. ' % (resource_uri or ''))
    return WsmanFault('s:Sender', 'a:DestinationUnreachable', text,
                      wsman_fault_detail(DESTINATION_UNREACHABLE, esc(text)),
                      action=ACTION_ADDRESSING)


def no_session_configuration(name):
    # Windows' text for New-PSSession to a missing configuration (error 0x80338012).
    text = ('The WS-Management service cannot process the request. Cannot find the %s session '
            'configuration in the WSMan: drive on the %s computer. ' % (name, MACHINE))
    return WsmanFault('s:Sender', 'a:DestinationUnreachable', text,
                      wsman_fault_detail(DESTINATION_UNREACHABLE, esc(text)),
                      action=ACTION_ADDRESSING)


def access_denied():
    # ERROR_ACCESS_DENIED (5), what a user who is not an administrator gets for winrm/config.
    text = 'Access is denied. '
    return WsmanFault('s:Sender', 'w:AccessDenied', 'Access is denied. ',
                      wsman_fault_detail(5, esc(text)))


def invalid_header(what):
    text = ('The WS-Management service cannot process the request because the header of the '
            'SOAP packet is invalid: %s ' % what)
    return WsmanFault('s:Sender', 'a:InvalidMessageInformationHeader', text,
                      wsman_fault_detail(INVALID_MESSAGE_INFORMATION_HEADER, esc(text)),
                      action=ACTION_ADDRESSING)


def invalid_timeout(value):
    text = ('The WS-Management service cannot process the request because the request contained '
            'an invalid timeout field in the SOAP header: %s ' % value)
    return WsmanFault('s:Sender', 'a:InvalidMessageInformationHeader', text,
                      wsman_fault_detail(INVALID_MESSAGE_INFORMATION_HEADER, esc(text)),
                      action=ACTION_ADDRESSING)


def encoding_limit(code, text, detail='MaxEnvelopeSize'):
    return WsmanFault('s:Sender', 'w:EncodingLimit', text,
                      fault_detail_uri(detail) + wsman_fault_detail(code, esc(text)))


def schema_validation(text):
    return WsmanFault('s:Sender', 'w:SchemaValidationError', text,
                      wsman_fault_detail(SCHEMA_VALIDATION_ERROR, esc(text)))


def invalid_parameter(text):
    return WsmanFault('s:Sender', 'w:InvalidParameter', text,
                      wsman_fault_detail(INVALID_PARAMETER, esc(text)))


def invalid_options(text):
    return WsmanFault('s:Sender', 'w:InvalidOptions', text,
                      fault_detail_uri('NotSupported') + wsman_fault_detail(INVALID_OPTIONS, esc(text)))


def shell_quota(limit):
    # wmi_error_v2.xml (WinRb), a real Windows QuotaLimit fault with MSFT_WmiError.
    reason = ('The WS-Management service cannot process the request. The maximum number of '
              'concurrent shells for this user has been exceeded. Close existing shells or raise '
              'the quota for this user. ')
    message = ('The WS-Management service cannot process the request. This user is allowed a '
               'maximum number of %d concurrent shells, which has been exceeded. Close existing '
               'shells or raise the quota for this user. ' % limit)
    return WsmanFault('s:Sender', 'w:QuotaLimit', reason,
                      msft_wmi_error(27, MAX_SHELLS_PER_USER, message, category=30))


def command_quota(limit):
    text = ('The WS-Management service cannot process the request. This shell is allowed a '
            'maximum number of %d concurrent commands, which has been exceeded. Wait for a '
            'command to finish or raise the quota. ' % limit)
    return WsmanFault('s:Sender', 'w:QuotaLimit', text, wsman_fault_detail(QUOTA_LIMIT, esc(text)))


def shell_internal_error(code, text):
    # pypsrp test_winrs_no_cmd_shell.yml: the file-not-found fault of the cmd plugin.
    return WsmanFault('s:Receiver', 'w:InternalError', text,
                      wsman_fault_detail(code, provider_fault(
                          'Shell cmd plugin', r'%systemroot%\system32\winrscmd.dll', esc(text))))


def invalid_enumeration_context():
    text = ('The WS-Management service cannot process the request because the enumeration '
            'context supplied in the message is not valid or has expired. ')
    return WsmanFault('s:Receiver', 'n:InvalidEnumerationContext', text,
                      wsman_fault_detail(INVALID_ENUMERATION_CONTEXT, esc(text)),
                      action=ACTION_ENUM)


def cannot_process_filter(inner_message, query, cim_ns='root/cimv2'):
    # soap_fault_v2.xml (WinRb): WQL errors come back from the WMI provider with __ExtendedStatus.
    reason = ('The data source could not process the filter. The filter might be missing or it '
              'might be invalid. Change the filter and try the request again.  ')
    ext = ('<f:ExtendedError><p:__ExtendedStatus xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" '
           'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/%s/__ExtendedStatus" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="p:__ExtendedStatus_Type">'
           '<p:Description xsi:nil="true"/><p:Operation>ExecQuery</p:Operation>'
           '<p:ParameterInfo>%s</p:ParameterInfo><p:ProviderName>WinMgmt</p:ProviderName>'
           '<p:StatusCode xsi:nil="true"/></p:__ExtendedStatus></f:ExtendedError>'
           % (esc_attr(cim_ns), esc(query or '')))
    inner = wsman_fault_detail(CANNOT_PROCESS_FILTER, esc(inner_message)) + ext
    msg = provider_fault('WMI Provider', r'%systemroot%\system32\WsmWmiPl.dll', inner)
    return WsmanFault('s:Sender', 'n:CannotProcessFilter', reason,
                      wsman_fault_detail(CANNOT_PROCESS_FILTER, msg), action=ACTION_ENUM)


def wmi_error(subcode, value, wbem, message, category):
    """A WMI provider error: MSFT_WmiError in the detail, as Windows 2012+ sends them."""
    hresult, cim_status = wbem
    fault = WsmanFault(value, subcode, message, msft_wmi_error(cim_status, hresult, message, category))
    fault.cim_status = cim_status       # read by the OMI personality (omi.py)
    return fault


def wmi_invalid_class(class_name):
    return wmi_error('w:InvalidParameter', 's:Sender', WBEM_E_INVALID_CLASS,
                     'Invalid class %s ' % class_name, 10)


def wmi_invalid_namespace(ns):
    return wmi_error('w:InvalidParameter', 's:Sender', WBEM_E_INVALID_NAMESPACE,
                     'Invalid namespace %s ' % ns, 10)


def wmi_not_found():
    return wmi_error('w:InvalidSelectors', 's:Sender', WBEM_E_NOT_FOUND, 'Not found ', 13)


def wmi_already_exists():
    return wmi_error('w:AlreadyExists', 's:Sender', WBEM_E_ALREADY_EXISTS, 'Already exists ', 0)


def wmi_invalid_method(method):
    return wmi_error('w:InvalidParameter', 's:Sender', WBEM_E_INVALID_METHOD,
                     'Invalid method %s ' % method, 10)


def wmi_invalid_method_parameters(text):
    return wmi_error('w:InvalidParameter', 's:Sender', WBEM_E_INVALID_METHOD_PARAMETERS,
                     'Invalid method Parameter(s): %s ' % text, 5)


def missing_selectors(class_name):
    text = ('The WS-Management service cannot process the request. The WMI class %s is not a '
            'singleton: the request must identify an instance with its key selectors. ' % class_name)
    return WsmanFault('s:Sender', 'w:InvalidSelectors', INVALID_SELECTORS_TEXT,
                      fault_detail_uri('InsufficientSelectors')
                      + wsman_fault_detail(INVALID_URI_WMI_SINGLETON, esc(text)))


def unexpected_selectors(names):
    text = ('The WS-Management service cannot process the request because the request contained '
            'invalid selectors for the resource: %s ' % ', '.join(names))
    return WsmanFault('s:Sender', 'w:InvalidSelectors', INVALID_SELECTORS_TEXT,
                      fault_detail_uri('UnexpectedSelectors')
                      + wsman_fault_detail(INVALID_SELECTORS, esc(text)))


def invalid_selector_value(name, value):
    text = 'The selector %s has a value that is not valid for its type: %s ' % (name, value)
    return WsmanFault('s:Sender', 'w:InvalidSelectors', INVALID_SELECTORS_TEXT,
                      fault_detail_uri('TypeMismatch')
                      + wsman_fault_detail(INVALID_SELECTORS, esc(text)))


def invalid_representation(text):
    return WsmanFault('s:Sender', 'x:InvalidRepresentation', text,
                      fault_detail_uri('InvalidValue')
                      + wsman_fault_detail(INVALID_REPRESENTATION, esc(text)),
                      action=ACTION_TRANSFER)


def unsupported_feature(text):
    return WsmanFault('s:Sender', 'w:UnsupportedFeature', text,
                      wsman_fault_detail(UNSUPPORTED_FEATURE, esc(text)))
