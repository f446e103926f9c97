<#
.SYNOPSIS
    Real-browser test of the caption server page: starts a server on 127.0.0.1, drives headless
    Chromium through caption-page.test.mjs, and prints "BROWSER_COUNTS <passed> <failed>".
.DESCRIPTION
    Needs /usr/bin/chromium and tests/browser/node_modules (build/Tasks.ps1 installs both), the built module
    and the tiny model folder the xUnit tests assemble. Runs in its own pwsh process: the server lives in
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
# 896x896 images). The xUnit run before this one (build.ps1 test) assembles that folder with the npm
# tokenizer.json under out/fixtures-cache, and caches the DICOM samples under $MEDGEMMA_CACHE.
$model = Join-Path $Root 'out/fixtures-cache/tiny-medgemma-snapshot+tokenizer'
if (-not (Test-Path (Join-Path $model 'tokenizer.json'))) { throw "No tiny model folder at $model (the xUnit tests create it)." }
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
