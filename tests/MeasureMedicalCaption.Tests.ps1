# Caption metrics from PowerShell: the reference's numbers (sacrebleu 2.6.0, torchmetrics) on the fixture's pairs,
# through pipeline binding by property name, and the errors for inputs that cannot be scored.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force
    $golden = Get-Content -Raw (Join-Path $RepoRoot 'tests/fixtures/metrics/caption_metrics_golden.json') | ConvertFrom-Json
    $pairs = for ($i = 0; $i -lt $golden.hypotheses.Count; $i++) {
        [pscustomobject]@{ Caption = $golden.hypotheses[$i]; Reference = $golden.references[$i] }
    }
}

Describe 'Measure-MedicalCaption' {
    It 'writes one summary with the reference''s corpus BLEU, corpus chrF and mean ROUGE F1' {
        $summary = @($pairs | Measure-MedicalCaption)
        $summary.Count | Should -Be 1
        $summary[0].Count | Should -Be $pairs.Count
        $summary[0].Bleu | Should -BeLessThan ($golden.corpus_bleu + 1e-9)
        $summary[0].Bleu | Should -BeGreaterThan ($golden.corpus_bleu - 1e-9)
        [math]::Abs($summary[0].ChrF - $golden.corpus_chrf) | Should -BeLessThan 1e-9
        $meanRougeL = ($golden.rouge_per_pair_torchmetrics | ForEach-Object { [double][float]$_.rougeL_fmeasure } | Measure-Object -Average).Average
        [math]::Abs($summary[0].RougeL - $meanRougeL) | Should -BeLessThan 1e-9
    }

    It 'writes one score per caption with -PerCaption, in input order' {
        $scores = @($pairs | Measure-MedicalCaption -PerCaption)
        $scores.Index | Should -Be (0..($pairs.Count - 1))
        for ($i = 0; $i -lt $scores.Count; $i++) {
            [math]::Abs($scores[$i].Bleu - $golden.sentence_bleu[$i]) | Should -BeLessThan 1e-9
            $scores[$i].Rouge1.FMeasure | Should -Be ([float]$golden.rouge_per_pair_torchmetrics[$i].rouge1_fmeasure)
        }
        ($scores | Out-String) | Should -Match 'ROUGE-L'
    }

    It 'takes the two strings as positional parameters' {
        $s = Measure-MedicalCaption 'No acute fracture.' 'No acute fracture.' -PerCaption
        $s.Bleu | Should -BeGreaterThan 99.99
        $s.RougeL.FMeasure | Should -Be 1
    }

    It 'reports an input without a reference, scores the others, and says when nothing could be scored' {
        $inputs = @([pscustomobject]@{ Caption = 'Clear lungs.'; Reference = $null }) + $pairs[0]
        $summary = $inputs | Measure-MedicalCaption -ErrorVariable bad -ErrorAction SilentlyContinue
        $bad.Count | Should -Be 1
        $bad[0].FullyQualifiedErrorId | Should -BeLike 'MissingReference*'
        $bad[0].TargetObject | Should -Be 'Clear lungs.'
        $summary.Count | Should -Be 1
        $summary.Bleu | Should -BeGreaterThan 99.99

        $none = [pscustomobject]@{ Caption = 'x'; Reference = $null } | Measure-MedicalCaption -ErrorVariable empty -ErrorAction SilentlyContinue
        $none | Should -BeNullOrEmpty
        $empty.FullyQualifiedErrorId | Should -Contain 'NoCaptionPairs,MedGemma.PowerShell.Commands.MeasureMedicalCaptionCommand'
    }
}
