# The tiny MedGemma folder (random weights, MedGemma's real vocabulary, 896x896 images, 256 image tokens) with the
# real tokenizer.json: tests/fixtures/tiny-medgemma-snapshot expanded (*.gz) + tokenizer.json from the npm cache.
# The same folder tests/MedGemma.Engine.Tests/Support/TokenizerAssets.SnapshotFolderWithTokenizer() builds.
# Used by the Pester tests and by `build.ps1 demo` when MEDGEMMA_MODEL is not set.
function Get-TinyMedGemmaFolder {
    param([string]$Root = (Split-Path -Parent $PSScriptRoot))
    $pin = Get-Content -Raw (Join-Path $Root 'build/tokenizer-package.json') | ConvertFrom-Json
    $cache = if ($env:MEDGEMMA_CACHE) { [IO.Path]::GetFullPath($env:MEDGEMMA_CACHE) } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.cache/medgemma' }
    $tokenizer = Join-Path $cache ("npm/{0}-{1}/tokenizer.json" -f $pin.package.TrimStart('@').Replace('/', '-'), $pin.version)
    if (-not (Test-Path $tokenizer)) {
        if (-not (Get-Command Install-TokenizerAssets -ErrorAction SilentlyContinue)) { . (Join-Path $Root 'build/Tasks.ps1') }
        Install-TokenizerAssets -Root $Root
    }
    $source = Join-Path $Root 'tests/fixtures/tiny-medgemma-snapshot'
    $target = Join-Path $Root 'out/fixtures-cache/tiny-medgemma-snapshot+tokenizer'
    New-Item -ItemType Directory -Force $target | Out-Null
    foreach ($f in Get-ChildItem $source -File) {
        $dst = Join-Path $target ($f.Name -replace '\.gz$', '')
        if ((Test-Path $dst) -and (Get-Item $dst).LastWriteTimeUtc -ge $f.LastWriteTimeUtc) { continue }
        $tmp = "$dst.$PID.tmp"
        if ($f.Extension -eq '.gz') {
            $in = [IO.Compression.GZipStream]::new([IO.File]::OpenRead($f.FullName), [IO.Compression.CompressionMode]::Decompress)
            $out = [IO.File]::Create($tmp)
            try { $in.CopyTo($out) } finally { $out.Dispose(); $in.Dispose() }
        } else { Copy-Item $f.FullName $tmp -Force }
        Move-Item -Force $tmp $dst
    }
    $dstTok = Join-Path $target 'tokenizer.json'
    if (-not (Test-Path $dstTok) -or (Get-Item $dstTok).Length -ne (Get-Item $tokenizer).Length) {
        Copy-Item $tokenizer "$dstTok.$PID.tmp" -Force; Move-Item -Force "$dstTok.$PID.tmp" $dstTok
    }
    $target
}
