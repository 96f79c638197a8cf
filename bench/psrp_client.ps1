# The pwsh side of bench/bench_psrp.c: PowerShell itself as the client of the
# same sshd and `powershell` subsystem remsess was measured against, connecting
# as the recordings in /work/shared/fixtures/pwsh-7.6.10-ssh did (New-PSSession
# -HostName ... -KeyFilePath ... -Options @{...}, which runs the system `ssh`
# as a child process carrying the PSRP bytes on its stdin and stdout).
#
#   pwsh -NoLogo -NoProfile -NonInteractive -File bench/psrp_client.ps1 `
#        -Port P -User U -Key KEY -KnownHosts FILE [-N 200] [-Warmup 5] [-BigRuns 3]
#
# Prints one JSON line (the last line of its output) with, per phase, the wall
# milliseconds (Stopwatch) and the CPU milliseconds of this pwsh process
# (TotalProcessorTime, all its threads) and, apart, of its ssh child; the
# BigRuns runs of 1..10000 each apart, as arrays. Each phase's CPU is read
# just before and just after it, so pwsh's own start-up and this script's
# compilation are not in any phase.
param(
	[Parameter(Mandatory)][int]$Port,
	[Parameter(Mandatory)][string]$User,
	[Parameter(Mandatory)][string]$Key,
	[Parameter(Mandatory)][string]$KnownHosts,
	[int]$N = 200,
	[int]$Warmup = 5,
	[int]$BigRuns = 3
)
$ErrorActionPreference = 'Stop'

$self = [System.Diagnostics.Process]::GetCurrentProcess()
function SelfCpu { $self.Refresh(); $self.TotalProcessorTime.TotalMilliseconds }
# The kernel's part (system time) of the same.
function SelfSys { $self.Refresh(); $self.PrivilegedProcessorTime.TotalMilliseconds }

# The ssh process New-PSSession started: a child of this process. Read from
# /proc (utime + stime in clock ticks, 100 per second on Linux) so that
# reading it costs this process as little as possible.
function FindSsh([int]$not = 0) {
	foreach ($d in [System.IO.Directory]::GetDirectories('/proc')) {
		$name = [System.IO.Path]::GetFileName($d)
		if ($name -notmatch '^\d+$' -or [int]$name -eq $not) { continue }
		try { $stat = [System.IO.File]::ReadAllText("$d/stat") } catch { continue }
		$rest = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
		if ($rest[0] -ne 'Z' -and [int]$rest[1] -eq $PID -and $stat -match '\(ssh\)') {
			return [int]$name
		}
	}
	return 0
}
function SshCpu([int]$sshPid = $script:sshPid) {
	if ($sshPid -eq 0) { return 0.0 }
	$stat = [System.IO.File]::ReadAllText("/proc/$sshPid/stat")
	$rest = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
	# Fields 14 and 15 (utime, stime) are the 12th and 13th after the ')'.
	return ([double]$rest[11] + [double]$rest[12]) * 10.0
}

$opt = @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = $KnownHosts }
$r = [ordered]@{ n = $N; warmup = $Warmup; pwsh = $PSVersionTable.PSVersion.ToString() }

$c0 = SelfCpu
$sw = [System.Diagnostics.Stopwatch]::StartNew()
$s = New-PSSession -HostName 127.0.0.1 -Port $Port -UserName $User -KeyFilePath $Key -Options $opt
$sw.Stop()
$r.open_wall_ms = $sw.Elapsed.TotalMilliseconds
$r.open_cpu_ms = (SelfCpu) - $c0
$script:sshPid = FindSsh
$r.ssh_pid = $script:sshPid
$r.open_ssh_cpu_ms = SshCpu # ssh was born during the open: all of it so far

# Warm-up, not timed: the first calls JIT-compile the remoting paths.
for ($i = 0; $i -lt $Warmup; $i++) { $null = Invoke-Command -Session $s { 1 } }

$c0 = SelfCpu; $y0 = SelfSys; $h0 = SshCpu
$sw = [System.Diagnostics.Stopwatch]::StartNew()
for ($i = 0; $i -lt $N; $i++) {
	$x = Invoke-Command -Session $s { 1 }
	if ($x -ne 1) { throw "Invoke-Command { 1 } gave '$x'" }
}
$sw.Stop()
$r.cmd_wall_ms = $sw.Elapsed.TotalMilliseconds
$r.cmd_cpu_ms = (SelfCpu) - $c0
$r.cmd_sys_ms = (SelfSys) - $y0
$r.cmd_ssh_cpu_ms = (SshCpu) - $h0

Invoke-Command -Session $s { 1..10000 } | Out-Null # warm-up
$r.big_objects = 10000
$r.big_wall_ms = @(); $r.big_cpu_ms = @(); $r.big_sys_ms = @(); $r.big_ssh_cpu_ms = @()
for ($k = 0; $k -lt $BigRuns; $k++) {
	$c0 = SelfCpu; $y0 = SelfSys; $h0 = SshCpu
	$sw = [System.Diagnostics.Stopwatch]::StartNew()
	Invoke-Command -Session $s { 1..10000 } | Out-Null
	$sw.Stop()
	$r.big_wall_ms += $sw.Elapsed.TotalMilliseconds
	$r.big_cpu_ms += (SelfCpu) - $c0
	$r.big_sys_ms += (SelfSys) - $y0
	$r.big_ssh_cpu_ms += (SshCpu) - $h0
}

$r.ssh_total_cpu_ms = SshCpu
Remove-PSSession $s

# A second session from the same, now warm, process: the first open above
# also paid for loading and JIT-compiling the remoting code.
$c0 = SelfCpu
$sw = [System.Diagnostics.Stopwatch]::StartNew()
$s2 = New-PSSession -HostName 127.0.0.1 -Port $Port -UserName $User -KeyFilePath $Key -Options $opt
$sw.Stop()
$r.open2_wall_ms = $sw.Elapsed.TotalMilliseconds
$r.open2_cpu_ms = (SelfCpu) - $c0
$r.open2_ssh_cpu_ms = SshCpu (FindSsh $script:sshPid)
Remove-PSSession $s2

$r.self_total_cpu_ms = SelfCpu
$r | ConvertTo-Json -Compress
