package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-machine-ng/machine/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// TestRestartGenericReboots: restart of a generic machine reboots the
// host over SSH (spec 3.12). An nspawn host cannot do this (systemd-nspawn
// exits when its container reboots, and the kit does not start it
// again), so the host is a qemu VM of the kit, which reboots in place.
// When restart returns the host has a new boot id, and Docker answers
// over TLS with the certificates it had.
func TestRestartGenericReboots(t *testing.T) {
	requireE2E(t)
	if err := testhost.AvailableQEMU(); err != nil {
		t.Skip(err)
	}
	vm := testhost.StartQEMU(t, testhost.Options{Flavour: testhost.Docker})
	s := newStore(t)
	s.createGeneric("rb", vm, "--engine-install-method", "none")
	certs := snapshot(t, filepath.Join(s.path, "machines", "rb"), machineCerts...)
	bootBefore := mustRun(t, vm, "cat /proc/sys/kernel/random/boot_id")

	r := s.dm("restart", "rb")
	require.Equal(t, 0, r.Code, r.String())
	assert.True(t, strings.HasPrefix(r.Stdout, "Restarting \"rb\"...\n"), r.Stdout)
	assert.True(t, strings.HasSuffix(r.Stdout, "Restarted machines may have new IP addresses. You may need to re-run the `docker-machine env` command.\n"), r.Stdout)

	bootAfter, err := vm.Run("cat /proc/sys/kernel/random/boot_id")
	require.NoError(t, err, "the host is not up when restart returned")
	assert.NotEqual(t, bootBefore, bootAfter, "restart returned, but the host did not reboot (yet)")
	assert.Equal(t, certs, snapshot(t, filepath.Join(s.path, "machines", "rb"), machineCerts...), "the same address keeps the certificates")
	v := dockerVersion(t, s, "rb")
	require.Equal(t, 0, v.Code, v.String())
	assert.NotEmpty(t, strings.TrimSpace(v.Stdout))
	assert.Equal(t, "Running\n", s.mustDM("status", "rb"))
}

// machineOSImage is the machine-os image the qemu driver boots, built
// by machine-os/build.sh (`make image`); the test skips when it is not
// built.
func machineOSImage(t *testing.T) string { return testutil.MachineOSImage(t) }

// TestUpgradeStoppedQEMUMachine: upgrade of a stopped machine starts it
// first (spec 3.19). Of the drivers here only qemu can stop and start a
// machine (generic cannot, as in the original; test/cli covers that
// refusal), so this is a qemu machine booting machine-os, whose dockerd
// is Debian's docker.io: upgrade goes through apt.
func TestUpgradeStoppedQEMUMachine(t *testing.T) {
	requireE2E(t)
	if err := testhost.AvailableQEMU(); err != nil {
		t.Skip(err)
	}
	image := machineOSImage(t)
	s := newStore(t)
	t.Cleanup(func() { s.dm("rm", "-f", "-y", "up") })
	s.mustDM("create", "-d", "qemu", "--qemu-image", image, "--qemu-memory", "1024", "up")
	certs := snapshot(t, filepath.Join(s.path, "machines", "up"), machineCerts...)
	s.mustDM("stop", "up")
	require.Equal(t, "Stopped\n", s.mustDM("status", "up"))

	r := s.dm("upgrade", "up")
	t.Logf("upgrade:\n%s", r)
	require.Equal(t, 0, r.Code, r.String())
	out := r.Stdout
	order := []string{"Starting machine so machine can be upgraded...", `Starting "up"...`, `Machine "up" was started.`, "Upgrading docker...", "Restarting docker..."}
	last := -1
	for _, line := range order {
		i := strings.Index(out, line)
		if assert.GreaterOrEqual(t, i, 0, "missing %q", line) {
			assert.Greater(t, i, last, "%q out of order", line)
			last = i
		}
	}
	assert.Equal(t, "Running\n", s.mustDM("status", "up"))
	assert.Equal(t, certs, snapshot(t, filepath.Join(s.path, "machines", "up"), machineCerts...))
	v := dockerVersion(t, s, "up")
	require.Equal(t, 0, v.Code, v.String())
	owner := s.mustDM("ssh", "up", "--", "dpkg-query -S /usr/sbin/dockerd")
	assert.Equal(t, "docker.io: /usr/sbin/dockerd\n", owner, "still Debian's Docker")

	// Running now: upgrade does not start it again.
	r = s.dm("upgrade", "up")
	require.Equal(t, 0, r.Code, r.String())
	assert.NotContains(t, r.Stdout, "Starting machine so machine can be upgraded...")
	assert.Contains(t, r.Stdout, "Upgrading docker...")
}
