package qemu

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

// The cloud image tests boot disks made the way Debian's cloud images
// are (testhost.EnsureCloudImages: GPT, GRUB for BIOS and UEFI,
// linux-image-cloud-amd64, cloud-init with NoCloud) through the
// firmware, as a user's stock cloud image boots, with the built
// docker-machine, and end with the real docker CLI over TLS. They run in
// parallel: under TCG each is mostly waiting for its guest (cloud-init,
// apt).

// cloudBin is the docker-machine binary the cloud image tests share.
var cloudBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dmcloudbin")
	if err != nil {
		return "", err
	}
	// Left for the system's tmp cleaning: the tests of this binary run
	// in parallel and none knows it is the last.
	return testbin.Build(dir)
})

// cloudCase is one create of a cloud image.
type cloudCase struct {
	name     string
	image    string
	firmware string // --qemu-firmware ("" for the default)
	// docker says the image has Docker preinstalled; otherwise the
	// provisioner installs Debian's docker.io through the guest's
	// network (deb.debian.org).
	docker bool
	format string // the image's format, as recorded in config.json
}

func TestCloudImageBIOSInstallsDocker(t *testing.T) {
	runCloudCase(t, func(c testhost.CloudImages) cloudCase {
		return cloudCase{name: "cbios", image: c.QCOW2(), format: "qcow2"}
	})
}

func TestCloudImageUEFIDockerPreinstalled(t *testing.T) {
	runCloudCase(t, func(c testhost.CloudImages) cloudCase {
		return cloudCase{name: "cuefi", image: c.DockerQCOW2(), firmware: FirmwareUEFI, docker: true, format: "qcow2"}
	})
}

func TestCloudImageRaw(t *testing.T) {
	runCloudCase(t, func(c testhost.CloudImages) cloudCase {
		return cloudCase{name: "craw", image: c.DockerRaw(), docker: true, format: "raw"}
	})
}

// SlowVMsEnv opts in to the cloud image tests. Under TCG on two cores
// they take 3 to 5 minutes each on a quiet host and far longer under
// load (cloud-init's Python, apt installing docker.io), more than make
// test's budget holds, so make test skips them with this reason and
// `make test-slow-vms` (run by CI after make test) runs them.
const SlowVMsEnv = "MACHINE_TEST_SLOW_VMS"

func runCloudCase(t *testing.T, pick func(testhost.CloudImages) cloudCase) {
	if os.Getenv(SlowVMsEnv) != "1" {
		t.Skipf("slow VM test (a stock cloud image under TCG: 3-5 min quiet, far more under load): run it with %s=1, as make test-slow-vms does", SlowVMsEnv)
	}
	requireVMHost(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the cloud images are amd64")
	}
	docker := dockerCLI(t)
	if err := testhost.AvailableCloudImages(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	images := testhost.CloudImagesForTest(t)
	tc := pick(images)
	if tc.firmware == FirmwareUEFI {
		requireUEFI(t, ArchAMD64)
	}
	bin, err := cloudBin()
	require.NoError(t, err)
	s := newCLIStore(t, "dmcloud", bin)
	store, dm := s.path, s.dm
	dir := filepath.Join(store, "machines", tc.name)
	t.Cleanup(func() {
		if _, err := os.Stat(dir); err == nil {
			out, err := dm("rm", "-f", "-y", tc.name)
			t.Logf("cleanup rm: %v %s", err, out)
		}
	})

	// The disk keeps the image's size: growing the partition and the file
	// system at first boot (cloud-init's growpart and resizefs) costs 30 s
	// under TCG and is not what is tested here.
	args := []string{"--debug", "create", "-d", "qemu", "--qemu-image", tc.image, "--qemu-memory", "1024",
		"--qemu-disk-size", "3072", "--engine-install-method", "package"}
	if tc.firmware != "" {
		args = append(args, "--qemu-firmware", tc.firmware)
	}
	t0 := time.Now()
	out, err := dm(append(args, tc.name)...)
	took := time.Since(t0)
	phases := regexp.MustCompile(`qemu: phase \S+ took \S+|Installing Docker|Waiting for cloud-init[^\n]*|cloud-init status [^\n]*|cloud-init finished[^\n]*`).FindAllString(out, -1)
	t.Logf("create %s (%s, firmware %q) took %s: %s", tc.name, filepath.Base(tc.image), tc.firmware, took.Round(100*time.Millisecond), strings.Join(phases, "; "))
	if err != nil {
		console, _ := os.ReadFile(filepath.Join(dir, ConsoleFile))
		t.Fatalf("create: %v\n%s\nconsole:\n%s", err, filterLines(out, "qemu: qemu-system"), tailLines(string(console), 40))
	}
	assert.NotContains(t, out, "cloud-init finished with status", "cloud-init applied the seed without errors")

	// What was recorded: the firmware, the image's format.
	var cfg struct {
		Driver struct {
			BaseImageFormat, BootMode, FirmwareType, Firmware, FirmwareVars string
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &cfg))
	assert.Equal(t, tc.format, cfg.Driver.BaseImageFormat)
	assert.Equal(t, BootFirmware, cfg.Driver.BootMode)
	if tc.firmware == FirmwareUEFI {
		assert.Equal(t, FirmwareUEFI, cfg.Driver.FirmwareType)
		assert.FileExists(t, cfg.Driver.Firmware)
		assert.NotEmpty(t, cfg.Driver.FirmwareVars)
		assert.FileExists(t, filepath.Join(dir, VarsFile), "the machine's own UEFI variable store")
	} else {
		assert.Equal(t, FirmwareBIOS, cfg.Driver.FirmwareType)
		assert.Empty(t, cfg.Driver.Firmware)
		assert.NoFileExists(t, filepath.Join(dir, VarsFile))
	}

	// The seed as stock cloud-init applied it: the hostname, the user
	// with the machine's key and password-less sudo, the firmware booted.
	out, err = dm("ssh", tc.name, "--", "hostname; id -un; sudo -n id -u; cloud-init status; test -d /sys/firmware/efi && echo uefi || echo bios")
	require.NoError(t, err, out)
	assert.Equal(t, strings.Join([]string{tc.name, "docker", "0", "status: done", map[bool]string{true: "uefi", false: "bios"}[tc.firmware == FirmwareUEFI]}, "\n"), out)
	// Docker from Debian's packages, preinstalled or installed by the
	// provisioner through the guest's user-mode network.
	out, err = dm("ssh", tc.name, "--", "dpkg-query -S /usr/sbin/dockerd")
	require.NoError(t, err, out)
	assert.Equal(t, "docker.io: /usr/sbin/dockerd", out)

	// The real docker CLI over TLS.
	envOut, err := dm("env", "--shell", "bash", tc.name)
	require.NoError(t, err, envOut)
	env := parseEnv(envOut)
	url, err := dm("url", tc.name)
	require.NoError(t, err, url)
	assert.Equal(t, url, env["DOCKER_HOST"])
	cmd := exec.Command(docker, "version", "--format", "{{.Server.Version}} {{.Server.Os}}")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	ver, err := cmd.CombinedOutput()
	require.NoError(t, err, string(ver))
	assert.Regexp(t, `^\d+\.\d+\.\S+ linux$`, strings.TrimSpace(string(ver)))
	t.Logf("%s: engine %s at %s", tc.name, strings.TrimSpace(string(ver)), url)

	pid := vmPID(t, dir)
	require.NotZero(t, pid)
	out, err = dm("rm", "-y", tc.name)
	require.NoError(t, err, out)
	assert.NoDirExists(t, dir, "rm left files")
	assert.False(t, processAlive(pid, ""), "rm left qemu running")
	if out, err := exec.Command("pgrep", "-f", dir).Output(); err == nil {
		t.Errorf("qemu left running: %s", out)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
