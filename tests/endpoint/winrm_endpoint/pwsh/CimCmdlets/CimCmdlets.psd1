# The test endpoint's stand-in for Windows' CimCmdlets module (pscimfeed.py explains).
@{
    ModuleVersion     = '1.0.0'
    GUID              = '5c0a4c8e-51d4-4a7e-9a43-2f8f3c4e1b7d'
    RootModule        = 'CimCmdlets.psm1'
    FunctionsToExport = @('Get-CimInstance')
    CmdletsToExport   = @()
    AliasesToExport   = @()
    VariablesToExport = @()
}
