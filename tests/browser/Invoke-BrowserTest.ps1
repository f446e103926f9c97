<#
.SYNOPSIS
    Real-browser test of the caption server page: starts a server on 127.0.0.1, drives headless
    Chromium through caption-page.test.mjs, and prints "BROWSER_COUNTS <passed> <failed>".
.DESCRIPTION
    Needs /usr/bin/chromium and tests/browser/node_modules (build/Tasks.ps1 installs both).
    Runs in its own pwsh process: the server lives in this process until the test ends.
#>
param(
    [Parameter(Mandatory)][string]$Root,
    [string]$Configuration = 'Release',
    [string]$OutDir = (Join-Path $Root 'out/browser')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# The engine test project's output holds the engine with all its dependencies side by side.
$engineDir = Join-Path $Root "tests/MedGemma.Engine.Tests/bin/$Configuration/net10.0"
Add-Type -Path (Join-Path $engineDir 'SixLabors.ImageSharp.dll')
Add-Type -Path (Join-Path $engineDir 'MedGemma.Engine.dll')
Add-Type -Path (Join-Path $PSScriptRoot 'BrowserFakeBackend.cs') -IgnoreWarnings -WarningAction SilentlyContinue -ReferencedAssemblies @(
    (Join-Path $engineDir 'MedGemma.Engine.dll'), (Join-Path $engineDir 'SixLabors.ImageSharp.dll'),
    'System.Runtime', 'System.Collections', 'System.Linq', 'System.Threading', 'netstandard')
$backend = [BrowserFakeBackend]::new()

$work = Join-Path $OutDir 'inputs'
New-Item -ItemType Directory -Force $work | Out-Null
$good = Join-Path $work 'chest.png'
Copy-Item (Join-Path $Root 'tests/fixtures/images/img_gray_300x240.png') $good -Force
$bad = Join-Path $work 'corrupt.png'
$bytes = [IO.File]::ReadAllBytes($good)
[IO.File]::WriteAllBytes($bad, $bytes[0..([Math]::Min(200, $bytes.Length - 1))])

# A real CT slice for the DICOM preview check: the xUnit run (before this one in build.ps1 test) caches the
# DICOM samples under $MEDGEMMA_CACHE (tests/fixtures/dicom/README.md).
$cache = if ($env:MEDGEMMA_CACHE) { $env:MEDGEMMA_CACHE } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.cache/medgemma' }
$dicom = Join-Path $cache 'dicom-samples/CT-MONO2-16-ankle.dcm'

$options = [MedGemma.Engine.Server.CaptionServerOptions]@{ Port = 0 }
$server = [MedGemma.Engine.Server.CaptionServer]::Start($backend, $options)
try {
    Write-Host "Browser test against $($server.BaseUrl) (model $($backend.Status().Model))"
    & node (Join-Path $PSScriptRoot 'caption-page.test.mjs') $server.Url $good $bad $OutDir $dicom
    $code = $LASTEXITCODE
} finally {
    $server.Stop()
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
exit $code
