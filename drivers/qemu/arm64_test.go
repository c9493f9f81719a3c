package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
)

// arm64MachineOSImage is the arm64 machine-os qcow2 of the current
// recipe (MACHINE_OS_ARCH=arm64 machine-os/build.sh), or
// MACHINE_OS_ARM64_IMAGE; the test is skipped when it is not built
// (building it takes long under emulation: CI provisions it).
func arm64MachineOSImage(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MACHINE_OS_ARM64_IMAGE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("MACHINE_OS_ARM64_IMAGE=%s: %v", p, err)
		}
		return p
	}
	cmd := exec.Command("bash", filepath.Join(testutil.RepoRoot(t), "machine-os", "build.sh"), "--print-path")
	cmd.Env = append(os.Environ(), "MACHINE_OS_ARCH=arm64")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("the arm64 machine-os: MACHINE_OS_ARCH=arm64 machine-os/build.sh --print-path: %v", err)
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("the arm64 machine-os is not built (%s missing): run MACHINE_OS_ARCH=arm64 machine-os/build.sh", p)
	}
	return p
}

// TestCLICreateMachineOSArm64 runs the built docker-machine on an arm64
// machine-os guest, whatever the host (on amd64 under TCG): create
// without --qemu-arch (the image's manifest says arm64), SSH and Docker
// over TLS report the guest's architecture, stop powers it down over
// ACPI (no kill), rm leaves nothing.
func TestCLICreateMachineOSArm64(t *testing.T) {
	requireVMHostFor(t, ArchARM64)
	docker := dockerCLI(t)
	image := arm64MachineOSImage(t)
	s := newCLIStore(t, "dmarm", "")
	t.Cleanup(func() { s.dm("rm", "-f", "-y", "arm") })
	mdir := filepath.Join(s.path, "machines", "arm")

	// Under TCG on a loaded 2-core host an emulated arm64 boot takes
	// minutes: create gets a generous bound of its own.
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	out, err := s.dmContext(ctx, "--debug", "create", "-d", "qemu", "--qemu-image", image, "arm")
	t.Logf("create took %s:\n%s", time.Since(t0).Round(time.Millisecond), filterLines(out, "qemu: qemu-system"))
	require.NoError(t, err)
	if runtime.GOARCH != "arm64" {
		assert.Contains(t, out, "No hardware acceleration (an arm64 guest on an "+hostArch+" host): using TCG")
	}
	assert.Contains(t, out, "Docker is up and running!")

	out, err = s.dm("inspect", "-f", "{{.Driver.Arch}} {{.Driver.BootMode}} {{.Driver.Binary}}", "arm")
	require.NoError(t, err, out)
	assert.Equal(t, "arm64 kernel "+DefaultBinary(ArchARM64), out, "the architecture recorded is the manifest's")
	qemuLog, err := os.ReadFile(filepath.Join(mdir, LogFile))
	require.NoError(t, err)
	argv, _, _ := strings.Cut(string(qemuLog), "\n")
	assert.Contains(t, argv, "-machine virt ")
	assert.NotContains(t, argv, "-bios", "a kernel boot of -machine virt needs no firmware")

	out, err = s.dm("ssh", "arm", "uname", "-m")
	require.NoError(t, err, out)
	assert.Equal(t, "aarch64", out)

	ver, err := s.dockerOn(t, docker, "arm")("version", "--format", "{{.Server.Arch}} {{.Server.Version}}")
	require.NoError(t, err, ver)
	srvArch, srvVersion, _ := strings.Cut(ver, " ")
	assert.Equal(t, "arm64", srvArch, "the engine's architecture over TLS")
	t.Logf("engine %s on %s over TLS", srvVersion, srvArch)

	// stop ends by the ACPI power-down: the guest's kernel powered off
	// (its last console line), no SIGTERM after a failed power-down, no
	// kill after the timeout.
	pid := vmPID(t, mdir)
	require.NotZero(t, pid)
	t0 = time.Now()
	out, err = s.dm("--debug", "stop", "arm")
	t.Logf("stop took %s", time.Since(t0).Round(time.Millisecond))
	require.NoError(t, err, out)
	assert.NotContains(t, out, "did not power off", "stop fell back to killing qemu")
	assert.NotContains(t, out, "power-down over QMP failed")
	console, err := os.ReadFile(filepath.Join(mdir, ConsoleFile))
	require.NoError(t, err)
	assert.Contains(t, string(console), "reboot: Power down", "the guest powered itself off")
	assert.False(t, processAlive(pid, ""), "qemu exited")
	out, err = s.dm("status", "arm")
	require.NoError(t, err, out)
	assert.Equal(t, "Stopped", out)

	out, err = s.dm("rm", "-y", "arm")
	require.NoError(t, err, out)
	assert.NoDirExists(t, mdir)
	if out, err := exec.Command("pgrep", "-f", mdir).Output(); err == nil {
		t.Errorf("qemu left running: %s", out)
	}
}
