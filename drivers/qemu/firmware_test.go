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

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
)

func TestParseFirmware(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "OVMF.fd")
	require.NoError(t, os.WriteFile(file, []byte("fw"), 0o644))
	for _, tc := range []struct {
		arch, value, typ, file, err string
	}{
		{arch: "amd64", value: "", typ: FirmwareBIOS},
		{arch: "arm64", value: "", typ: FirmwareUEFI},
		{arch: "amd64", value: "bios", typ: FirmwareBIOS},
		{arch: "amd64", value: "uefi", typ: FirmwareUEFI},
		{arch: "arm64", value: "bios", err: "arm64 guests (-machine virt) boot UEFI only"},
		{arch: "amd64", value: file, typ: FirmwareFile, file: file},
		{arch: "amd64", value: "UEFI", err: `--qemu-firmware "UEFI" is not bios, uefi or an existing firmware file`},
		{arch: "amd64", value: dir, err: "not a regular file"},
	} {
		typ, f, err := parseFirmware(tc.arch, tc.value)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.value)
			continue
		}
		require.NoError(t, err, tc.value)
		assert.Equal(t, tc.typ, typ, tc.value)
		assert.Equal(t, tc.file, f, tc.value)
	}
}

// fakeEDK2 makes code and vars files and a descriptor dir listing them
// with the given features, plus a Secure Boot descriptor that sorts first.
func fakeEDK2(t *testing.T) (dir, code, vars string) {
	t.Helper()
	root := t.TempDir()
	code, vars = filepath.Join(root, "CODE_4M.fd"), filepath.Join(root, "VARS_4M.fd")
	sbCode := filepath.Join(root, "CODE_4M.secboot.fd")
	for _, f := range []string{code, vars, sbCode} {
		require.NoError(t, os.WriteFile(f, []byte("x"), 0o644))
	}
	dir = filepath.Join(root, "firmware")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	desc := func(code, features string) string {
		return `{"interface-types":["uefi"],"mapping":{"device":"flash","executable":{"filename":"` + code +
			`","format":"raw"},"nvram-template":{"filename":"` + vars + `","format":"raw"}},` +
			`"targets":[{"architecture":"x86_64","machines":["pc-q35-*"]}],"features":[` + features + `]}`
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "50-secure.json"), []byte(desc(sbCode, `"requires-smm","secure-boot"`)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "60-plain.json"), []byte(desc(code, `"acpi-s3"`)), 0o644))
	// A descriptor for another architecture, and junk, are skipped.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "10-arm.json"), []byte(strings.ReplaceAll(desc(code, ""), "x86_64", "aarch64")), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "20-junk.json"), []byte("{"), 0o644))
	return dir, code, vars
}

func TestFindOVMFFromDescriptors(t *testing.T) {
	dir, code, vars := fakeEDK2(t)
	fw, ok := findOVMF([]string{filepath.Join(t.TempDir(), "missing"), dir})
	require.True(t, ok)
	assert.Equal(t, firmwareImages{Code: code, Vars: vars}, fw, "the split-flash firmware without SMM or Secure Boot")

	// A user's descriptor of the same name hides the system's.
	user := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(user, "60-plain.json"), []byte(`{"interface-types":["bios"]}`), 0o644))
	saved := ovmfPairs
	ovmfPairs = nil
	t.Cleanup(func() { ovmfPairs = saved })
	_, ok = findOVMF([]string{user, dir})
	assert.False(t, ok)
}

func TestFindOVMFFallsBackToKnownPaths(t *testing.T) {
	root := t.TempDir()
	code, vars := filepath.Join(root, "OVMF_CODE.fd"), filepath.Join(root, "OVMF_VARS.fd")
	require.NoError(t, os.WriteFile(code, []byte("x"), 0o644))
	saved := ovmfPairs
	ovmfPairs = [][2]string{{code, vars}, {code, code}}
	t.Cleanup(func() { ovmfPairs = saved })
	fw, ok := findOVMF(nil)
	require.True(t, ok)
	assert.Equal(t, firmwareImages{Code: code, Vars: code}, fw, "a pair is used only when both files exist")
}

func TestVarsBeside(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", "edk2-x86_64-code.fd", "edk2-i386-vars.fd", "OVMF.fd"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	assert.Equal(t, filepath.Join(dir, "OVMF_VARS_4M.fd"), varsBeside(filepath.Join(dir, "OVMF_CODE_4M.fd")))
	assert.Equal(t, filepath.Join(dir, "edk2-i386-vars.fd"), varsBeside(filepath.Join(dir, "edk2-x86_64-code.fd")))
	assert.Equal(t, "", varsBeside(filepath.Join(dir, "OVMF.fd")), "a whole firmware image: -bios")
}

func TestArgsUEFIPflash(t *testing.T) {
	c := VMConfig{Name: "m", Arch: "amd64", Accel: AccelTCG, CPUs: 2, MemoryMB: 1024, Dir: "/s/m",
		Firmware: "/usr/share/OVMF/OVMF_CODE_4M.fd", FirmwareVars: "/s/m/" + VarsFile,
		Addr: hostaddr.Address{IP: "127.0.0.2", SSHPort: 22, EnginePort: 2376}}
	args := strings.Join(c.Args(), " ")
	assert.Contains(t, args, "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd -drive if=pflash,format=raw,unit=1,file=/s/m/efivars.fd")
	assert.NotContains(t, args, "-bios")
	assert.Contains(t, args, "virtio-blk-pci,drive=disk0,bootindex=0")

	c.FirmwareVars = ""
	args = strings.Join(c.Args(), " ")
	assert.Contains(t, args, "-bios /usr/share/OVMF/OVMF_CODE_4M.fd")
	assert.NotContains(t, args, "pflash")

	c.Firmware = ""
	args = strings.Join(c.Args(), " ")
	assert.NotContains(t, args, "pflash")
	assert.NotContains(t, args, "-bios", "SeaBIOS: qemu's own")
}

// The firmware is resolved and recorded, and the machine gets its own
// variable store; without OVMF a UEFI create fails before anything is
// made, naming the package.
func TestFirmwareSetupAndMissingOVMF(t *testing.T) {
	dir, code, vars := fakeEDK2(t)
	savedDirs, savedPairs := descriptorDirs, ovmfPairs
	t.Cleanup(func() { descriptorDirs, ovmfPairs = savedDirs, savedPairs })
	descriptorDirs = func(string) []string { return []string{dir} }
	ovmfPairs = nil

	store := t.TempDir()
	d := New("fw", store)
	require.NoError(t, d.SetConfigFromFlags(flagValues(d, map[string]any{"qemu-firmware": "uefi"})))
	assert.Equal(t, FirmwareUEFI, d.FirmwareType)
	require.NoError(t, d.checkFirmware())
	require.NoError(t, d.setupFirmware())
	assert.Equal(t, code, d.Firmware)
	assert.Equal(t, vars, d.FirmwareVars)
	require.NoError(t, os.MkdirAll(d.ResolveStorePath(""), 0o700))
	require.NoError(t, d.copyFirmwareVars())
	fi, err := os.Stat(d.path(VarsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, d.path(VarsFile), d.VMConfig().FirmwareVars)

	// The default on x86 is SeaBIOS: no files.
	b := New("b", store)
	require.NoError(t, b.SetConfigFromFlags(flagValues(b, nil)))
	require.NoError(t, b.setupFirmware())
	if defaultFirmware(runtime.GOARCH) == FirmwareBIOS {
		assert.Equal(t, FirmwareBIOS, b.FirmwareType)
		assert.Empty(t, b.Firmware)
		assert.Empty(t, b.VMConfig().FirmwareVars)
	}

	descriptorDirs = func(string) []string { return nil }
	m := New("m", store)
	require.NoError(t, m.SetConfigFromFlags(flagValues(m, map[string]any{"qemu-firmware": "uefi"})))
	if runtime.GOARCH == "amd64" {
		assert.ErrorContains(t, m.checkFirmware(), "apt-get install ovmf")
		if _, err := exec.LookPath(m.Binary); err == nil {
			assert.ErrorContains(t, m.PreCreateCheck(context.Background()), "apt-get install ovmf")
		}
		assert.NoDirExists(t, m.ResolveStorePath(""), "nothing made")
	}
}

// flagValues is the driver's flags at their defaults, overridden by set.
func flagValues(d *Driver, set map[string]any) drivers.Options {
	o := drivers.Options{}
	for _, f := range d.GetCreateFlags() {
		o[f.String()] = f.Default()
	}
	for k, v := range set {
		o[k] = v
	}
	return o
}

func TestParseCloudInitStatus(t *testing.T) {
	for _, tc := range []struct{ out, status string }{
		{"cloud-init-status: none\n", "none"},
		{"cloud-init-status:\nstatus: done\ntime: Wed, 02 Dec 2026 06:00:00 +0000\ndetail:\nDataSourceNoCloud [seed=/dev/vdb][dsmode=net]\n", "done"},
		{"cloud-init-status:\nstatus: error\ntime: x\ndetail:\n('ssh', KeyError('x'))\n", "error"},
		{"cloud-init-status:\nstatus: done\nextended_status: degraded done\nboot_status_code: enabled-by-generator\n", "degraded done"},
		{"Welcome!\ncloud-init-status:\nstatus: running\n", "running"},
		{"garbage", "unknown"},
	} {
		status, _ := parseCloudInitStatus(tc.out)
		assert.Equal(t, tc.status, status, tc.out)
	}
}

func TestBootTimeout(t *testing.T) {
	d := New("m", t.TempDir())
	d.BootMode, d.AccelUsed = BootKernel, AccelTCG
	assert.Equal(t, DefaultBootTimeout*time.Second, d.bootTimeout())
	d.BootMode = BootFirmware
	assert.Equal(t, DefaultTCGFirmwareBootTimeout*time.Second, d.bootTimeout(), "a cloud image's first boot under TCG")
	d.AccelUsed = AccelKVM
	assert.Equal(t, DefaultBootTimeout*time.Second, d.bootTimeout())
	d.AccelUsed, d.BootTimeout = AccelTCG, 42
	assert.Equal(t, 42*time.Second, d.bootTimeout(), "a timeout set in config.json is kept")
}
