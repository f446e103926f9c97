# Import-/Get-/Remove-MedGemmaModel on the tiny MedGemma. Memory reuse is measured in a fresh process.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force
    $model = Get-TinyMedGemmaFolder
}

Describe 'Resident model lifecycle' {
    It 'imports once, lists, returns the resident session for the same folder, and removes it' {
        $s = Import-MedGemmaModel -Path $model -Device cpu -DType fp32
        $s.GetType().FullName | Should -Be 'MedGemma.Engine.Api.MedGemmaSession'
        $s.Device | Should -Be 'cpu'
        $s.DType | Should -Be 'fp32'
        $s.ImageTokens | Should -Be 256
        $s.ParameterBytes | Should -BeGreaterThan 0
        $loads = $s.GetType()::LoadCount
        (Import-MedGemmaModel -Path $model).Id | Should -Be $s.Id
        $s.GetType()::LoadCount | Should -Be $loads
        @(Get-MedGemmaModel).Id | Should -Be @($s.Id)
        @(Get-MedGemmaModel -Name 'tiny-medgemma*').Count | Should -Be 1
        @(Get-MedGemmaModel -Name 'nomatch*').Count | Should -Be 0
        Remove-MedGemmaModel -WhatIf
        @(Get-MedGemmaModel).Count | Should -Be 1
        $s | Remove-MedGemmaModel -Confirm:$false
        @(Get-MedGemmaModel).Count | Should -Be 0
        $s.IsDisposed | Should -BeTrue
        { Get-MedicalCaption (Join-Path $FixtureImages 'img_rgb_500x380.png') -Model $s -ErrorAction Stop } | Should -Throw -ErrorId 'ModelRemoved*'
    }

    It 'refuses a model that does not fit the memory limit, with a clear ResourceUnavailable error' {
        $err = { Import-MedGemmaModel -Path $model -Device cpu -MaxMemory 1MB -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $err.Exception.Message | Should -Match 'needs about .* GiB'
        @(Get-MedGemmaModel).Count | Should -Be 0
    }

    It 'names a missing or non-model folder' {
        $err = { Import-MedGemmaModel -Path (Join-Path $TestDrive 'nope') -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err = { Import-MedGemmaModel -Path $TestDrive -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'uses $env:MEDGEMMA_MODEL when no model is imported and none is given' {
        $saved = $env:MEDGEMMA_MODEL
        try {
            $env:MEDGEMMA_MODEL = $null
            { Get-MedicalCaption (Join-Path $FixtureImages 'img_rgb_500x380.png') -ErrorAction Stop } | Should -Throw -ErrorId 'NoModel*'
            $env:MEDGEMMA_MODEL = $model
            $s = Import-MedGemmaModel
            $s.Path | Should -Be $model
        } finally {
            $env:MEDGEMMA_MODEL = $saved
            Remove-MedGemmaModel -All -Confirm:$false
        }
    }

    It 'frees the memory of a removed model: import/remove cycles stay within a fixed budget' {
        $out = Invoke-FreshPwsh @"
# glibc keeps freed blocks in its arenas and returns them to the system at its own pace; malloc_trim after each
# cycle makes the resident size show what is still allocated, not what the allocator happened to keep.
Add-Type -Namespace Native -Name Libc -MemberDefinition '[DllImport("libc")] public static extern int malloc_trim(UIntPtr pad);'
Import-Module '$ModuleManifest'
`$rss = @()
for (`$i = 0; `$i -lt 8; `$i++) {
    `$s = Import-MedGemmaModel -Path '$model' -Device cpu -DType fp32
    `$bytes = `$s.ParameterBytes
    Remove-MedGemmaModel -Model `$s -Confirm:`$false
    [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
    [void][Native.Libc]::malloc_trim([UIntPtr]::Zero)
    # Native memory (tensors live there): the process's resident set minus the managed heap, whose size
    # swings with the tokenizer's temporary objects and says nothing about tensors.
    `$rss += [Diagnostics.Process]::GetCurrentProcess().WorkingSet64 - [GC]::GetGCMemoryInfo().TotalCommittedBytes
}
"BYTES=`$bytes"
"RSS=`$(`$rss -join ',')"
"@
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        $bytes = [long](($out | Where-Object { $_ -like 'BYTES=*' }) -replace 'BYTES=', '')
        $rss = @((($out | Where-Object { $_ -like 'RSS=*' }) -replace 'RSS=', '') -split ',' | ForEach-Object { [long]$_ })
        # Medians of three cycles, so one sample caught mid-housekeeping does not decide. Without freeing, the four
        # cycles between the two windows would add at least 4 x the weights; freeing keeps the change under one copy.
        $median = { param($v) ($v | Sort-Object)[1] }
        $growth = (& $median $rss[5..7]) - (& $median $rss[1..3])
        $growth | Should -BeLessThan $bytes -Because "native memory after each cycle: $($rss -join ', '); weights $bytes bytes"
    }
}
