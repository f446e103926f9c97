# Captioning with the tiny MedGemma (random weights, real vocabulary and image size): the captions are
# gibberish but deterministic, which is what these tests need. One model load serves the whole file.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force
    $model = Get-TinyMedGemmaFolder
    $session = Import-MedGemmaModel -Path $model -Device cpu
    $images = Join-Path $TestDrive 'images'
    New-Item -ItemType Directory $images | Out-Null
    Copy-Item (Join-Path $FixtureImages 'img_gray_300x240.png') (Join-Path $images 'a_gray.png')
    Copy-Item (Join-Path $FixtureImages 'img_rgb_500x380.jpg') (Join-Path $images 'b_rgb.jpg')
    Copy-Item (Join-Path $FixtureImages 'img_rgb_500x380.png') (Join-Path $images 'c_rgb.png')
    [IO.File]::WriteAllBytes((Join-Path $images 'd_broken.png'), [byte[]](1..64))
    $common = @{ MaxNewTokens = 4 }
}

AfterAll { Remove-MedGemmaModel -All -Confirm:$false }

Describe 'Get-MedicalCaption' {
    BeforeAll {
        $files = Get-ChildItem $images -File | Sort-Object Name
        $loadsBefore = $session.GetType()::LoadCount
        $first = $files | Get-MedicalCaption @common -BatchSize 2 -ErrorVariable firstErrors -ErrorAction SilentlyContinue
    }

    It 'captions FileInfo input in input order, across batches, and reports a bad file without stopping' {
        $first.Count | Should -Be 3
        $first.Path | Should -Be @($files | Where-Object Name -ne 'd_broken.png' | ForEach-Object FullName)
        $first | ForEach-Object {
            $_.GetType().FullName | Should -Be 'MedGemma.Engine.Api.CaptionResult'
            $_.Caption | Should -Not -BeNullOrEmpty
            $_.Tokens | Should -BeGreaterThan 0
            $_.Tokens | Should -BeLessOrEqual $common.MaxNewTokens
            $_.Model | Should -Be $session.Name
            $_.Disclaimer | Should -Match 'not a diagnosis'
        }
        $first[0].Caption | Should -Not -Be $first[2].Caption -Because 'the gray and the colour image differ'
        $firstErrors.Count | Should -Be 1
        $firstErrors[0].TargetObject.FullName | Should -Be (Join-Path $images 'd_broken.png')
        $firstErrors[0].CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'gives an image the same caption alone as in a batch, and does not reload the weights' {
        $alone = Get-MedicalCaption (Join-Path $images 'c_rgb.png') @common -Model $model -Verbose 4>&1 | Tee-Object -Variable streams |
            Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        # How decoding ran (on a GPU: CUDA graph replays, or why not), said once per call; on a CPU, host steps.
        @($streams | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'Decode steps:*' }).Message |
            Should -Be @('Decode steps: host steps.')
        $session.DecodeSteps | Should -Be 'host steps'
        $alone.Caption | Should -Be $first[2].Caption
        $session.GetType()::LoadCount | Should -Be $loadsBefore
        @(Get-MedGemmaModel).Count | Should -Be 1
    }

    It 'passes a dataset entry''s caption through as Reference, from entries and from -ManifestPath' {
        Set-Content (Join-Path $images 'c_rgb.txt') 'Reference for c.'
        $ds = Join-Path $TestDrive 'ds'
        $entries = New-CaptionDataset -ImageFolder $images -OutputPath $ds -ValidationFraction 0 -PassThru -ErrorAction SilentlyContinue
        $out = $entries | Get-MedicalCaption @common
        $out.Reference | Should -Be 'Reference for c.'
        $out.Caption | Should -Be $first[2].Caption
        $fromManifest = Get-MedicalCaption -ManifestPath (Join-Path $ds 'train.json') @common
        $fromManifest.Reference | Should -Be 'Reference for c.'
        $fromManifest.Path | Should -Be (Join-Path $images 'c_rgb.png')
        # Straight into Measure-MedicalCaption: Caption and Reference bind by name.
        $score = $fromManifest | Measure-MedicalCaption -PerCaption
        $score.Caption | Should -Be $fromManifest.Caption
        $score.Reference | Should -Be 'Reference for c.'
    }

    It 'samples reproducibly with -Seed and refuses an unknown -Language' {
        $img = Join-Path $images 'c_rgb.png'
        $a = Get-MedicalCaption $img -MaxNewTokens 8 -Temperature 2 -Seed 7
        $b = Get-MedicalCaption $img -MaxNewTokens 8 -Temperature 2 -Seed 7
        $a.Caption | Should -Be $b.Caption
        $c = Get-MedicalCaption $img -MaxNewTokens 8 -Temperature 2 -Seed 8
        $c.Caption | Should -Not -Be $a.Caption
        $err = { Get-MedicalCaption $img @common -Language 'xx' -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'stops promptly on Ctrl+C (PowerShell.Stop) in the middle of generation' {
        $iss = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        $iss.ImportPSModule($ModuleManifest)
        $ps = [powershell]::Create($iss)
        try {
            # The resident model is per process, so the child runspace uses the same session without loading.
            [void]$ps.AddCommand('Get-MedicalCaption').AddParameter('InputObject', (Join-Path $images 'c_rgb.png')).AddParameter('MaxNewTokens', 4000)
            $handle = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddMinutes(2)
            while ($ps.Streams.Progress.Count -lt 2 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 30
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        } finally { $ps.Dispose() }
    }

    It 'applies -MaxPixels per image, before decoding' {
        $out = $files | Get-MedicalCaption @common -MaxPixels 100000 -ErrorVariable errs -ErrorAction SilentlyContinue
        $out.Path | Should -Be (Join-Path $images 'a_gray.png') -Because 'only the 300x240 image is under 100,000 pixels'
        $out.Caption | Should -Be $first[0].Caption
        $tooLarge = @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'ImageTooLarge*' })
        $tooLarge.TargetObject.Name | Should -Be @('b_rgb.jpg', 'c_rgb.png')
    }

    It 'reads DICOM through -Window presets, -WindowCenter/-WindowWidth and -Frame' {
        # A real CT slice: the xUnit run (before Pester in build.ps1 test) caches the registry DICOM samples.
        $cache = if ($env:MEDGEMMA_CACHE) { $env:MEDGEMMA_CACHE } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.cache/medgemma' }
        $ct = Join-Path $cache 'dicom-samples/CT-MONO2-16-ankle.dcm'
        if (-not (Test-Path $ct)) { Set-ItResult -Skipped -Because "$ct is cached by the xUnit tests; run the whole suite"; return }
        $fileWindow = (Get-MedicalCaption $ct @common).Caption
        $lung = (Get-MedicalCaption $ct @common -Window lung).Caption
        $byNumbers = (Get-MedicalCaption $ct @common -WindowCenter -600 -WindowWidth 1500).Caption
        $rgb = (Get-MedicalCaption $ct @common -Window MedGemma-RGB).Caption
        $byNumbers | Should -Be $lung -Because 'the lung preset is L -600 / W 1500'
        @($fileWindow, $lung, $rgb | Select-Object -Unique).Count | Should -BeGreaterThan 1 -Because 'the window reaches the model input'
        (Get-MedicalCaption $ct @common -Frame 0).Caption | Should -Be $fileWindow -Because 'a single-frame file has only frame 0'
        Get-MedicalCaption $ct @common -Frame 5 -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        "$($errs[0].TargetObject)" | Should -Be $ct
    }

    It 'refuses an unknown -Window and incomplete or conflicting windows before reading any image' {
        $img = Join-Path $images 'a_gray.png'
        { Get-MedicalCaption $img @common -Window sideways -ErrorAction Stop } | Should -Throw -ErrorId 'UnknownWindowPreset*'
        { Get-MedicalCaption $img @common -WindowCenter 40 -ErrorAction Stop } | Should -Throw -ErrorId 'WindowIncomplete*'
        { Get-MedicalCaption $img @common -Window lung -WindowCenter 40 -WindowWidth 80 -ErrorAction Stop } | Should -Throw -ErrorId 'WindowConflict*'
        $line = 'Get-MedicalCaption x.dcm -Window me'
        $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $r.CompletionMatches.CompletionText | Should -Be @('mediastinum', 'medgemma-rgb')
    }

    It 'names a missing file as ObjectNotFound with the path as target' {
        $missing = Join-Path $images 'nope.png'
        Get-MedicalCaption $missing @common -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        "$($errs[0].TargetObject)" | Should -Be $missing
    }
}

Describe 'Import-LoraAdapter' {
    BeforeAll {
        $adapterPath = New-RandomPeftAdapter -ModelFolder $model -Path (Join-Path $TestDrive 'peft-adapter')
        $img = Join-Path $images 'c_rgb.png'
        $base = (Get-MedicalCaption $img @common).Caption
    }

    It 'loads a PEFT adapter (transformers-4 key layout) that changes the captions; without -Adapter the base model is used' {
        $info = Import-LoraAdapter -Path $adapterPath -Name peft
        $info.GetType().FullName | Should -Be 'MedGemma.Engine.Api.AdapterInfo'
        $info.Rank | Should -Be 4
        $info.AdaptedModules | Should -Be 12
        $with = Get-MedicalCaption $img @common -Adapter peft
        $with.Adapter | Should -Be 'peft'
        $with.Caption | Should -Not -Be $base
        (Get-MedicalCaption $img @common).Caption | Should -Be $base
        (Get-MedGemmaModel).Adapters.Name | Should -Contain 'peft'
    }

    It 'gives the same captions merged as unmerged' {
        $unmerged = (Get-MedicalCaption $img @common -Adapter peft).Caption
        $info = Import-LoraAdapter -Path $adapterPath -Name peft2 -Merge
        $info.Merged | Should -BeTrue
        (Get-MedicalCaption $img @common -Adapter peft2).Caption | Should -Be $unmerged
        (Get-MedicalCaption $img @common).Caption | Should -Be $base
    }

    It 'refuses an unknown adapter name, a duplicate name and a missing folder with the right categories' {
        { Get-MedicalCaption $img @common -Adapter nosuch -ErrorAction Stop } | Should -Throw -ErrorId 'AdapterNotFound*'
        Import-LoraAdapter -Path $adapterPath -Name peft -ErrorVariable e1 -ErrorAction SilentlyContinue
        $e1[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        Import-LoraAdapter -Path (Join-Path $TestDrive 'none') -ErrorVariable e2 -ErrorAction SilentlyContinue
        $e2[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'completes adapter names, devices and languages' {
        foreach ($case in @(@('Get-MedicalCaption x.png -Adapter pe', 'peft'), @('Import-MedGemmaModel -Device cu', 'cuda:0'), @('Get-MedicalCaption x.png -Language e', 'es'))) {
            $r = TabExpansion2 -inputScript $case[0] -cursorColumn $case[0].Length
            $r.CompletionMatches.CompletionText | Should -Contain $case[1]
        }
    }
}
