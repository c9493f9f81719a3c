package platforms

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// moduleRoot is two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// runAll builds the packages for goos/goarch, runs each test binary in
// its package directory (testdata) with runner in front, and fails t for
// every failing test that tolerate does not excuse.
func runAll(t *testing.T, goos, goarch string, runner []string, env []string, pkgs []Package, tolerate *regexp.Regexp) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root := moduleRoot(t)
	bins, err := Build(ctx, goBinary(), root, t.TempDir(), goos, goarch, pkgs)
	require.NoError(t, err)
	for _, p := range pkgs {
		t.Run(strings.ReplaceAll(p.Path, "/", "_"), func(t *testing.T) {
			// Run in the package directory: tests read their testdata.
			bin := filepath.Join(root, p.Path, filepath.Base(bins[p.Path]))
			require.NoError(t, os.Rename(bins[p.Path], bin))
			t.Cleanup(func() { os.Remove(bin) })
			start := time.Now()
			r, err := Run(ctx, goBinary(), runner, bin, env, p, tolerate)
			require.NoError(t, err)
			if !r.Finished {
				t.Fatalf("the test binary did not finish:\n%s", r.Output)
			}
			failed := make([]string, 0, len(r.Failed))
			for name := range r.Failed {
				failed = append(failed, name)
			}
			sort.Strings(failed)
			for _, name := range failed {
				t.Errorf("%s failed on %s/%s:\n%s", name, goos, goarch, r.Failed[name])
			}
			t.Logf("%s/%s: %d passed, %d failed, %d skipped by the tests, %d excused (%s) in %s; not run here: %s",
				goos, goarch, len(r.Passed), len(r.Failed), len(r.Skipped), len(r.Tolerated), tolerate, time.Since(start).Round(time.Millisecond), orNone(p.Why))
			require.NotZero(t, len(r.Passed)+len(r.Tolerated), "no test passed: the binary ran nothing")
		})
	}
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// Wine ---------------------------------------------------------------

// wineCleanupDefect is the one failure Wine 8 adds to tests that pass:
// os.RemoveAll of Go 1.25 and later deletes through
// NtSetInformationFile(FileDispositionInformationEx), which Wine 8 answers
// with STATUS_INVALID_DEVICE_REQUEST ("Invalid function") instead of
// STATUS_INVALID_INFO_CLASS, so Go does not fall back to the old way, and
// t.TempDir's clean-up fails after the test has passed. Real Windows
// (10 1607 and later) supports the call.
var wineCleanupDefect = regexp.MustCompile(`TempDir RemoveAll cleanup: unlinkat .*: Invalid function\.$`)

// windowsPackages are the packages whose tests run as Windows binaries:
// those with Windows code (locks, the store and its paths, addresses,
// ssh client selection, shell detection, the qemu driver's command line,
// accelerator choice and processes) and their platform-independent
// tests. Packages without Windows code run only natively: each binary
// costs seconds under Wine (libmachine/cert, whose tests check file modes
// Windows does not have, took 40 s).
var windowsPackages = []Package{
	{Path: "libmachine/fsutil"},
	{Path: "libmachine/persist",
		Skip: `^(TestRemove$|TestStagedCreate|TestLoadOfACreate|TestRemoveDiscards|TestSweep|TestMissingConfigOfAMachineAnotherProcessHolds|TestLongNamesCanBeRemoved|TestLoadUnknownDriver|TestMigratedSave|TestSaveKeepsOriginalV3Bytes|TestSaveIsAtomicAndPrivate|TestStorePaths|TestLockRefusesSymlink|FuzzStore)`,
		Why:  "creates (their junctions: Wine has none), removals (Wine's RemoveAll), file modes, fixtures and expectations with Unix paths, and a symbolic link planted as a lock file (opened as itself on Windows, refused on Unix)"},
	{Path: "libmachine/hostaddr", Skip: `^(TestAllocateRealSockets|TestAllocateSSHPortFallback)$`, Why: "127.0.0.N aliases (Linux only) and a machine removed with RemoveAll"},
	{Path: "libmachine/host", Skip: `^(TestDecodeEveryVersion|TestDecodeInjectsStorePathOverStaleValue|TestDecodeV1WithoutStorePath)$`, Why: "expectations with Unix paths"},
	{Path: "libmachine/procutil"},
	{Path: "libmachine/ssh", Skip: `^(TestCheckKeyFile|TestChooseClientType|TestExternalArgs|TestGenerateKeyPair|TestTraceTransportError|TestWaitForSSHContextCancel|TestWaitForSSHTimeoutReportsLastError)$`, Why: "key file modes (not checked on Windows, as the original), the Unix ssh client's arguments, Linux's error texts"},
	{Path: "commands", Skip: `^TestSCPArgsPorts$`, Why: "a local scp binary"},
	{Path: "drivers/qemu", Skip: `^(TestArgsMachineOSUnderTCG|TestConformance|TestConformanceAsPlugin|TestGetStateFromPIDAndQMP|TestGetStateQMPUnresponsive|TestKillAndRemove|TestPreCreateCheck|TestQMPClient|TestSetConfigFromFlags|TestStop.*|TestWaitForSSHHonoursContext|TestCLI.*|TestVM.*|TestEngineSeedFiles|TestFindOVMFFromDescriptors|TestFirmwareSetupAndMissingOVMF|TestForwardsOfStoppedMachine)$`, Why: "the fake qemu (sh scripts, symbolic links, -daemonize), QMP over AF_UNIX (Wine has none), the go toolchain, real qemu, Unix paths in expected command lines, Linux firmware paths, and 127.0.0.N addresses"},
}

// wine returns the wine loader of Debian's wine64 package (or a wine64
// or wine in PATH), or why there is none.
func wine() (string, error) {
	for _, p := range []string{"/usr/lib/wine/wine64", "wine64", "wine"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", errors.New("Wine is not installed (apt-get install wine64; .ci/run installs it)")
}

// newWinePrefix makes a Wine prefix in dir that runs Go 1.22+ binaries:
// it adds the bcryptprimitives.dll Wine 8 lacks (ForwarderDLL). The
// returned environment selects the prefix; stop ends its wineserver.
func newWinePrefix(t *testing.T, loader, dir string) (env []string, stop func()) {
	t.Helper()
	prefix := filepath.Join(dir, "prefix")
	env = []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml="}
	server := filepath.Join(filepath.Dir(loader), "wineserver")
	if _, err := os.Stat(server); err != nil {
		server = "wineserver"
	}
	stop = func() {
		c := exec.Command(server, "-k")
		c.Env = append(os.Environ(), env...)
		_ = c.Run()
	}
	// The first command creates the prefix (wineboot).
	c := exec.Command(loader, "cmd", "/c", "exit")
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if err != nil {
		stop()
		t.Fatalf("creating the Wine prefix: %v\n%s", err, out)
	}
	sys32 := filepath.Join(prefix, "drive_c", "windows", "system32")
	dll := ForwarderDLL("bcryptprimitives.dll", map[string]string{"ProcessPrng": "advapi32.SystemFunction036"})
	if err := os.WriteFile(filepath.Join(sys32, "bcryptprimitives.dll"), dll, 0o644); err != nil {
		stop()
		t.Fatal(err)
	}
	return env, stop
}

func TestWindowsUnitTestsUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and runs the Windows tests of many packages")
	}
	loader, err := wine()
	if err != nil {
		t.Skip(err.Error())
	}
	env, stop := newWinePrefix(t, loader, t.TempDir())
	t.Cleanup(stop)
	runAll(t, "windows", "amd64", []string{loader}, env, windowsPackages, wineCleanupDefect)
}

// qemu-user ----------------------------------------------------------

// arm64Packages are the platform-independent unit tests run as
// linux/arm64 binaries.
var arm64Packages = []Package{
	{Path: "libmachine/fsutil", Skip: reexec, Why: reexecWhy},
	{Path: "libmachine/persist", Skip: reexec, Why: reexecWhy},
	{Path: "libmachine/hostaddr", Skip: reexec, Why: reexecWhy},
	{Path: "libmachine/host"},
	{Path: "libmachine/redact"},
	{Path: "libmachine/procutil", Skip: reexec, Why: reexecWhy},
	{Path: "commands", Skip: `^TestShellEval`, Why: "real shells evaluating env output (they are amd64 binaries)"},
	{Path: "drivers/qemu", Skip: `^(TestVM|TestHostAccel|TestConformance|TestCLI|TestFakeQemu|TestFirmwareSetupAndMissingOVMF)`, Why: "VMs, and the CLI and the fake qemu as child processes (amd64 qemu and ssh; the arm64 test binary cannot start itself); x86 OVMF expectations"},
}

// reexec are the tests that start their own test binary again as a
// helper process: without binfmt_misc (not registered in a container)
// an arm64 binary cannot exec another one, and qemu-user 7.2 cannot
// follow the exec itself. cert is left out: its RSA key generation takes
// minutes under emulation.
const (
	reexec    = `^(TestHeldAndWaitAcrossProcesses|TestLockSerializesProcesses|TestLoadOfACreateAnotherProcessHolds|TestLockAcrossProcesses|TestLockContextIsInterruptibleAndSaysWhomItWaitsFor|TestMissingConfigOfAMachineAnotherProcessHolds|TestSweepRemovesLeftovers|TestSweepRemovesSessionCachesOfRemovedMachines|TestAllocateConcurrentProcesses|TestFirstSignalCancelsSecondExits)$`
	reexecWhy = "tests that start their own binary again as a helper process"
)

func TestLinuxArm64UnitTestsUnderQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and runs the arm64 tests of several packages")
	}
	if runtime.GOARCH == "arm64" {
		t.Skip("this host is arm64: the whole suite runs natively")
	}
	emu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Skip("qemu-user-static is not installed (apt-get install qemu-user-static; .ci/run installs it)")
	}
	runAll(t, "linux", "arm64", []string{emu}, nil, arm64Packages, nil)
}

// The helpers above judge foreign test runs; they are checked on their
// own here against recorded test2json output.
func TestParseTolerance(t *testing.T) {
	lines := []string{
		`{"Action":"run","Test":"TestA"}`,
		`{"Action":"output","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Test":"TestA","Output":"--- FAIL: TestA (0.01s)\n"}`,
		`{"Action":"output","Test":"TestA","Output":"    testing.go:1464: TempDir RemoveAll cleanup: unlinkat C:\\Temp\\x: Invalid function.\n"}`,
		`{"Action":"fail","Test":"TestA"}`,
		`{"Action":"output","Test":"TestB","Output":"    x_test.go:9: wrong answer\n"}`,
		`{"Action":"output","Test":"TestB","Output":"    testing.go:1464: TempDir RemoveAll cleanup: unlinkat C:\\Temp\\y: Invalid function.\n"}`,
		`{"Action":"fail","Test":"TestB"}`,
		`{"Action":"output","Test":"TestC/sub","Output":"    testing.go:1464: TempDir RemoveAll cleanup: unlinkat C:\\Temp\\z: Invalid function.\n"}`,
		`{"Action":"fail","Test":"TestC/sub"}`,
		`{"Action":"output","Test":"TestC","Output":"--- FAIL: TestC (0.00s)\n"}`,
		`{"Action":"fail","Test":"TestC"}`,
		`{"Action":"pass","Test":"TestD"}`,
		`{"Action":"skip","Test":"TestE"}`,
		`{"Action":"fail"}`,
	}
	r := parse(strings.NewReader(strings.Join(lines, "\n")+"\n"), wineCleanupDefect)
	require.True(t, r.Finished)
	require.Equal(t, []string{"TestD"}, r.Passed)
	require.Equal(t, []string{"TestE"}, r.Skipped)
	require.Contains(t, r.Failed, "TestB", "a real failure is not excused by the clean-up defect beside it")
	require.Len(t, r.Failed, 1)
	require.Contains(t, r.Tolerated, "TestA")
	require.Contains(t, r.Tolerated, "TestC/sub")
	require.Contains(t, r.Tolerated, "TestC", "a parent failing only through excused subtests")

	crashed := parse(strings.NewReader(`{"Action":"output","Output":"panic: boom\n"}`+"\n"), nil)
	require.False(t, crashed.Finished)
	require.Contains(t, crashed.Output, "panic: boom")
	require.False(t, tolerated("", wineCleanupDefect), "no output is no excuse")
	require.False(t, tolerated("--- FAIL: TestX\n", wineCleanupDefect), "framing alone is no excuse")
}
