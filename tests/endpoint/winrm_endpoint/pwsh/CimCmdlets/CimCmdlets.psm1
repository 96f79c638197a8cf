# Get-CimInstance for the test endpoint's own CIM classes (tests/endpoint/winrm_endpoint/
# pscimfeed.py). PowerShell on Linux has no MI, so no real CimInstance can be made: each
# instance is an object shaped as Windows' CimInstance is when PowerShell serializes it
# (System.Management.Automation/engine/serialization.cs, PrepareCimInstanceForSerialization;
# cimSupport/other/ciminstancetypeadapter.cs):
#   - type names Microsoft.Management.Infrastructure.CimInstance#<namespace>/<class> for the
#     class and each superclass, then ...CimInstance#<class> for each, then
#     Microsoft.Management.Infrastructure.CimInstance and System.Object;
#   - the CIM properties, then PSComputerName, as the object's own (adapted) properties,
#     with the .NET types MI gives them (uint32 -> UInt32, datetime -> DateTime in local
#     time or TimeSpan, reference and embedded instance -> a CimInstance, arrays typed);
#   - a __ClassMetadata member: an ArrayList of {ClassName, Namespace, ServerName, Hash,
#     MiXml} from the root superclass down to the class, where, as PowerShell's per-stream
#     class cache does, a class already sent in this pipeline ends the list without MiXml;
#   - ToString "Class (Key = "value")".
# Failures are error records shaped as Get-CimInstance's: a CimException-typed exception
# with NativeErrorCode and StatusCode, FullyQualifiedErrorId "HRESULT 0x8004xxxx", the
# CimCmdlets category.

$script:Types = @{}

# PowerShell serializes every CimInstance with a depth of 1 wherever it is
# (serialization.cs, GetDepthOfSerialization), so references and embedded
# instances arrive whole; these objects get the same through the type table.
Update-TypeData -TypeName 'Microsoft.Management.Infrastructure.CimInstance' -SerializationDepth 1 -Force
$script:Inv = [Globalization.CultureInfo]::InvariantCulture

class CimException : System.Exception {
    [object]$NativeErrorCode
    [object]$StatusCode
    [object]$MessageId
    [object]$ErrorSource
    [object]$ErrorType
    [object]$ErrorData
    CimException([string]$message) : base($message) {}
}

function New-RmsCimType($schema) {
    $name = 'RmsCim_' + $schema.class
    $props = @($schema.props | ForEach-Object { "[object]`$$($_.name)" }) -join '; '
    $keys = @($schema.props | Where-Object key | ForEach-Object name)
    if ($keys.Count) {
        $parts = @($keys | ForEach-Object { "'$_ = ' + [RmsCimText]::Of(`$this.$_)" }) -join " + ', ' + "
        $ts = "return '$($schema.class) (' + $parts + ')'"
    } else {
        $ts = "return '$($schema.class)'"
    }
    Invoke-Expression "class $name { $props; [object]`$PSComputerName; [string] ToString() { $ts } }; [$name]"
}

class RmsCimText {
    static [string] Of([object]$v) {
        if ($null -eq $v) { return 'null' }
        if ($v -is [string]) { return '"' + $v + '"' }
        return [Convert]::ToString($v, [Globalization.CultureInfo]::InvariantCulture)
    }
}

$script:NetType = @{
    Boolean = [bool]; UInt8 = [byte]; SInt8 = [sbyte]; UInt16 = [uint16]; SInt16 = [int16]
    UInt32 = [uint32]; SInt32 = [int32]; UInt64 = [uint64]; SInt64 = [int64]
    Real32 = [single]; Real64 = [double]; Char16 = [char]; String = [string]
}

function ConvertTo-RmsScalar($type, $v, $ctx) {
    switch ($type) {
        'String' { return [string]$v }
        'Boolean' { return $v -eq 'true' }
        'Char16' { return [char]$v }
        'DateTime' {
            if ($v.StartsWith('P') -or $v.StartsWith('-P')) { return [Xml.XmlConvert]::ToTimeSpan($v) }
            # MI turns a CIM timestamp into a DateTime in the local time zone.
            return [DateTimeOffset]::Parse($v, $script:Inv).LocalDateTime
        }
        'Reference' { return New-RmsCimObject $ctx $v.class $v.namespace $v.keys }
        'Instance' { return New-RmsCimObject $ctx $v.class $v.namespace $v.props }
        default { return $script:NetType[$type]::Parse($v, $script:Inv) }
    }
}

function ConvertTo-RmsValue($p, $ctx) {
    if ($null -eq $p.value) { return $null }
    if (-not $p.array) { return ConvertTo-RmsScalar $p.type $p.value $ctx }
    $items = @(foreach ($x in $p.value) { ConvertTo-RmsScalar $p.type $x $ctx })
    $t = $script:NetType[$p.type]
    if ($p.type -eq 'DateTime') { $t = if ($items.Count -and $items[0] -is [timespan]) { [timespan] } else { [datetime] } }
    if ($null -eq $t) { return ,[object[]]$items }
    $arr = [Array]::CreateInstance($t, $items.Count)
    for ($i = 0; $i -lt $items.Count; $i++) { $arr[$i] = $items[$i] }
    return ,$arr
}

function New-RmsCimObject($ctx, $class, $ns, $props) {
    $schema = $ctx.Schemas[$class]
    if (-not $script:Types.ContainsKey($class)) { $script:Types[$class] = New-RmsCimType $schema }
    $o = $script:Types[$class]::new()
    foreach ($p in $props) { $o.($p.name) = ConvertTo-RmsValue $p $ctx }
    $chain = @()
    for ($c = $schema; $null -ne $c; $c = if ($c.superclass) { $ctx.Schemas[$c.superclass] } else { $null }) { $chain += $c }
    $tn = $o.PSObject.TypeNames
    $tn.Clear()
    foreach ($c in $chain) { $tn.Add("Microsoft.Management.Infrastructure.CimInstance#$($c.namespace)/$($c.class)") }
    foreach ($c in $chain) { $tn.Add("Microsoft.Management.Infrastructure.CimInstance#$($c.class)") }
    $tn.Add('Microsoft.Management.Infrastructure.CimInstance')
    $tn.Add('System.Object')
    $meta = [Collections.ArrayList]::new()
    foreach ($c in $chain) {
        $m = [psobject]::new()
        $m.PSObject.TypeNames.Clear()
        $m.PSObject.Properties.Add([psnoteproperty]::new('ClassName', $c.class))
        $m.PSObject.Properties.Add([psnoteproperty]::new('Namespace', $c.namespace))
        $m.PSObject.Properties.Add([psnoteproperty]::new('ServerName', $env:COMPUTERNAME))
        $m.PSObject.Properties.Add([psnoteproperty]::new('Hash', [int]($c.mixml.GetHashCode() -band 0x7fffffff)))
        $null = $meta.Add($m)
        $id = "$($c.namespace)/$($c.class)"
        if ($ctx.Sent.Contains($id)) { break }
        $null = $ctx.Sent.Add($id)
        $m.PSObject.Properties.Add([psnoteproperty]::new('MiXml', $c.mixml))
    }
    $meta.Reverse()
    $o.PSObject.Properties.Add([psnoteproperty]::new('__ClassMetadata', $meta))
    return $o
}

function Get-CimInstance {
    [CmdletBinding(DefaultParameterSetName = 'ClassNameComputerSet')]
    param(
        [Parameter(ParameterSetName = 'ClassNameComputerSet', Mandatory, Position = 0)]
        [string]$ClassName,
        [Parameter(ParameterSetName = 'ClassNameComputerSet')]
        [string]$Filter,
        [Parameter(ParameterSetName = 'QueryComputerSet', Mandatory)]
        [string]$Query,
        [Parameter(ParameterSetName = 'QueryComputerSet')]
        [string]$QueryDialect = 'WQL',
        [string]$Namespace = 'root/cimv2',
        [uint32]$OperationTimeoutSec
    )
    $req = if ($PSCmdlet.ParameterSetName -eq 'QueryComputerSet') {
        @{ op = 'query'; namespace = $Namespace; query = $Query; dialect = $QueryDialect }
    } elseif ($Filter) {
        @{ op = 'filter'; namespace = $Namespace; class = $ClassName; filter = $Filter }
    } else {
        @{ op = 'enumerate'; namespace = $Namespace; class = $ClassName }
    }
    $ctx = @{ Schemas = @{}; Sent = [Collections.Generic.HashSet[string]]::new([StringComparer]::OrdinalIgnoreCase) }
    $sock = [Net.Sockets.Socket]::new([Net.Sockets.AddressFamily]::Unix, [Net.Sockets.SocketType]::Stream,
                                      [Net.Sockets.ProtocolType]::Unspecified)
    try {
        $sock.Connect([Net.Sockets.UnixDomainSocketEndPoint]::new($env:RMS_PSCIM_SOCKET))
        $stream = [Net.Sockets.NetworkStream]::new($sock, $false)
        $utf8 = [Text.UTF8Encoding]::new($false)
        $w = [IO.StreamWriter]::new($stream, $utf8)
        $w.WriteLine(($req | ConvertTo-Json -Compress))
        $w.Flush()
        $r = [IO.StreamReader]::new($stream, $utf8)
        while ($null -ne ($line = $r.ReadLine())) {
            # Dates stay text: ConvertTo-RmsScalar parses them with their offsets.
            $item = ConvertFrom-Json $line -DateKind String
            if ($item.schema) {
                $ctx.Schemas[$item.schema.class] = $item.schema
            } elseif ($item.error) {
                $e = $item.error
                $ex = [CimException]::new($e.message)
                $ex.NativeErrorCode = $e.native
                $ex.StatusCode = [int]$e.status
                $ex.MessageId = 'HRESULT 0x{0:x8}' -f [uint32]$e.hresult
                $ex.ErrorSource = $null
                $ex.ErrorType = [uint16]0
                $etn = $ex.PSObject.TypeNames
                $etn.Clear()
                foreach ($n in 'Microsoft.Management.Infrastructure.CimException', 'System.SystemException',
                                'System.Exception', 'System.Object') { $etn.Add($n) }
                $category = switch ([int]$e.status) { 3 { 'MetadataError' } 5 { 'MetadataError' } 6 { 'ObjectNotFound' }
                                                     default { 'InvalidArgument' } }
                $er = [Management.Automation.ErrorRecord]::new($ex, $ex.MessageId, $category, $ClassName)
                $PSCmdlet.WriteError($er)
            } else {
                $PSCmdlet.WriteObject((New-RmsCimObject $ctx $item.class $item.namespace $item.props))
            }
        }
    } finally {
        $sock.Dispose()
    }
}
