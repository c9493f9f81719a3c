package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProbes is a host where every probe is scripted and counted.
type fakeProbes struct {
	goos     string
	kvmErr   error
	pvm      bool
	hvf      bool
	whpx     bool
	bootErr  error
	key      string
	bootRuns int
	cancel   context.CancelFunc
}

func (f *fakeProbes) probes() AccelProbes {
	return AccelProbes{
		GOOS:      f.goos,
		KVMDevice: func() error { return f.kvmErr },
		PVM:       func() bool { return f.pvm },
		HVF:       func() bool { return f.hvf },
		WHPX:      func() bool { return f.whpx },
		BootProbe: func(ctx context.Context) error {
			f.bootRuns++
			if f.cancel != nil {
				f.cancel() // the caller gives up while the probe runs
				return ctx.Err()
			}
			return f.bootErr
		},
		CacheKey: func() string { return f.key },
	}
}

func TestDetectAccelAuto(t *testing.T) {
	for _, tc := range []struct {
		name       string
		host       fakeProbes
		want       string
		reason     string
		wantProbes int
	}{
		{"linux without /dev/kvm", fakeProbes{goos: "linux", kvmErr: errors.New("/dev/kvm does not exist")}, AccelTCG, "/dev/kvm does not exist", 0},
		{"linux with PVM", fakeProbes{goos: "linux", pvm: true}, AccelTCG, "PVM", 0},
		{"linux where KVM boots", fakeProbes{goos: "linux", key: "k"}, AccelKVM, "", 1},
		{"linux where KVM hangs", fakeProbes{goos: "linux", key: "k", bootErr: errors.New("no kernel output within 10s")}, AccelTCG, "no kernel output", 1},
		{"linux without a probe kernel", fakeProbes{goos: "linux", key: "k", bootErr: errNoProbeKernel}, AccelKVM, "", 1},
		{"macOS with HVF", fakeProbes{goos: "darwin", hvf: true}, AccelHVF, "", 0},
		{"macOS without HVF", fakeProbes{goos: "darwin"}, AccelTCG, "Hypervisor.framework", 0},
		{"Windows with WHPX", fakeProbes{goos: "windows", whpx: true}, AccelWHPX, "", 0},
		{"Windows without WHPX", fakeProbes{goos: "windows"}, AccelTCG, "Windows Hypervisor Platform", 0},
		{"other OS", fakeProbes{goos: "freebsd"}, AccelTCG, "freebsd", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host
			got, err := DetectAccel(context.Background(), AccelAuto, h.probes(), "")
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.Accel)
			if tc.reason == "" {
				assert.Empty(t, got.Reason)
			} else {
				assert.Contains(t, got.Reason, tc.reason)
			}
			assert.Equal(t, tc.wantProbes, h.bootRuns)
		})
	}
}

func TestDetectAccelExplicit(t *testing.T) {
	linux := &fakeProbes{goos: "linux", pvm: true}
	got, err := DetectAccel(context.Background(), AccelTCG, linux.probes(), "")
	require.NoError(t, err)
	assert.Equal(t, AccelTCG, got.Accel)

	// An explicit kvm is honoured even on PVM (the user asked for it)...
	got, err = DetectAccel(context.Background(), AccelKVM, linux.probes(), "")
	require.NoError(t, err)
	assert.Equal(t, AccelKVM, got.Accel)
	assert.Zero(t, linux.bootRuns)

	// ...but not without /dev/kvm.
	noKVM := &fakeProbes{goos: "linux", kvmErr: errors.New("/dev/kvm does not exist")}
	_, err = DetectAccel(context.Background(), AccelKVM, noKVM.probes(), "")
	assert.ErrorContains(t, err, "/dev/kvm")

	_, err = DetectAccel(context.Background(), AccelHVF, linux.probes(), "")
	assert.ErrorContains(t, err, "macOS")
	mac := &fakeProbes{goos: "darwin", hvf: true}
	got, err = DetectAccel(context.Background(), AccelHVF, mac.probes(), "")
	require.NoError(t, err)
	assert.Equal(t, AccelHVF, got.Accel)
	_, err = DetectAccel(context.Background(), AccelKVM, mac.probes(), "")
	assert.ErrorContains(t, err, "Linux")

	win := &fakeProbes{goos: "windows", whpx: true}
	got, err = DetectAccel(context.Background(), AccelWHPX, win.probes(), "")
	require.NoError(t, err)
	assert.Equal(t, AccelWHPX, got.Accel)
	_, err = DetectAccel(context.Background(), AccelWHPX, (&fakeProbes{goos: "windows"}).probes(), "")
	assert.ErrorContains(t, err, "Windows Hypervisor Platform")
	_, err = DetectAccel(context.Background(), AccelWHPX, mac.probes(), "")
	assert.ErrorContains(t, err, "Windows")
	_, err = DetectAccel(context.Background(), AccelHVF, win.probes(), "")
	assert.ErrorContains(t, err, "macOS")

	_, err = DetectAccel(context.Background(), "xen", linux.probes(), "")
	assert.ErrorContains(t, err, "not one of")
}

func TestDetectAccelCachesTheBootProbe(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache", "qemu-accel.json")
	h := &fakeProbes{goos: "linux", key: "kernel=6.1 kvm kvm_intel", bootErr: errors.New("KVM internal error")}
	got, err := DetectAccel(context.Background(), AccelAuto, h.probes(), cache)
	require.NoError(t, err)
	assert.Equal(t, AccelTCG, got.Accel)
	assert.False(t, got.Cached)
	assert.Equal(t, 1, h.bootRuns)
	assert.FileExists(t, cache)

	// The next create reuses the verdict without booting anything.
	got, err = DetectAccel(context.Background(), AccelAuto, h.probes(), cache)
	require.NoError(t, err)
	assert.Equal(t, AccelTCG, got.Accel)
	assert.True(t, got.Cached)
	assert.Contains(t, got.Reason, "KVM internal error")
	assert.Equal(t, 1, h.bootRuns)

	// A different host configuration (new kernel, new qemu) probes again.
	h.key, h.bootErr = "kernel=6.2 kvm kvm_intel", nil
	got, err = DetectAccel(context.Background(), AccelAuto, h.probes(), cache)
	require.NoError(t, err)
	assert.Equal(t, AccelKVM, got.Accel)
	assert.False(t, got.Cached)
	assert.Equal(t, 2, h.bootRuns)

	// The cheap checks still run every time: a PVM host never uses a
	// cached "kvm".
	h.pvm = true
	got, err = DetectAccel(context.Background(), AccelAuto, h.probes(), cache)
	require.NoError(t, err)
	assert.Equal(t, AccelTCG, got.Accel)

	// A corrupt cache file is ignored.
	h.pvm = false
	require.NoError(t, os.WriteFile(cache, []byte("{"), 0o600))
	got, err = DetectAccel(context.Background(), AccelAuto, h.probes(), cache)
	require.NoError(t, err)
	assert.Equal(t, AccelKVM, got.Accel)
	assert.Equal(t, 3, h.bootRuns)
}

func TestDetectAccelNoKernelIsNotCached(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "qemu-accel.json")
	h := &fakeProbes{goos: "linux", key: "k", bootErr: errNoProbeKernel}
	got, err := DetectAccel(context.Background(), AccelAuto, h.probes(), cache)
	require.NoError(t, err)
	assert.Equal(t, AccelKVM, got.Accel)
	assert.NoFileExists(t, cache)
}

func TestDetectAccelCancelledIsNotCached(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "qemu-accel.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &fakeProbes{goos: "linux", key: "k", cancel: cancel}
	_, err := DetectAccel(ctx, AccelAuto, h.probes(), cache)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, h.bootRuns)
	assert.NoFileExists(t, cache, "an interrupted probe is no verdict on KVM")
}

// TestHostAccelProbesHere checks the real probes on this machine when it
// is the PVM kind the driver must not use KVM on.
func TestHostAccelProbesHere(t *testing.T) {
	if _, err := os.Stat("/sys/module/kvm_pvm"); err != nil {
		t.Skip("not a PVM host")
	}
	got, err := DetectAccel(context.Background(), AccelAuto, HostAccelProbes("qemu-system-x86_64", ""), "")
	require.NoError(t, err)
	assert.Equal(t, AccelTCG, got.Accel)
}
