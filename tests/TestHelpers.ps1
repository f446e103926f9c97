# Shared by tests/*.Tests.ps1 (dot-source in BeforeAll). Tests import the BUILT module from out/MedGemma,
# the same folder users import; `./build.ps1 test` builds it first.
$script:RepoRoot = Split-Path -Parent $PSScriptRoot
$script:ModuleManifest = Join-Path $script:RepoRoot 'out/MedGemma/MedGemma.psd1'
$script:FixtureImages = Join-Path $script:RepoRoot 'tests/fixtures/images'

function Get-PwshCommand {
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    @($exe)
}

# Runs a script in a fresh pwsh (a rebuilt binary module or a conflicting assembly needs a clean process).
# Returns the output lines; $LASTEXITCODE is the child's exit code.
function Invoke-FreshPwsh([string]$Script) {
    $pwsh = @(Get-PwshCommand)
    $prefix = "`$ErrorActionPreference = 'Stop'; `$ProgressPreference = 'SilentlyContinue'; `$PSStyle.OutputRendering = 'PlainText'`n"
    & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command ($prefix + $Script) 2>&1 | ForEach-Object { "$_" }
}

# The cmdlet names declared in src/MedGemma.PowerShell/Commands/*.cs ([Cmdlet(Verb, "Noun")]).
function Get-SourceCmdletNames {
    Get-ChildItem (Join-Path $script:RepoRoot 'src/MedGemma.PowerShell/Commands') -Filter *.cs | ForEach-Object {
        $text = Get-Content -Raw $_.FullName
        foreach ($m in [regex]::Matches($text, '\[Cmdlet\(\s*(?:Verbs\w+\.(\w+)|"(\w+)")\s*,\s*"(\w+)"')) {
            $verb = if ($m.Groups[1].Success) { $m.Groups[1].Value } else { $m.Groups[2].Value }
            "$verb-$($m.Groups[3].Value)"
        }
    } | Sort-Object -Unique
}

# The tiny MedGemma folder with the real tokenizer (build/TinyModel.ps1; shared with `build.ps1 demo`).
. (Join-Path $script:RepoRoot 'build/TinyModel.ps1')

# Shapes of every tensor in a model folder's safetensors files (reads only the JSON headers).
function Get-SafetensorsShapes([string]$Folder) {
    $shapes = @{}
    foreach ($f in Get-ChildItem $Folder -Filter *.safetensors) {
        $fs = [IO.File]::OpenRead($f.FullName)
        try {
            $br = [IO.BinaryReader]::new($fs)
            $n = $br.ReadInt64()
            $json = [Text.Encoding]::UTF8.GetString($br.ReadBytes([int]$n)) | ConvertFrom-Json -AsHashtable
        } finally { $fs.Dispose() }
        foreach ($k in $json.Keys) { if ($k -ne '__metadata__') { $shapes[$k] = $json[$k].shape } }
    }
    $shapes
}

# A PEFT LoRA adapter as Python PEFT on transformers 4 would save it (r, alpha, q_proj/v_proj of both towers),
# with random A and B so it visibly changes the model's output. Written without the engine, so it is an
# independent check of our PEFT reader.
function New-RandomPeftAdapter([string]$ModelFolder, [string]$Path, [int]$Rank = 4, [double]$Alpha = 8, [int]$Seed = 1) {
    $rng = [Random]::new($Seed)
    $tensors = [ordered]@{}
    $shapes = Get-SafetensorsShapes $ModelFolder
    foreach ($key in $shapes.Keys | Sort-Object) {
        if ($key -notmatch '^(.*\.(q_proj|v_proj))\.weight$') { continue }
        $module = $Matches[1] -replace '^vision_tower\.encoder\.', 'vision_tower.vision_model.encoder.'
        $out, $in = $shapes[$key]
        $tensors["base_model.model.$module.lora_A.weight"] = @($Rank, $in)
        $tensors["base_model.model.$module.lora_B.weight"] = @($out, $Rank)
    }
    $header = [ordered]@{}
    $offset = 0
    foreach ($k in $tensors.Keys) {
        $count = $tensors[$k][0] * $tensors[$k][1]
        $header[$k] = [ordered]@{ dtype = 'F32'; shape = $tensors[$k]; data_offsets = @($offset, ($offset + 4 * $count)) }
        $offset += 4 * $count
    }
    $headerBytes = [Text.Encoding]::UTF8.GetBytes(($header | ConvertTo-Json -Compress -Depth 5))
    $pad = (8 - $headerBytes.Length % 8) % 8
    $headerBytes = [byte[]]($headerBytes + @([byte]32) * $pad)
    New-Item -ItemType Directory -Force $Path | Out-Null
    $fs = [IO.File]::Create((Join-Path $Path 'adapter_model.safetensors'))
    try {
        $bw = [IO.BinaryWriter]::new($fs)
        $bw.Write([long]$headerBytes.Length); $bw.Write($headerBytes)
        for ($i = 0; $i -lt $offset / 4; $i++) { $bw.Write([single]($rng.NextDouble() - 0.5)) }
        $bw.Flush()
    } finally { $fs.Dispose() }
    [ordered]@{
        peft_type = 'LORA'; r = $Rank; lora_alpha = $Alpha; lora_dropout = 0.0; target_modules = @('q_proj', 'v_proj'); bias = 'none'
        task_type = 'CAUSAL_LM'; base_model_name_or_path = $null; inference_mode = $true; fan_in_fan_out = $false; use_rslora = $false; use_dora = $false
    } | ConvertTo-Json | Set-Content (Join-Path $Path 'adapter_config.json')
    Get-Item $Path
}
