#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and runs the MedGemma PowerShell module.
.DESCRIPTION
    Tasks:
      build  (default) builds the engine and assembles the importable module at out/MedGemma/
      test   builds, runs the xUnit engine tests and the Pester module tests, and prints one
             "N passed, N failed, N skipped" line for the whole suite (exit code 1 on any failure)
      demo   the main job: dataset -> LoRA training -> adapter -> captions on data/images
      bench  runs the benchmark app (bench/) on the CPU configs
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'demo', 'bench')]
    [string]$Task = 'build',
    [string]$Configuration = 'Release',
    # Extra filter for the xUnit run, e.g. 'Category=Parity'.
    [string]$Filter
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
. (Join-Path $root 'build/Tasks.ps1')

switch ($Task) {
    'build' { Invoke-Build -Root $root -Configuration $Configuration }
    'test'  { Invoke-Build -Root $root -Configuration $Configuration; exit (Invoke-Tests -Root $root -Configuration $Configuration -Filter $Filter) }
    'demo'  { Invoke-Build -Root $root -Configuration $Configuration; Invoke-Demo -Root $root }
    'bench' { Invoke-Bench -Root $root -Configuration $Configuration }
}
