# Shared by tests/*.Tests.ps1 (dot-source in BeforeAll). Tests import the BUILT module from out/MedGemma,
# the same folder users import; `./build.ps1 test` builds it first.
$script:RepoRoot = Split-Path -Parent $PSScriptRoot
$script:ModuleManifest = Join-Path $script:RepoRoot 'out/MedGemma/MedGemma.psd1'
$script:FixtureImages = Join-Path $script:RepoRoot 'tests/fixtures/images'

function Get-PwshCommand {
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    @($exe)
}

# Runs a script in a fresh pwsh (a rebuilt binary module or a conflicting assembly needs a clean process).
# Returns the output lines; $LASTEXITCODE is the child's exit code.
function Invoke-FreshPwsh([string]$Script) {
    $pwsh = @(Get-PwshCommand)
    $prefix = "`$ErrorActionPreference = 'Stop'; `$ProgressPreference = 'SilentlyContinue'; `$PSStyle.OutputRendering = 'PlainText'`n"
    & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command ($prefix + $Script) 2>&1 | ForEach-Object { "$_" }
}

# The cmdlet names declared in src/MedGemma.PowerShell/Commands/*.cs ([Cmdlet(Verb, "Noun")]).
function Get-SourceCmdletNames {
    Get-ChildItem (Join-Path $script:RepoRoot 'src/MedGemma.PowerShell/Commands') -Filter *.cs | ForEach-Object {
        $text = Get-Content -Raw $_.FullName
        foreach ($m in [regex]::Matches($text, '\[Cmdlet\(\s*(?:Verbs\w+\.(\w+)|"(\w+)")\s*,\s*"(\w+)"')) {
            $verb = if ($m.Groups[1].Success) { $m.Groups[1].Value } else { $m.Groups[2].Value }
            "$verb-$($m.Groups[3].Value)"
        }
    } | Sort-Object -Unique
}
