<#
.SYNOPSIS
    Writes <module>/en-US/<RootModule>-Help.xml (MAML) from docs/<Cmdlet>.md (PlatyPS markdown schema 2.0.0)
    plus the cmdlets' own metadata, and about_*.help.txt from docs/about_*.md.
.DESCRIPTION
    Runs in a fresh pwsh that imports the built module. Every cmdlet the module exports is covered, so a new
    Commands/*.cs file plus its CmdletsToExport line is picked up without touching this script; a cmdlet without
    docs/<Name>.md still gets syntax and parameters (with a warning), and tests/Help.Tests.ps1 fails on it.
    Parameter facts (type, required, position, pipeline input, aliases, parameter sets) come from the cmdlet,
    prose (synopsis, descriptions, examples, notes, links, default values) from the markdown. When PlatyPS is
    installed, its New-ExternalHelp is used instead.
#>
param(
    [Parameter(Mandatory)][string]$ModuleManifest,
    [Parameter(Mandatory)][string]$DocsPath,
    [Parameter(Mandatory)][string]$OutputPath
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$module = Import-Module $ModuleManifest -PassThru -Force
$helpFile = [System.IO.Path]::GetFileName((Import-PowerShellDataFile $ModuleManifest).RootModule) + '-Help.xml'
New-Item -ItemType Directory -Force $OutputPath | Out-Null

$platy = Get-Module -ListAvailable platyPS | Sort-Object Version -Descending | Select-Object -First 1
if ($platy) {
    Import-Module $platy
    New-ExternalHelp -Path $DocsPath -OutputPath $OutputPath -Force | Out-Null
    return
}

$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters |
    Where-Object { $_ -notin 'WhatIf', 'Confirm' }

function Split-Sections([string]$text, [string]$marker) {
    # Splits markdown into (title, body) pairs at lines starting with $marker ('## ' or '### '), ignoring fenced code.
    $sections = [ordered]@{}
    $title = $null; $body = [System.Text.StringBuilder]::new(); $inFence = $false
    foreach ($line in $text -split "`r?`n") {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line.StartsWith($marker) -and -not $line.StartsWith($marker + '#')) {
            if ($null -ne $title) { $sections[$title] = $body.ToString() }
            $title = $line.Substring($marker.Length).Trim(); $body = [System.Text.StringBuilder]::new()
            continue
        }
        if ($null -ne $title) { [void]$body.AppendLine($line) }
    }
    if ($null -ne $title) { $sections[$title] = $body.ToString() }
    $sections
}

function Get-Paragraphs([string]$text) {
    # Markdown prose → paragraphs; fenced blocks stay one paragraph each, verbatim.
    $paras = [System.Collections.Generic.List[string]]::new()
    $current = [System.Collections.Generic.List[string]]::new(); $inFence = $false
    foreach ($line in ($text -split "`r?`n")) {
        if ($line -match '^```') {
            if ($inFence) { $paras.Add(($current -join "`n")); $current.Clear(); $inFence = $false }
            else { if ($current.Count) { $paras.Add(($current -join ' ')); $current.Clear() }; $inFence = $true }
            continue
        }
        if ($inFence) { $current.Add('    ' + $line); continue }
        if ($line.Trim() -eq '') { if ($current.Count) { $paras.Add(($current -join ' ')); $current.Clear() }; continue }
        if ($line -match '^\s*[-*] ' -and $current.Count) { $paras.Add(($current -join ' ')); $current.Clear() }
        $current.Add($line.Trim())
    }
    if ($current.Count) { $paras.Add(($current -join ' ')) }
    $paras | ForEach-Object { $_ -replace '\*\*([^*]+)\*\*', '$1' -replace '`([^`]+)`', '$1' }
}

function Get-DocParameters([string]$text) {
    $result = @{}
    foreach ($entry in (Split-Sections $text '### ').GetEnumerator()) {
        if ($entry.Key -notmatch '^-(\w+)') { continue }
        $name = $Matches[1]
        $prose = ($entry.Value -split '```yaml')[0]
        $default = $null
        if ($entry.Value -match '(?m)^Default value:\s*(.*)$') { $default = $Matches[1].Trim() }
        $result[$name] = @{ Description = @(Get-Paragraphs $prose); Default = $default }
    }
    $result
}

function Get-Doc([string]$name) {
    $path = Join-Path $DocsPath "$name.md"
    $doc = @{ Synopsis = ''; Description = @(); Examples = @(); Parameters = @{}; Inputs = @(); Outputs = @(); Notes = @(); Links = @() }
    if (-not (Test-Path $path)) { Write-Warning "No ${path}: help for $name has syntax and parameters only."; return $doc }
    $text = Get-Content -Raw $path
    $text = $text -replace '(?s)^---.*?---\s*', ''
    $s = Split-Sections $text '## '
    if ($s.Contains('SYNOPSIS')) { $doc.Synopsis = (Get-Paragraphs $s['SYNOPSIS']) -join ' ' }
    if ($s.Contains('DESCRIPTION')) { $doc.Description = @(Get-Paragraphs $s['DESCRIPTION']) }
    if ($s.Contains('NOTES')) { $doc.Notes = @(Get-Paragraphs $s['NOTES']) }
    if ($s.Contains('PARAMETERS')) { $doc.Parameters = Get-DocParameters $s['PARAMETERS'] }
    if ($s.Contains('EXAMPLES')) {
        $doc.Examples = @(foreach ($ex in (Split-Sections $s['EXAMPLES'] '### ').GetEnumerator()) {
            $code = if ($ex.Value -match '(?s)```\w*\r?\n(.*?)\r?\n```') { $Matches[1] } else { '' }
            $rest = $ex.Value -replace '(?s)```\w*\r?\n.*?\r?\n```', ''
            @{ Title = $ex.Key; Code = $code; Remarks = @(Get-Paragraphs $rest) }
        })
    }
    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        if (-not $s.Contains($kind)) { continue }
        $items = @(foreach ($t in (Split-Sections $s[$kind] '### ').GetEnumerator()) { @{ Type = $t.Key; Description = @(Get-Paragraphs $t.Value) } })
        if ($kind -eq 'INPUTS') { $doc.Inputs = $items } else { $doc.Outputs = $items }
    }
    if ($s.Contains('RELATED LINKS')) {
        $doc.Links = @([regex]::Matches($s['RELATED LINKS'], '\[([^\]]+)\]\(([^)]*)\)') | ForEach-Object { @{ Text = $_.Groups[1].Value; Uri = $_.Groups[2].Value } })
    }
    $doc
}

$maml = 'http://schemas.microsoft.com/maml/2004/10'
$cmd = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
$target = Join-Path $OutputPath $helpFile
$tmp = "$target.tmp"
$w = [System.Xml.XmlWriter]::Create($tmp, $settings)

function Write-Paras([string[]]$paras) {
    $w.WriteStartElement('maml', 'description', $maml)
    if (-not $paras) { $w.WriteElementString('maml', 'para', $maml, '') }
    foreach ($p in $paras) { $w.WriteElementString('maml', 'para', $maml, $p) }
    $w.WriteEndElement()
}

function Write-Parameter($p, $set, $doc, [bool]$inSyntax) {
    # In a syntax item the set's own facts (mandatory, position) apply; in the parameter list the strictest over all sets.
    $attr = $null
    if ($set) { $attr = if ($p.ParameterSets.ContainsKey($set)) { $p.ParameterSets[$set] } else { $p.ParameterSets['__AllParameterSets'] } }
    if (-not $attr) { $attr = $p.ParameterSets.Values | Sort-Object IsMandatory -Descending | Select-Object -First 1 }
    $isSwitch = $p.ParameterType -eq [System.Management.Automation.SwitchParameter]
    $pipeline = @()
    if (@($p.ParameterSets.Values | Where-Object ValueFromPipeline)) { $pipeline += 'ByValue' }
    if (@($p.ParameterSets.Values | Where-Object ValueFromPipelineByPropertyName)) { $pipeline += 'ByPropertyName' }
    $w.WriteStartElement('command', 'parameter', $cmd)
    $w.WriteAttributeString('required', "$($attr.IsMandatory)".ToLowerInvariant())
    $w.WriteAttributeString('variableLength', "$($p.ParameterType.IsArray)".ToLowerInvariant())
    $w.WriteAttributeString('globbing', 'false')
    $w.WriteAttributeString('pipelineInput', $(if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }))
    $w.WriteAttributeString('position', $(if ($attr.Position -ge 0) { "$($attr.Position)" } else { 'named' }))
    $w.WriteAttributeString('aliases', $(if ($p.Aliases.Count) { $p.Aliases -join ', ' } else { 'none' }))
    $w.WriteElementString('maml', 'name', $maml, $p.Name)
    $pd = $doc.Parameters[$p.Name]
    Write-Paras $(if ($pd) { $pd.Description } else { @() })
    $typeName = if ($isSwitch) { 'SwitchParameter' } else { $p.ParameterType.Name }
    $validValues = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | ForEach-Object ValidValues)
    if ($inSyntax -and $validValues) {
        $w.WriteStartElement('command', 'parameterValueGroup', $cmd)
        foreach ($v in $validValues) {
            $w.WriteStartElement('command', 'parameterValue', $cmd); $w.WriteAttributeString('required', 'false'); $w.WriteAttributeString('variableLength', 'false'); $w.WriteString($v); $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }
    if (-not $isSwitch -or -not $inSyntax) {
        $w.WriteStartElement('command', 'parameterValue', $cmd)
        $w.WriteAttributeString('required', "$(-not $isSwitch)".ToLowerInvariant()); $w.WriteAttributeString('variableLength', 'false')
        $w.WriteString($typeName); $w.WriteEndElement()
    }
    $w.WriteStartElement('dev', 'type', $dev); $w.WriteElementString('maml', 'name', $maml, $typeName); $w.WriteElementString('maml', 'uri', $maml, ''); $w.WriteEndElement()
    $w.WriteElementString('dev', 'defaultValue', $dev, $(if ($pd -and $pd.Default) { $pd.Default } elseif ($isSwitch) { 'False' } else { 'None' }))
    $w.WriteEndElement()
}

$w.WriteStartDocument()
$w.WriteStartElement('helpItems', 'http://msh')
$w.WriteAttributeString('schema', 'maml')
foreach ($c in Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name) {
    $doc = Get-Doc $c.Name
    $params = @($c.Parameters.Values | Where-Object { $_.Name -notin $common })
    $w.WriteStartElement('command', 'command', $cmd)
    $w.WriteAttributeString('xmlns', 'maml', $null, $maml); $w.WriteAttributeString('xmlns', 'dev', $null, $dev)
    $w.WriteStartElement('command', 'details', $cmd)
    $w.WriteElementString('command', 'name', $cmd, $c.Name)
    $w.WriteElementString('command', 'verb', $cmd, $c.Verb)
    $w.WriteElementString('command', 'noun', $cmd, $c.Noun)
    Write-Paras @($doc.Synopsis)
    $w.WriteEndElement()
    Write-Paras $doc.Description
    $w.WriteStartElement('command', 'syntax', $cmd)
    foreach ($set in $c.ParameterSets) {
        $w.WriteStartElement('command', 'syntaxItem', $cmd)
        $w.WriteElementString('maml', 'name', $maml, $c.Name)
        $inSet = @($set.Parameters | Where-Object { $_.Name -notin $common } | Sort-Object { if ($_.Position -ge 0) { $_.Position } else { 1000 } }, { -not $_.IsMandatory })
        foreach ($sp in $inSet) { Write-Parameter $c.Parameters[$sp.Name] $set.Name $doc $true }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteStartElement('command', 'parameters', $cmd)
    foreach ($p in $params | Sort-Object Name) { Write-Parameter $p $null $doc $false }
    $w.WriteEndElement()
    foreach ($kind in @(@('inputTypes', 'inputType', $doc.Inputs), @('returnValues', 'returnValue', $doc.Outputs))) {
        $w.WriteStartElement('command', $kind[0], $cmd)
        foreach ($t in $kind[2]) {
            $w.WriteStartElement('command', $kind[1], $cmd)
            $w.WriteStartElement('dev', 'type', $dev); $w.WriteElementString('maml', 'name', $maml, $t.Type); $w.WriteEndElement()
            Write-Paras $t.Description
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }
    $w.WriteStartElement('maml', 'alertSet', $maml)
    $w.WriteStartElement('maml', 'alert', $maml)
    foreach ($n in $doc.Notes) { $w.WriteElementString('maml', 'para', $maml, $n) }
    $w.WriteEndElement(); $w.WriteEndElement()
    $w.WriteStartElement('command', 'examples', $cmd)
    foreach ($ex in $doc.Examples) {
        $w.WriteStartElement('command', 'example', $cmd)
        $w.WriteElementString('maml', 'title', $maml, "--------- $($ex.Title) ---------")
        $w.WriteElementString('dev', 'code', $dev, $ex.Code)
        $w.WriteStartElement('dev', 'remarks', $dev)
        foreach ($r in $ex.Remarks) { $w.WriteElementString('maml', 'para', $maml, $r) }
        $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteStartElement('command', 'relatedLinks', $cmd)
    foreach ($l in $doc.Links) {
        $w.WriteStartElement('maml', 'navigationLink', $maml)
        $w.WriteElementString('maml', 'linkText', $maml, $l.Text); $w.WriteElementString('maml', 'uri', $maml, $l.Uri)
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteEndElement()
}
$w.WriteEndElement()
$w.WriteEndDocument()
$w.Dispose()
Move-Item -Force $tmp $target

# about_*.md → about_*.help.txt: headings become the upper-case section titles Get-Help about_ pages use.
foreach ($about in Get-ChildItem $DocsPath -Filter 'about_*.md') {
    $lines = foreach ($line in (Get-Content $about.FullName)) {
        if ($line -match '^#{1,2} (.*)$') { $Matches[1].ToUpperInvariant() }
        elseif ($line -match '^#{3,} (.*)$') { '  ' + $Matches[1] }
        elseif ($line -match '^```') { }
        else { '    ' + $line }
    }
    Set-Content -Path (Join-Path $OutputPath ($about.BaseName + '.help.txt')) -Value $lines -Encoding utf8NoBOM
}
