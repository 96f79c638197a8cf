/*
 * Real PowerShell for the tests: where pwsh 7.6 is (installed by .ci/run as
 * the .NET global tool: dotnet tool install --global PowerShell --version
 * 7.6.10), the sshd_config line that serves it as the `powershell` SSH
 * subsystem, and running a script in a local pwsh to compare answers.
 */
#ifndef RMS_TEST_PWSH_H
#define RMS_TEST_PWSH_H

#include <stddef.h>

/* $RMS_PWSH, else ~/.dotnet/tools/pwsh, else pwsh on PATH; NULL when none
 * is executable. The string is static. */
const char *rms_test_pwsh(void);

/* "Subsystem powershell PATH -sshs -NoLogo -NoProfile" for sshd_config
 * (static), or NULL without pwsh. name: the subsystem's name. */
const char *rms_test_pwsh_subsystem(const char *name);

/* Run script in a local pwsh (-NoLogo -NoProfile -NonInteractive
 * -Command -) and return its stdout (caller frees), NULL on failure (the
 * reason on stderr). */
char *rms_test_pwsh_run(const char *script);

#endif
