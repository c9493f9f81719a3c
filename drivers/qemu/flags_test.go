package qemu

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/registry"
)

// optsFor is the flags' defaults, overridden by set.
func optsFor(d *Driver, set map[string]any) drivers.Options {
	o := drivers.Options{}
	for _, f := range d.GetCreateFlags() {
		o[f.String()] = f.Default()
	}
	for k, v := range set {
		o[k] = v
	}
	return o
}

func TestFlagsAndEnvironment(t *testing.T) {
	d := New("m", "/store")
	got := map[string]string{}
	for _, f := range d.GetCreateFlags() {
		got[f.String()] = f.EnvName()
		assert.NotEmpty(t, f.HelpText(), f.String())
	}
	assert.Equal(t, map[string]string{
		"qemu-image":          "QEMU_IMAGE",
		"qemu-image-checksum": "QEMU_IMAGE_CHECKSUM",
		"qemu-cpu-count":      "QEMU_CPU_COUNT",
		"qemu-memory":         "QEMU_MEMORY",
		"qemu-disk-size":      "QEMU_DISK_SIZE",
		"qemu-firmware":       "QEMU_FIRMWARE",
		"qemu-accel":          "QEMU_ACCEL",
		"qemu-arch":           "QEMU_ARCH",
		"qemu-binary":         "QEMU_BINARY",
		"qemu-ssh-user":       "QEMU_SSH_USER",
		"qemu-share-folder":   "QEMU_SHARE_FOLDER",
	}, got)
	defaults := map[string]any{}
	for _, f := range d.GetCreateFlags() {
		defaults[f.String()] = f.Default()
	}
	assert.Equal(t, "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2", DefaultImageURL("amd64"))
	assert.Equal(t, DefaultImageURL(runtime.GOARCH), defaults["qemu-image"])
	assert.Equal(t, hostBinary(), defaults["qemu-binary"])
	assert.Equal(t, "", defaults["qemu-arch"], "inferred (arch_test.go)")
	assert.Equal(t, 2, defaults["qemu-cpu-count"])
	assert.Equal(t, 1024, defaults["qemu-memory"])
	assert.Equal(t, 20000, defaults["qemu-disk-size"])
	assert.Equal(t, "auto", defaults["qemu-accel"])
	assert.Equal(t, "docker", defaults["qemu-ssh-user"])
	_, isInt := d.GetCreateFlags()[2].(mcnflag.IntFlag)
	assert.True(t, isInt)
}

func TestSetConfigFromFlags(t *testing.T) {
	share := t.TempDir()
	d := New("m", "/store")
	sum := strings.Repeat("ab", 32)
	require.NoError(t, d.SetConfigFromFlags(optsFor(d, map[string]any{
		"qemu-image":          "/images/machine-os.qcow2",
		"qemu-image-checksum": "sha256:" + strings.ToUpper(sum),
		"qemu-cpu-count":      4,
		"qemu-memory":         2048,
		"qemu-accel":          "tcg",
		"qemu-ssh-user":       "root",
		"qemu-share-folder":   share + ":/mnt/share",
	})))
	assert.Equal(t, sum, d.ImageChecksum)
	assert.Equal(t, 4, d.CPUCount)
	assert.Equal(t, 2048, d.Memory)
	assert.Equal(t, AccelTCG, d.Accel)
	assert.Equal(t, "root", d.GetSSHUsername())
	host, guest, err := d.share()
	require.NoError(t, err)
	assert.Equal(t, share, host)
	assert.Equal(t, "/mnt/share", guest)

	for name, set := range map[string]map[string]any{
		"bad accel":     {"qemu-accel": "xen"},
		"no cpus":       {"qemu-cpu-count": 0},
		"tiny memory":   {"qemu-memory": 64},
		"tiny disk":     {"qemu-disk-size": 100},
		"bad checksum":  {"qemu-image-checksum": "md5:1234"},
		"relative path": {"qemu-share-folder": "/tmp:relative"},
	} {
		d := New("m", "/store")
		assert.Error(t, d.SetConfigFromFlags(optsFor(d, set)), name)
	}
}

func TestDriverJSONRoundTrip(t *testing.T) {
	store := t.TempDir()
	d := New("m", store)
	d.IPAddress, d.SSHPort, d.EnginePort = "127.0.0.5", 22, 2376
	d.Image, d.BaseImage, d.BootMode, d.AccelUsed = "x.qcow2", "/abs/x.qcow2", BootKernel, AccelTCG
	data, err := json.Marshal(d)
	require.NoError(t, err)
	// BaseDriver's fields come first, as in the original's config.json.
	assert.True(t, strings.HasPrefix(string(data), `{"IPAddress":"127.0.0.5","MachineName":"m","SSHUser":"docker","SSHPort":22,`), string(data))
	loaded, err := registry.Load(Name, "m", store, data)
	require.NoError(t, err)
	ld := loaded.(*Driver)
	assert.Equal(t, d.IPAddress, ld.IPAddress)
	assert.Equal(t, BootKernel, ld.BootMode)
	assert.Equal(t, d.VMConfig().Args(), ld.VMConfig().Args(), "start uses the same command line")
}

func TestPreCreateCheck(t *testing.T) {
	store := t.TempDir()
	d := New("m", store)
	d.Binary = "/nonexistent/qemu-system-x86_64"
	assert.ErrorContains(t, d.PreCreateCheck(context.Background()), "not found")

	d = New("m", store)
	if err := d.PreCreateCheck(context.Background()); err != nil && strings.Contains(err.Error(), "not found") {
		t.Skip("qemu not installed")
	}
	d.Image = filepath.Join(store, "missing.qcow2")
	assert.Error(t, d.PreCreateCheck(context.Background()))

	img := filepath.Join(store, "img.qcow2")
	require.NoError(t, os.WriteFile(img, nil, 0o600))
	d.Image = img
	assert.NoError(t, d.PreCreateCheck(context.Background()))

	long := New(strings.Repeat("n", 100), store)
	long.Image = img
	assert.ErrorContains(t, long.PreCreateCheck(context.Background()), "too long")

	d.ShareFolder = filepath.Join(store, "nope")
	assert.ErrorContains(t, d.PreCreateCheck(context.Background()), "not a directory")
}
