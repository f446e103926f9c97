@{
    RootModule           = 'MedGemma.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0c6f5e-2f8e-4a57-9d8a-6c1d2e0f7a31'
    Author               = 'MedGemma for PowerShell contributors'
    CompanyName          = 'MedGemma for PowerShell'
    Copyright            = '(c) MedGemma for PowerShell contributors. Model weights are under the Health AI Developer Foundations terms.'
    Description          = 'Fine-tune MedGemma (Gemma 3 + SigLIP) with LoRA and caption medical images from PowerShell. A research and documentation aid, not a diagnostic device.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('MedGemma.Format.ps1xml')
    # Literal list: one line per cmdlet in src/MedGemma.PowerShell/Commands/ (each needs docs/<Name>.md; tests/Help.Tests.ps1 checks both).
    CmdletsToExport      = @(
        'New-CaptionDataset'
        'Import-MedGemmaModel'
        'Get-MedGemmaModel'
        'Remove-MedGemmaModel'
        'Get-MedicalCaption'
        'Measure-MedicalCaption'
        'Import-LoraAdapter'
        'Start-LoraTraining'
        'Start-CaptionServer'
        'Get-CaptionServer'
        'Stop-CaptionServer'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('MedGemma', 'Gemma3', 'LoRA', 'TorchSharp', 'MedicalImaging', 'Captioning')
            ProjectUri = ''
        }
    }
}
