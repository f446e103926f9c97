BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force
    $session = Import-MedGemmaModel -Path (Get-TinyMedGemmaFolder) -Device cpu
    $train = Join-Path $RepoRoot 'dataset/train.json'
    $val = Join-Path $RepoRoot 'dataset/val.json'
}

AfterAll { Get-Job | Remove-Job -Force; Remove-MedGemmaModel -All -Confirm:$false }

Describe 'Start-LoraTraining' {
    It 'writes nothing with -WhatIf' {
        $out = Join-Path $TestDrive 'whatif'
        Start-LoraTraining $train $val -OutputPath $out -MaxSteps 1 -WhatIf | Should -BeNullOrEmpty
        Test-Path $out | Should -BeFalse
    }

    It 'names a missing manifest and a bad option with their categories' {
        $err = { Start-LoraTraining (Join-Path $TestDrive 'none.json') -OutputPath $TestDrive -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        { Start-LoraTraining $train -Scheduler Sideways -OutputPath $TestDrive } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        { Start-LoraTraining $train -Window sideways -OutputPath $TestDrive -ErrorAction Stop } | Should -Throw -ErrorId 'UnknownWindowPreset*'
    }

    It 'reads training images with the image options (-MaxPixels reaches the loader and names the image)' {
        $out = Join-Path $TestDrive 'budget'
        $err = { Start-LoraTraining $train -MaxPixels 100 -MaxSteps 1 -OutputPath $out -ErrorAction Stop } | Should -Throw -ErrorId 'ImageTooLarge*' -PassThru
        $err.Exception.Message | Should -Match 'over the limit of 100 pixels'
        # The failed run detached its adapter: the next runs in the same session start (twice, like a runbook retraining).
        foreach ($i in 1, 2) {
            $r = Start-LoraTraining $train -MaxSteps 1 -OutputPath (Join-Path $TestDrive "again$i")
            $r.Steps | Should -Be 1
        }
    }

    It 'runs as a job that Stop-Job stops with a resumable checkpoint, and leaves the base model unchanged' {
        $img = Join-Path $RepoRoot 'data/images/synthetic_chest_xray.png'
        $before = (Get-MedicalCaption $img -MaxNewTokens 4).Caption
        $out = Join-Path $TestDrive 'job'
        $job = Start-LoraTraining $train -OutputPath $out -MaxSteps 500 -LearningRate 1e-2 -AsJob
        $job | Should -BeOfType ([System.Management.Automation.Job])
        $deadline = [DateTime]::UtcNow.AddMinutes(3)
        while ($job.Progress.Count -lt 1 -and [DateTime]::UtcNow -lt $deadline -and $job.State -eq 'Running') { Start-Sleep -Milliseconds 200 }
        $job.Progress.Count | Should -BeGreaterThan 0 -Because "job state $($job.State): $($job.Error | Out-String)"
        $job.Progress[0].StatusDescription | Should -Match 'Step \d+/500 .*loss'
        $job | Stop-Job
        $job.State | Should -Be 'Stopped'
        "$($job.Warning)" | Should -Match '-Resume'
        Test-Path (Join-Path $out 'checkpoint/trainer_state.json') | Should -BeTrue
        (Get-MedicalCaption $img -MaxNewTokens 4).Caption | Should -Be $before
    }
}
