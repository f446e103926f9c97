BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $manifestData = Import-PowerShellDataFile (Join-Path $RepoRoot 'MedGemma.psd1')
}

Describe 'MedGemma module manifest' {
    It 'targets PowerShell 7.4+ Core with a literal cmdlet list and the format file' {
        $manifestData.CompatiblePSEditions | Should -Be @('Core')
        [version]$manifestData.PowerShellVersion | Should -BeGreaterOrEqual ([version]'7.4')
        $manifestData.RootModule | Should -Be 'MedGemma.PowerShell.dll'
        $manifestData.FormatsToProcess | Should -Contain 'MedGemma.Format.ps1xml'
        $manifestData.CmdletsToExport | Should -Not -Contain '*'
    }

    It 'exports exactly the cmdlets declared in src/MedGemma.PowerShell/Commands' {
        @($manifestData.CmdletsToExport | Sort-Object) | Should -Be @(Get-SourceCmdletNames)
    }

    It 'is valid for Test-ModuleManifest in the built folder' {
        $m = Test-ModuleManifest $ModuleManifest
        $m.Name | Should -Be 'MedGemma'
    }
}

Describe 'Import-Module in a fresh process' {
    BeforeAll {
        $images = Join-Path $TestDrive 'images'
        New-Item -ItemType Directory $images | Out-Null
        Copy-Item (Join-Path $FixtureImages 'img_rgb_500x380.png') $images
        Set-Content (Join-Path $images 'img_rgb_500x380.txt') 'A test caption.'
    }

    It 'imports, exports the cmdlets and loads the engine into its own AssemblyLoadContext' {
        $out = Invoke-FreshPwsh @"
Import-Module '$ModuleManifest'
(Get-Command -Module MedGemma | Sort-Object Name).Name -join ','
`$e = New-CaptionDataset -ImageFolder '$images' -OutputPath '$TestDrive/ds' -WhatIf
`$asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'MedGemma.Engine' }
'ENGINE_ALC=' + [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$asm).Name
'CMDLET_ALC=' + [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext([MedGemma.PowerShell.ModuleInitializer].Assembly).Name
"@
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        $out[0] | Should -Be (($manifestData.CmdletsToExport | Sort-Object) -join ',')
        $out | Should -Contain 'ENGINE_ALC=MedGemma.Engine'
        $out | Should -Contain 'CMDLET_ALC=Default'
    }

    It 'keeps working when other versions of its managed dependencies were loaded first' {
        $packages = Join-Path $RepoRoot '.psmodules'
        $otherImageSharp = Join-Path $packages 'sixlabors.imagesharp/4.1.3/lib/net8.0/SixLabors.ImageSharp.dll'
        $otherTokenizers = Join-Path $packages 'microsoft.ml.tokenizers/3.0.0/lib/net8.0/Microsoft.ML.Tokenizers.dll'
        if (-not (Test-Path $otherImageSharp) -or -not (Test-Path $otherTokenizers)) {
            & dotnet restore (Join-Path $PSScriptRoot 'assets/ConflictingPackages.csproj') --nologo -v q | Out-Host
            $LASTEXITCODE | Should -Be 0
        }
        $dataset = Join-Path $TestDrive 'iso'
        $out = Invoke-FreshPwsh @"
Add-Type -Path '$otherImageSharp'
Add-Type -Path '$otherTokenizers'
# The foreign ImageSharp stays usable by its owner before and after our import.
'FOREIGN_WIDTH=' + [SixLabors.ImageSharp.Size]::new(500, 1).Width
Import-Module '$ModuleManifest'
`$s = New-CaptionDataset -ImageFolder '$images' -OutputPath '$dataset'
"TRAIN=`$(`$s.TrainCount)"
[AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -in 'SixLabors.ImageSharp', 'Microsoft.ML.Tokenizers' } | ForEach-Object {
    # Tokenizers 2.x and 3.x share assembly version 1.0.0.0, so only the file version tells them apart.
    `$v = [Diagnostics.FileVersionInfo]::GetVersionInfo(`$_.Location).ProductVersion.Split('.')[0]
    'LOADED=' + `$_.GetName().Name + '/' + `$v + '/' + [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$_).Name
}
'FOREIGN_WIDTH_AFTER=' + [SixLabors.ImageSharp.Size]::new(500, 1).Width
"@
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        $out | Should -Contain 'FOREIGN_WIDTH=500'
        $out | Should -Contain 'FOREIGN_WIDTH_AFTER=500'
        $out | Should -Contain 'LOADED=SixLabors.ImageSharp/4/Default'
        $out | Should -Contain 'LOADED=SixLabors.ImageSharp/2/MedGemma.Engine'
        $out | Should -Contain 'LOADED=Microsoft.ML.Tokenizers/3/Default'
        Test-Path (Join-Path $dataset 'train.json') | Should -BeTrue
    }
}
