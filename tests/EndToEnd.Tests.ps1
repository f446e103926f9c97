# The main job end to end (build/Demo.ps1, what `build.ps1 demo` runs) on the tiny MedGemma, in a fresh process:
# New-CaptionDataset over data/images -> Start-LoraTraining -> Import-LoraAdapter -> Get-ChildItem | Get-MedicalCaption.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $demo = Join-Path $TestDrive 'demo'
    $model = Get-TinyMedGemmaFolder
    $log = Invoke-FreshPwsh "& '$RepoRoot/build/Demo.ps1' -Root '$RepoRoot' -Model '$model' -OutputPath '$demo' -MaxSteps 2 -LearningRate 1e-2 -MaxNewTokens 6 -Device cpu"
    $demoExit = $LASTEXITCODE
}

Describe 'End to end: dataset -> LoRA training -> adapter -> captions' {
    It 'runs to the end' {
        $demoExit | Should -Be 0 -Because ($log -join "`n")
        $log -join "`n" | Should -Match 'not a diagnosis'
    }

    It 'writes valid train/val manifests covering data/images' {
        $train = Get-Content -Raw (Join-Path $demo 'dataset/train.json') | ConvertFrom-Json
        $val = Get-Content -Raw (Join-Path $demo 'dataset/val.json') | ConvertFrom-Json
        $csv = Import-Csv (Join-Path $RepoRoot 'data/images/captions.csv')
        ($train.Count + $val.Count) | Should -Be $csv.Count
        @($train) + @($val) | ForEach-Object { Test-Path (Join-Path $demo "dataset/$($_.image)") | Should -BeTrue }
    }

    It 'writes a PEFT adapter folder' {
        $config = Get-Content -Raw (Join-Path $demo 'adapter/adapter_config.json') | ConvertFrom-Json
        $config.peft_type | Should -Be 'LORA'
        $config.r | Should -Be 16
        $config.target_modules | Should -Contain 'q_proj'
        $shapes = Get-SafetensorsShapes (Join-Path $demo 'adapter')
        $shapes.Keys | ForEach-Object { $_ | Should -Match '^base_model\.model\.model\.(language_model|vision_tower)\..*\.(q_proj|v_proj)\.lora_[AB]\.weight$' }
        @($shapes.Keys | Where-Object { $_ -like '*lora_A*' }).Count | Should -Be 12
    }

    It 'captions every image in order, and the adapter changes the captions' {
        $rows = Get-Content -Raw (Join-Path $demo 'captions.json') | ConvertFrom-Json
        $expected = Get-ChildItem (Join-Path $RepoRoot 'data/images') -File | Where-Object Extension -in '.png', '.jpg' | Sort-Object Name
        $rows.Image | Should -Be $expected.Name
        $rows | ForEach-Object { $_.Base | Should -Not -BeNullOrEmpty; $_.Adapted | Should -Not -BeNullOrEmpty }
        @($rows | Where-Object { $_.Base -ne $_.Adapted }).Count | Should -BeGreaterThan 0
    }

    It 'scores the base and the adapted captions against the references' {
        $rows = Get-Content -Raw (Join-Path $demo 'captions.json') | ConvertFrom-Json
        $scores = Get-Content -Raw (Join-Path $demo 'scores.json') | ConvertFrom-Json
        $scores.Captions | Should -Be 'Base', 'Adapted'
        $scores | ForEach-Object {
            $_.Count | Should -Be @($rows | Where-Object Reference).Count
            $_.Bleu | Should -BeGreaterOrEqual 0
            $_.Bleu | Should -BeLessOrEqual 100
            $_.RougeL | Should -BeLessOrEqual 1
        }
    }
}
