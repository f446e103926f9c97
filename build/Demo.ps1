<#
.SYNOPSIS
    The main job, end to end: New-CaptionDataset over data/images -> Start-LoraTraining -> Import-LoraAdapter ->
    Get-ChildItem data/images | Get-MedicalCaption, base model and adapter side by side, each scored against the
    reference captions with Measure-MedicalCaption.
.DESCRIPTION
    Runs in a fresh pwsh (build.ps1 demo starts it) on the module in out/MedGemma. Writes under -OutputPath:
    dataset/train.json + val.json, adapter/ (PEFT), captions.json (image, reference, base, adapted) and scores.json
    (BLEU, chrF and ROUGE of the base and the adapted captions).
    The model is -Model: $env:MEDGEMMA_MODEL when set (a real MedGemma folder gives real captions), else the tiny
    random-weight MedGemma of the tests (gibberish captions, same pipeline).
#>
param(
    [Parameter(Mandatory)][string]$Root,
    [Parameter(Mandatory)][string]$Model,
    [string]$OutputPath = (Join-Path $Root 'out/demo'),
    [int]$MaxSteps = 4,
    [double]$LearningRate = 5e-3,
    [int]$MaxNewTokens = 16,
    [string]$Device = 'auto'
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $Root 'out/MedGemma/MedGemma.psd1')
$images = Join-Path $Root 'data/images'
$imageTypes = '.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.dcm'
if (Test-Path $OutputPath) { Remove-Item -Recurse -Force $OutputPath }
New-Item -ItemType Directory -Force $OutputPath | Out-Null

Write-Host "== 1. Dataset from $images"
$dataset = Join-Path $OutputPath 'dataset'
New-CaptionDataset -ImageFolder $images -CaptionFile (Join-Path $images 'captions.csv') -OutputPath $dataset -ValidationFraction 0.25 -Seed 42 | Format-Table | Out-Host

Write-Host "== 2. Model $Model"
$session = Import-MedGemmaModel -Path $Model -Device $Device
$session | Format-Table | Out-Host

Write-Host '== 3. Captions from the base model'
$files = @(Get-ChildItem $images -File | Where-Object { $_.Extension.ToLowerInvariant() -in $imageTypes } | Sort-Object Name)
$base = @($files | Get-MedicalCaption -MaxNewTokens $MaxNewTokens)

Write-Host "== 4. LoRA training ($MaxSteps steps)"
$adapter = Join-Path $OutputPath 'adapter'
$result = Start-LoraTraining -TrainManifest (Join-Path $dataset 'train.json') -ValidationManifest (Join-Path $dataset 'val.json') `
    -OutputPath $adapter -MaxSteps $MaxSteps -LearningRate $LearningRate -EvalSteps $MaxSteps -Seed 42 | Select-Object -Last 1
$result | Format-List AdapterPath, Steps, FinalTrainingLoss, BestValidationLoss, Duration | Out-Host

Write-Host '== 5. Adapter + captions'
Import-LoraAdapter -Path $adapter -Name demo | Format-Table | Out-Host
$tuned = @($files | Get-MedicalCaption -MaxNewTokens $MaxNewTokens -Adapter demo)

# The outputs must line up with the inputs, and the adapter files must be what PEFT reads.
if (($base.Path -join '|') -ne ($files.FullName -join '|') -or ($tuned.Path -join '|') -ne ($files.FullName -join '|')) { throw 'Captions came back out of order.' }
$config = Get-Content -Raw (Join-Path $adapter 'adapter_config.json') | ConvertFrom-Json
if ($config.peft_type -ne 'LORA' -or -not $config.target_modules) { throw 'adapter_config.json is not a PEFT LoRA config.' }
$fs = [IO.File]::OpenRead((Join-Path $adapter 'adapter_model.safetensors'))
try { $br = [IO.BinaryReader]::new($fs); $n = $br.ReadInt64(); $header = [Text.Encoding]::UTF8.GetString($br.ReadBytes([int]$n)) | ConvertFrom-Json -AsHashtable }
finally { $fs.Dispose() }
$loraKeys = @($header.Keys | Where-Object { $_ -match '^base_model\.model\..*\.lora_[AB]\.weight$' })
if ($loraKeys.Count -eq 0) { throw 'adapter_model.safetensors has no PEFT lora_A/lora_B tensors.' }

$references = @{}
Import-Csv (Join-Path $images 'captions.csv') | ForEach-Object { $references[$_.image] = $_.caption }
$rows = for ($i = 0; $i -lt $files.Count; $i++) {
    [pscustomobject]@{ Image = $files[$i].Name; Reference = $references[$files[$i].Name]; Base = $base[$i].Caption; Adapted = $tuned[$i].Caption }
}
$rows | ConvertTo-Json | Set-Content (Join-Path $OutputPath 'captions.json') -Encoding utf8NoBOM
foreach ($row in $rows) {
    Write-Host "[$($row.Image)]"
    Write-Host "  reference: $($row.Reference)"
    Write-Host "  base:      $($row.Base)"
    Write-Host "  adapted:   $($row.Adapted)"
}
Write-Host '== 6. Scores against the reference captions (BLEU and chrF as sacrebleu, ROUGE as torchmetrics)'
$scored = @($rows | Where-Object Reference)
$scores = foreach ($kind in 'Base', 'Adapted') {
    $scored | ForEach-Object { [pscustomobject]@{ Caption = $_.$kind; Reference = $_.Reference } } | Measure-MedicalCaption |
        Select-Object @{ n = 'Captions'; e = { $kind } }, Count, Bleu, ChrF, Rouge1, Rouge2, RougeL
}
$scores | Format-Table Captions, Count, @{ n = 'BLEU'; e = { '{0:N2}' -f $_.Bleu } }, @{ n = 'chrF'; e = { '{0:N2}' -f $_.ChrF } },
    @{ n = 'ROUGE-L'; e = { '{0:N4}' -f $_.RougeL } } | Out-Host
$scores | ConvertTo-Json | Set-Content (Join-Path $OutputPath 'scores.json') -Encoding utf8NoBOM
$changed = @($rows | Where-Object { $_.Base -ne $_.Adapted }).Count
Write-Host "$changed of $($rows.Count) captions changed with the adapter; $($loraKeys.Count) LoRA tensors in $adapter."
Write-Host "Written: $dataset, $adapter, $(Join-Path $OutputPath 'captions.json'), $(Join-Path $OutputPath 'scores.json')"
Write-Host "NOTE: $($base[0].Disclaimer)"
