<#
.SYNOPSIS
    Real-browser test of the caption server page: starts a server on 127.0.0.1, drives headless
    Chromium through caption-page.test.mjs, and prints "BROWSER_COUNTS <passed> <failed>".
.DESCRIPTION
    Needs /usr/bin/chromium and tests/browser/node_modules (build/Tasks.ps1 installs both), the built module,
    and the DICOM samples the xUnit tests cache. Runs in its own pwsh process: the server lives in
    this process until the test ends.
#>
param(
    [Parameter(Mandatory)][string]$Root,
    [string]$Configuration = 'Release',
    [string]$OutDir = (Join-Path $Root 'out/browser')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# The real thing: the built module serving the tiny MedGemma snapshot (random weights, real vocabulary and
# 896x896 images) with the npm tokenizer.json (build/TinyModel.ps1).
. (Join-Path $Root 'build/TinyModel.ps1')
$model = Get-TinyMedGemmaFolder -Root $Root
Import-Module (Join-Path $Root 'out/MedGemma/MedGemma.psd1')
$session = Import-MedGemmaModel -Path $model -Device cpu

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

$server = Start-CaptionServer -Model $session -Port 0
try {
    Write-Host "Browser test against $($server.BaseUrl) (model $($server.Model), $($server.Device))"
    # Few new tokens: the tiny model's captions are noise anyway, and the CPU stays quick.
    $env:CAPTION_MAX_TOKENS = '4'
    & node (Join-Path $PSScriptRoot 'caption-page.test.mjs') $server.Url $good $bad $OutDir $dicom
    $code = $LASTEXITCODE
} finally {
    $server | Stop-CaptionServer
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
exit $code
