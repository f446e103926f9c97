# The committed demo dataset (dataset/train.json, val.json) is what New-CaptionDataset makes from data/images.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force
}

Describe 'dataset/ and data/images' {
    It 'holds sample images with captions and their source and licence recorded' {
        $csv = Import-Csv (Join-Path $RepoRoot 'data/images/captions.csv')
        $csv.Count | Should -BeGreaterOrEqual 4
        foreach ($row in $csv) { Test-Path (Join-Path $RepoRoot "data/images/$($row.image)") | Should -BeTrue }
        Get-Content -Raw (Join-Path $RepoRoot 'data/images/SOURCES.md') | Should -Match '(?i)licen[cs]e'
    }

    It 'is exactly what New-CaptionDataset writes from data/images/captions.csv' {
        $out = Join-Path $TestDrive 'dataset'
        $summary = New-CaptionDataset -CaptionFile (Join-Path $RepoRoot 'data/images/captions.csv') -OutputPath $out -ValidationFraction 0.25 -Seed 42
        $summary.Skipped | Should -Be 0
        # Paths are relative to the manifest folder, so regenerate one level below a sibling of data/ to compare.
        foreach ($name in 'train.json', 'val.json') {
            $committed = Get-Content -Raw (Join-Path $RepoRoot "dataset/$name") | ConvertFrom-Json
            $fresh = Get-Content -Raw (Join-Path $out $name) | ConvertFrom-Json
            $committed.caption | Should -Be $fresh.caption
            $committed.image | ForEach-Object { Test-Path (Join-Path $RepoRoot "dataset/$_") | Should -BeTrue }
            ($committed.image | ForEach-Object { Split-Path -Leaf $_ }) | Should -Be ($fresh.image | ForEach-Object { Split-Path -Leaf $_ })
        }
    }
}
