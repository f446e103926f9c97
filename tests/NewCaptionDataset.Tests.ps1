BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force

    function New-ImageFolder([string]$Path) {
        New-Item -ItemType Directory -Force $Path | Out-Null
        Copy-Item (Join-Path $FixtureImages 'img_gray_300x240.png') (Join-Path $Path 'chest_01.png')
        Copy-Item (Join-Path $FixtureImages 'img_rgb_500x380.png') (Join-Path $Path 'knee_02.png')
        Copy-Item (Join-Path $FixtureImages 'img_rgb_500x380.jpg') (Join-Path $Path 'hand_03.jpg')
        Copy-Item (Join-Path $FixtureImages 'img_gray_300x240.png') (Join-Path $Path 'Spine_04.PNG')
        Copy-Item (Join-Path $FixtureImages 'img_rgb_500x380.png') (Join-Path $Path 'skull_05.png')
        Get-Item $Path
    }
    function Read-Manifest([string]$Path) { Get-Content -Raw $Path | ConvertFrom-Json -NoEnumerate }
}

Describe 'New-CaptionDataset' {
    BeforeEach {
        $root = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
        $images = New-ImageFolder (Join-Path $root 'images')
        $out = Join-Path $root 'dataset'
    }

    It 'writes train.json and val.json from a CSV, with quoted captions and paths relative to the manifest' {
        $csv = @'
image,caption
chest_01.png,"PA chest radiograph, no acute findings."
knee_02.png,"Knee X-ray; joint space ""preserved""
on both sides."
hand_03.jpg,Hand radiograph with normal alignment.
Spine_04.PNG,Lumbar spine lateral view.
skull_05.png,Skull AP view.
'@
        Set-Content (Join-Path $images 'captions.csv') $csv
        $summary = New-CaptionDataset -ImageFolder $images -CaptionFile (Join-Path $images 'captions.csv') -OutputPath $out -ValidationFraction 0.4 -Seed 3
        $summary.GetType().FullName | Should -Be 'MedGemma.Engine.Api.CaptionDatasetSummary'
        $summary.TrainCount | Should -Be 3
        $summary.ValidationCount | Should -Be 2
        $train = Read-Manifest (Join-Path $out 'train.json')
        $val = Read-Manifest (Join-Path $out 'val.json')
        ($train.Count + $val.Count) | Should -Be 5
        $all = @($train) + @($val)
        $all.image | ForEach-Object { $_ | Should -Match '^\.\./images/[^\\]+$' }
        ($all | Where-Object image -eq '../images/knee_02.png').caption | Should -Be "Knee X-ray; joint space `"preserved`"`non both sides."
        ($all | Where-Object image -eq '../images/chest_01.png').caption | Should -Be 'PA chest radiograph, no acute findings.'
        Get-ChildItem $out -Filter *.tmp | Should -BeNullOrEmpty
    }

    It 'splits the same way for the same seed, keeps input order, and differently for another seed' {
        $images | Get-ChildItem -File | ForEach-Object { Set-Content ([IO.Path]::ChangeExtension($_.FullName, '.txt')) "caption of $($_.Name)" }
        $a = New-CaptionDataset $images -OutputPath (Join-Path $root 'a') -ValidationFraction 0.4 -Seed 1 -PassThru
        $b = New-CaptionDataset $images -OutputPath (Join-Path $root 'b') -ValidationFraction 0.4 -Seed 1 -PassThru
        ($a | ForEach-Object { "$($_.Image)=$($_.Split)" }) | Should -Be ($b | ForEach-Object { "$($_.Image)=$($_.Split)" })
        $splits = foreach ($seed in 2..12) { (New-CaptionDataset $images -OutputPath (Join-Path $root "s$seed") -ValidationFraction 0.4 -Seed $seed -PassThru |
                    Where-Object Split -eq 'validation').Image -join ',' }
        @($splits | Sort-Object -Unique).Count | Should -BeGreaterThan 1
        $train = Read-Manifest (Join-Path $root 'a/train.json')
        $expected = @($a | Where-Object Split -eq 'train' | ForEach-Object Image)
        $train.image | Should -Be $expected
    }

    It 'reads captions from a .txt beside each image and reports images without one' {
        Set-Content (Join-Path $images 'chest_01.txt') 'Chest film.'
        Set-Content (Join-Path $images 'knee_02.txt') 'Knee film.'
        $summary = New-CaptionDataset $images -OutputPath $out -ValidationFraction 0 -ErrorVariable errs -ErrorAction SilentlyContinue
        $summary.TrainCount | Should -Be 2
        $summary.Skipped | Should -Be 3
        $errs.Count | Should -Be 3
        $errs | ForEach-Object { $_.FullyQualifiedErrorId | Should -Match '^MissingCaption' }
        (Read-Manifest (Join-Path $out 'val.json')).Count | Should -Be 0
    }

    It 'accepts pipeline objects (Import-Csv) with Image and Caption' {
        $csv = Join-Path $root 'reports.csv'
        "Image,Caption`nimages/chest_01.png,Chest.`nimages/hand_03.jpg,Hand." | Set-Content $csv
        Push-Location $root
        try { $entries = Import-Csv $csv | New-CaptionDataset -OutputPath dataset -ValidationFraction 0.5 -PassThru }
        finally { Pop-Location }
        $entries.Count | Should -Be 2
        $entries | ForEach-Object { $_.GetType().FullName | Should -Be 'MedGemma.Engine.Api.CaptionDatasetEntry' }
        ($entries.Split | Sort-Object) | Should -Be @('train', 'validation')
        $entries.FullPath | ForEach-Object { Test-Path $_ | Should -BeTrue }
    }

    It 'skips missing, corrupt and caption-less entries with errors naming the entry, and keeps the rest' {
        [IO.File]::WriteAllBytes((Join-Path $images 'broken.png'), [byte[]](1..200))
        $bytes = [IO.File]::ReadAllBytes((Join-Path $images 'chest_01.png'))
        [IO.File]::WriteAllBytes((Join-Path $images 'truncated.png'), $bytes[0..15])
        @'
image,caption
chest_01.png,Chest.
missing.png,Nothing here.
broken.png,Corrupt file.
truncated.png,Truncated file.
knee_02.png,
'@ | Set-Content (Join-Path $images 'captions.csv')
        $summary = New-CaptionDataset -CaptionFile (Join-Path $images 'captions.csv') -OutputPath $out -ErrorVariable errs -ErrorAction SilentlyContinue
        $summary.TrainCount + $summary.ValidationCount | Should -Be 1
        $summary.Skipped | Should -Be 4
        $byImage = @{}; $errs | ForEach-Object { $byImage[$_.TargetObject.Image] = $_ }
        $byImage['missing.png'].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $byImage['missing.png'].Exception.Message | Should -Match 'captions\.csv line 3'
        $byImage['broken.png'].CategoryInfo.Category | Should -Be 'InvalidData'
        $byImage['truncated.png'].CategoryInfo.Category | Should -Be 'InvalidData'
        $byImage['knee_02.png'].FullyQualifiedErrorId | Should -Match '^MissingCaption'
        $byImage['missing.png'].TargetObject.Origin | Should -Be 'captions.csv line 3'
    }

    It 'resolves backslashes, foreign absolute paths, file URIs and case mismatches; drops duplicates' {
        @"
[
  {"image": "images\\chest_01.png", "caption": "Windows separators."},
  {"image": "/home/someone/project/images/knee_02.png", "caption": "Absolute path from another machine."},
  {"image": "C:\\Users\\doc\\project\\images\\hand_03.jpg", "caption": "Windows absolute path."},
  {"image": "images/spine_04.png", "caption": "Case differs from Spine_04.PNG."},
  {"image": "file://$((Join-Path $images 'skull_05.png'))", "caption": "File URI."},
  {"image": "./images/chest_01.png", "caption": "Duplicate of the first."}
]
"@ | Set-Content (Join-Path $root 'manifest.json')
        $entries = New-CaptionDataset -CaptionFile (Join-Path $root 'manifest.json') -OutputPath $out -ValidationFraction 0 -PassThru -WarningVariable warns -WarningAction SilentlyContinue -ErrorAction Stop
        $entries.Count | Should -Be 5
        $warns.Count | Should -Be 1
        "$warns" | Should -Match 'chest_01'
        ($entries | Where-Object Caption -like 'Case*').Image | Should -Be '../images/Spine_04.PNG'
        (Read-Manifest (Join-Path $out 'train.json')).Count | Should -Be 5
    }

    It 'writes nothing with -WhatIf' {
        $images | Get-ChildItem -File | ForEach-Object { Set-Content ([IO.Path]::ChangeExtension($_.FullName, '.txt')) 'x' }
        New-CaptionDataset $images -OutputPath $out -WhatIf | Should -BeNullOrEmpty
        Test-Path $out | Should -BeFalse
    }

    It 'fails with a terminating error when nothing is usable' {
        { New-CaptionDataset $images -OutputPath $out -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'EmptyDataset*'
        Test-Path $out | Should -BeFalse
    }

    It 'names a missing caption file as ObjectNotFound' {
        $err = { New-CaptionDataset -CaptionFile (Join-Path $root 'nope.csv') -OutputPath $out } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.TargetObject | Should -Match 'nope\.csv'
    }
}
