# Help for every exported cmdlet comes from docs/<Cmdlet>.md through the MAML the build generates.
# New cmdlets (e.g. the caption-server ones) are covered automatically once they are in CmdletsToExport.
BeforeDiscovery {
    $cmdlets = (Import-PowerShellDataFile (Join-Path (Split-Path -Parent $PSScriptRoot) 'MedGemma.psd1')).CmdletsToExport
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force
    $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters |
        Where-Object { $_ -notin 'WhatIf', 'Confirm' }
}

Describe 'Help for <_>' -ForEach $cmdlets {
    BeforeAll {
        $name = $_
        $doc = Join-Path $RepoRoot "docs/$name.md"
        $help = Get-Help $name -Full
        $parameters = @((Get-Command $name).Parameters.Keys | Where-Object { $_ -notin $common })
    }

    It 'has docs/<_>.md in the PlatyPS schema' {
        Test-Path $doc | Should -BeTrue
        $text = Get-Content -Raw $doc
        $text | Should -Match '(?m)^schema: 2\.0\.0'
        foreach ($section in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS') {
            $text | Should -Match "(?m)^## $section\s*$"
        }
    }

    It 'shows the synopsis from the markdown (not the auto-generated one)' {
        $synopsis = ((Get-Content -Raw $doc) -split '(?m)^## SYNOPSIS\s*$')[1] -split '(?m)^## ' | Select-Object -First 1
        $help.Synopsis | Should -Be ($synopsis.Trim() -replace '\s*\r?\n\s*', ' ')
    }

    It 'documents every parameter, and only real ones' {
        $text = Get-Content -Raw $doc
        $documented = @([regex]::Matches($text, '(?m)^### -(\w+)') | ForEach-Object { $_.Groups[1].Value })
        @($documented | Sort-Object) | Should -Be @($parameters | Sort-Object)
        foreach ($p in $parameters) {
            $hp = $help.parameters.parameter | Where-Object name -eq $p
            ($hp.description.Text -join '').Trim() | Should -Not -BeNullOrEmpty -Because "-$p needs a description"
        }
    }

    It 'has at least two examples with code' {
        @($help.examples.example).Count | Should -BeGreaterOrEqual 2
        $help.examples.example | ForEach-Object { $_.code | Should -Not -BeNullOrEmpty }
    }

    It 'prints every parameter in Get-Help -Full' {
        $full = Get-Help $name -Full | Out-String -Width 200
        foreach ($p in $parameters) { $full | Should -Match "-$p\b" }
    }
}

Describe 'about_MedGemma' {
    It 'is available through Get-Help' {
        $about = Get-Help about_MedGemma | Out-String
        $about | Should -Match 'not a diagnosis'
        $about | Should -Match 'RESIDENT MODEL'
    }
}

# Examples drift when a parameter is renamed; users copy them from README.md and the docs first.
Describe 'Examples in README.md and docs/' {
    It 'name only parameters the module''s cmdlets have' {
        $commands = @{}
        foreach ($c in (Get-Module MedGemma).ExportedCommands.Values) { $commands[$c.Name] = $c.Parameters }
        $files = @(Join-Path $RepoRoot 'README.md') + @(Get-ChildItem (Join-Path $RepoRoot 'docs') -Filter *.md | ForEach-Object FullName)
        $checked = 0
        $wrong = foreach ($file in $files) {
            $text = Get-Content -Raw $file
            foreach ($block in [regex]::Matches($text, '(?ms)^```(?:powershell|pwsh|ps1)\s*\r?\n(.*?)^```')) {
                $tokens = $errors = $null
                $ast = [System.Management.Automation.Language.Parser]::ParseInput($block.Groups[1].Value, [ref]$tokens, [ref]$errors)
                if ($errors) { "$(Split-Path -Leaf $file): does not parse: $($errors[0].Message)"; continue }
                foreach ($call in $ast.FindAll({ $args[0] -is [System.Management.Automation.Language.CommandAst] }, $true)) {
                    $parameters = $commands[[string]$call.GetCommandName()]
                    if (-not $parameters) { continue }
                    foreach ($p in $call.CommandElements.Where({ $_ -is [System.Management.Automation.Language.CommandParameterAst] })) {
                        $name = $p.ParameterName
                        # As the binder resolves a name: exact name or alias first, else a unique prefix.
                        $hits = @($parameters.Values.Where({ $_.Name -eq $name -or $_.Aliases -contains $name }))
                        if (-not $hits) { $hits = @($parameters.Values.Where({ $_.Name -like "$name*" })) }
                        if ($hits.Count -eq 1) { $checked++ } else { "$(Split-Path -Leaf $file): $($call.GetCommandName()) -$name" }
                    }
                }
            }
        }
        @($wrong) | Should -BeNullOrEmpty
        $checked | Should -BeGreaterThan 50 -Because 'the examples call the cmdlets with parameters'
    }
}
