# Start-/Get-/Stop-CaptionServer through the built module, against a stand-in model
# (tests/browser/BrowserFakeBackend.cs, compiled and loaded into the engine's own load context).
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModuleManifest -Force
    Get-CaptionServer | Out-Null   # loads the engine
    $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'MedGemma.Engine' } | Select-Object -First 1
    $alc = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($engine)
    $deps = Join-Path (Split-Path $ModuleManifest) 'Dependencies'
    $dll = Join-Path $TestDrive "FakeBackend-$PID.dll"
    Add-Type -Path (Join-Path $PSScriptRoot 'browser/BrowserFakeBackend.cs') -OutputAssembly $dll -OutputType Library -IgnoreWarnings -WarningAction SilentlyContinue -ReferencedAssemblies @(
        $engine.Location, (Join-Path $deps 'SixLabors.ImageSharp.dll'), 'System.Runtime', 'System.Collections', 'System.Linq', 'System.Threading', 'netstandard')
    $script:FakeType = $alc.LoadFromAssemblyPath($dll).GetType('BrowserFakeBackend')
    function New-FakeModel([int]$DelayMilliseconds = 0) {
        $m = [Activator]::CreateInstance($script:FakeType)
        $m.DelayMilliseconds = $DelayMilliseconds
        $m
    }
    $script:Png = Join-Path $FixtureImages 'img_gray_300x240.png'
    $script:Jpg = Join-Path $FixtureImages 'img_rgb_500x380.jpg'
    $script:Corrupt = Join-Path $TestDrive 'corrupt.png'
    [IO.File]::WriteAllBytes($Corrupt, [IO.File]::ReadAllBytes($Png)[0..150])

    function New-Form([string[]]$Paths) {
        $form = [System.Net.Http.MultipartFormDataContent]::new()
        foreach ($p in $Paths) {
            $form.Add([System.Net.Http.ByteArrayContent]::new([IO.File]::ReadAllBytes($p)), 'image', (Split-Path -Leaf $p))
        }
        Write-Output $form -NoEnumerate   # it is IEnumerable<HttpContent>: keep it whole
    }
    function New-Client($Server, [switch]$NoToken) {
        $c = [System.Net.Http.HttpClient]::new()
        $c.BaseAddress = [uri]$Server.BaseUrl
        if (-not $NoToken) { $c.DefaultRequestHeaders.Authorization = [System.Net.Http.Headers.AuthenticationHeaderValue]::new('Bearer', $Server.Token) }
        $c
    }
}

AfterAll {
    Stop-CaptionServer
}

Describe 'Start-CaptionServer' {
    BeforeAll {
        $server = Start-CaptionServer -Model (New-FakeModel) -Port 0 -Adapter demo-adapter
    }
    AfterAll { $server | Stop-CaptionServer }

    It 'returns a running server on 127.0.0.1 with the token in its Url' {
        $server.IsRunning | Should -BeTrue
        $server.Url | Should -BeLike "http://127.0.0.1:$($server.Port)/?token=*"
        $server.Token.Length | Should -BeGreaterOrEqual 40
        $server.Model | Should -Be 'browser-test-fake'
        $server.Adapter | Should -Be 'demo-adapter'
        (Get-CaptionServer).Id | Should -Contain $server.Id
    }

    It 'captions several images in one request and gives a corrupt file its own error' {
        $r = Invoke-RestMethod "$($server.BaseUrl)api/caption" -Method Post -Headers @{ Authorization = "Bearer $($server.Token)" } -Form @{
            image = @((Get-Item $Png), (Get-Item $Corrupt), (Get-Item $Jpg)) }
        $r.results.Count | Should -Be 3
        $r.results[0].caption | Should -BeLike 'A 300x240 test image*'
        $r.results[1].caption | Should -BeNullOrEmpty
        $r.results[1].errorId | Should -Be 'CorruptImage'
        $r.results[1].error | Should -BeLike '*corrupt.png*'
        $r.results[2].caption | Should -BeLike 'A 500x380 test image*'
        $r.adapter | Should -Be 'demo-adapter'
    }

    It 'answers 401 without the token' {
        $anonymous = New-Client $server -NoToken
        $anonymous.PostAsync('api/caption', (New-Form $Png)).Result.StatusCode | Should -Be 401
        $anonymous.GetAsync('api/status').Result.StatusCode | Should -Be 401
        $anonymous.GetAsync('').Result.StatusCode | Should -Be 401
    }

    It 'answers 20 concurrent clients, each with its own result' {
        $client = New-Client $server
        $images = 1..20 | ForEach-Object { if ($_ % 2) { $Png } else { $Jpg } }
        $tasks = @($images | ForEach-Object { $client.PostAsync('api/caption', (New-Form $_)) })
        [System.Threading.Tasks.Task]::WaitAll([System.Threading.Tasks.Task[]]$tasks)
        for ($i = 0; $i -lt 20; $i++) {
            $tasks[$i].Result.StatusCode | Should -Be 200
            $body = $tasks[$i].Result.Content.ReadAsStringAsync().Result | ConvertFrom-Json
            $body.results[0].name | Should -Be (Split-Path -Leaf $images[$i])
            $expected = if ($images[$i] -eq $Png) { 'A 300x240*' } else { 'A 500x380*' }
            $body.results[0].caption | Should -BeLike $expected
        }
    }

    It 'refuses a second server on the same port' {
        { Start-CaptionServer -Model (New-FakeModel) -Port $server.Port } | Should -Throw -ErrorId 'PortUnavailable,MedGemma.PowerShell.Commands.StartCaptionServerCommand'
    }
}

Describe 'Start-CaptionServer limits' {
    It 'answers 413 over -MaxUploadBytes' {
        $s = Start-CaptionServer -Model (New-FakeModel) -Port 0 -MaxUploadBytes 4096
        try {
            $r = (New-Client $s).PostAsync('api/caption', (New-Form $Jpg)).Result
            $r.StatusCode | Should -Be 413
        } finally { $s | Stop-CaptionServer }
    }

    It 'answers 503 with Retry-After beyond -QueueLimit' {
        $s = Start-CaptionServer -Model (New-FakeModel -DelayMilliseconds 1500) -Port 0 -QueueLimit 1
        try {
            $client = New-Client $s
            $tasks = @(1..4 | ForEach-Object { $client.PostAsync('api/caption', (New-Form $Png)) })
            [System.Threading.Tasks.Task]::WaitAll([System.Threading.Tasks.Task[]]$tasks)
            $codes = $tasks | ForEach-Object { [int]$_.Result.StatusCode }
            @($codes | Where-Object { $_ -eq 200 }).Count | Should -Be 1
            @($codes | Where-Object { $_ -eq 503 }).Count | Should -Be 3
            ($tasks | Where-Object { [int]$_.Result.StatusCode -eq 503 } | Select-Object -First 1).Result.Headers.RetryAfter | Should -Not -BeNullOrEmpty
        } finally { $s | Stop-CaptionServer }
    }
}

Describe 'Start-CaptionServer safety and errors' {
    It 'refuses a non-loopback address without -AllowRemote' {
        { Start-CaptionServer -Model (New-FakeModel) -Port 0 -ListenAddress 0.0.0.0 } |
            Should -Throw -ErrorId 'RemoteNotAllowed,MedGemma.PowerShell.Commands.StartCaptionServerCommand'
    }

    It 'names an unknown adapter' {
        $e = { Start-CaptionServer -Model (New-FakeModel) -Port 0 -Adapter nope } | Should -Throw -PassThru
        $e.FullyQualifiedErrorId | Should -BeLike 'AdapterNotFound,*'
        $e.TargetObject | Should -Be 'nope'
        $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'needs a model' {
        # A fresh process: no model imported and no MEDGEMMA_MODEL.
        $out = Invoke-FreshPwsh @"
`$env:MEDGEMMA_MODEL = `$null
Import-Module '$ModuleManifest'
try { Start-CaptionServer -Port 0; 'STARTED' } catch { 'ERROR=' + `$_.FullyQualifiedErrorId }
"@
        $out | Should -Contain 'ERROR=NoModel,MedGemma.PowerShell.Commands.StartCaptionServerCommand'
    }

    It 'starts nothing with -WhatIf' {
        $before = @(Get-CaptionServer).Count
        Start-CaptionServer -Model (New-FakeModel) -Port 0 -WhatIf | Should -BeNullOrEmpty
        @(Get-CaptionServer).Count | Should -Be $before
    }
}

Describe 'Get-CaptionServer and Stop-CaptionServer' {
    It 'stops by Id, frees the port and forgets the server' {
        $s = Start-CaptionServer -Model (New-FakeModel) -Port 0
        Get-CaptionServer -Id $s.Id | Should -Be $s
        $stopped = Stop-CaptionServer -Id $s.Id -PassThru
        $stopped.IsRunning | Should -BeFalse
        (Get-CaptionServer).Id | Should -Not -Contain $s.Id
        $probe = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $s.Port)
        $probe.Start(); $probe.Stop()
    }

    It 'reports an unknown Id as a non-terminating error' {
        Get-CaptionServer -Id 99999 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'CaptionServerNotFound,*'
    }

    It 'keeps serving in the foreground with -Wait until stopped' {
        # A second runspace runs -Wait; stopping the server from here ends it.
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$ModuleManifest'; Start-CaptionServer -Model `$args[0] -Port 0 -Wait").AddArgument((New-FakeModel))
        $async = $ps.BeginInvoke()
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while (-not (Get-CaptionServer) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        $s = Get-CaptionServer | Select-Object -Last 1
        $s | Should -Not -BeNullOrEmpty
        $async.IsCompleted | Should -BeFalse
        $s | Stop-CaptionServer
        $async.AsyncWaitHandle.WaitOne(10000) | Should -BeTrue
        $ps.Dispose()
    }
}

Describe 'Start-CaptionServer with the tiny MedGemma model' {
    BeforeAll {
        $session = Import-MedGemmaModel -Path (Get-TinyMedGemmaFolder -Root $RepoRoot) -Device cpu
        $server = Start-CaptionServer -Model $session -Port 0
        $headers = @{ Authorization = "Bearer $($server.Token)" }
    }
    AfterAll {
        $server | Stop-CaptionServer
        Remove-MedGemmaModel -Model $session -Confirm:$false
    }

    It 'returns the captions Get-MedicalCaption gives for the same files, and an error for a corrupt one' {
        $r = Invoke-RestMethod "$($server.BaseUrl)api/caption" -Method Post -Headers $headers -Form @{
            image = @((Get-Item $Png), (Get-Item $Corrupt), (Get-Item $Jpg)); prompt = 'Describe this X-ray'; maxNewTokens = 4 }
        $direct = @(Get-MedicalCaption -InputObject $Png, $Jpg -Prompt 'Describe this X-ray' -MaxNewTokens 4 -Model $session)
        $direct.Count | Should -Be 2
        $r.results[0].caption | Should -Be $direct[0].Caption
        $r.results[1].errorId | Should -Not -BeNullOrEmpty
        $r.results[2].caption | Should -Be $direct[1].Caption
        $r.model | Should -Be $session.Name
    }

    It 'leaves the model loaded when the server stops' {
        $s2 = Start-CaptionServer -Model $session -Port 0
        $s2 | Stop-CaptionServer
        $session.IsDisposed | Should -BeFalse
    }
}
