// Package qemu is the driver for local VMs under QEMU: KVM on Linux when
// it really works, HVF on macOS, TCG otherwise. Each machine boots a
// copy-on-write overlay of a cached cloud image (by default Debian 12
// genericcloud; the project's machine-os in tests and the demo), is
// configured at first boot by a NoCloud seed the driver writes itself, and
// is reached through user-mode networking on a loopback address of its
// own (Linux) or distinct ports on 127.0.0.1 (macOS). The VM is
// daemonized and outlives the CLI; its state comes from the pid file and
// the QMP socket in the machine directory. See docs/qemu.md.
package qemu

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Name is the driver's registered name.
const Name = "qemu"

// Defaults of the create flags.
const (
	DefaultCPUCount = 2
	DefaultMemory   = 1024  // MB
	DefaultDiskSize = 20000 // MB
	DefaultSSHUser  = "docker"
	// DefaultStopTimeout bounds the ACPI power-down before qemu is killed.
	DefaultStopTimeout = 60
	// DefaultBootTimeout bounds the wait for the guest's SSH server.
	DefaultBootTimeout = 300
)

// DefaultImageURL is the official Debian 12 genericcloud image of the
// host's architecture.
func DefaultImageURL(goarch string) string {
	arch := "amd64"
	if goarch == "arm64" {
		arch = "arm64"
	}
	return "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-" + arch + ".qcow2"
}

// Boot modes recorded in the driver JSON.
const (
	BootFirmware = "firmware" // SeaBIOS/UEFI boots the disk
	BootKernel   = "kernel"   // -kernel/-initrd/-append (machine-os)
)

func init() {
	registry.Register(Name, func(machine, store string) drivers.Driver { return New(machine, store) })
}

// Driver is the qemu driver. Its JSON is the machine's config.json
// "Driver" object.
type Driver struct {
	*drivers.BaseDriver
	EnginePort int
	// Image is --qemu-image as given (URL or path); BaseImage the local
	// file the overlay is backed by, BaseImageFormat its format.
	Image           string
	ImageChecksum   string
	BaseImage       string
	BaseImageFormat string
	CPUCount        int
	Memory          int
	DiskSize        int
	// Accel is --qemu-accel; AccelUsed what create resolved it to.
	Accel       string
	AccelUsed   string
	Binary      string
	ShareFolder string
	// BootMode is firmware or kernel; Kernel, Initrd and KernelCmdline
	// are set for kernel.
	BootMode      string
	Kernel        string
	Initrd        string
	KernelCmdline string
	Firmware      string `json:",omitempty"`
	InstanceID    string
	// StopTimeout (seconds) bounds the ACPI power-down of Stop.
	StopTimeout int
	// BootTimeout (seconds) bounds the wait for SSH in Create and Start.
	BootTimeout int
}

// New returns an unconfigured qemu driver.
func New(machineName, storePath string) *Driver {
	return &Driver{
		BaseDriver: &drivers.BaseDriver{
			MachineName: machineName,
			StorePath:   storePath,
			SSHUser:     DefaultSSHUser,
			SSHPort:     drivers.DefaultSSHPort,
		},
		EnginePort:  engine.DefaultPort,
		CPUCount:    DefaultCPUCount,
		Memory:      DefaultMemory,
		DiskSize:    DefaultDiskSize,
		Accel:       AccelAuto,
		Binary:      DefaultBinary(runtime.GOARCH),
		StopTimeout: DefaultStopTimeout,
		BootTimeout: DefaultBootTimeout,
	}
}

// DriverName returns "qemu".
func (d *Driver) DriverName() string { return Name }

// Capabilities: an SSH guest with a fixed forwarded address.
func (d *Driver) Capabilities() drivers.Capabilities { return drivers.Capabilities{SSH: true} }

// GetCreateFlags declares the flags and their environment variables.
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "qemu-image", Usage: "Disk image to boot: URL (downloaded once into the store's cache) or local path (qcow2 or raw; a machine-os qcow2 boots its kernel directly)", Value: DefaultImageURL(runtime.GOARCH), EnvVar: "QEMU_IMAGE"},
		mcnflag.StringFlag{Name: "qemu-image-checksum", Usage: "SHA-256 of the image (sha256:<hex> or <hex>), verified after download", EnvVar: "QEMU_IMAGE_CHECKSUM"},
		mcnflag.IntFlag{Name: "qemu-cpu-count", Usage: "Number of virtual CPUs", Value: DefaultCPUCount, EnvVar: "QEMU_CPU_COUNT"},
		mcnflag.IntFlag{Name: "qemu-memory", Usage: "Memory of the VM in MB", Value: DefaultMemory, EnvVar: "QEMU_MEMORY"},
		mcnflag.IntFlag{Name: "qemu-disk-size", Usage: "Size of the VM's disk in MB", Value: DefaultDiskSize, EnvVar: "QEMU_DISK_SIZE"},
		mcnflag.StringFlag{Name: "qemu-accel", Usage: "Accelerator: auto, kvm, hvf or tcg (auto: KVM when it really boots a guest, HVF on macOS, else TCG)", Value: AccelAuto, EnvVar: "QEMU_ACCEL"},
		mcnflag.StringFlag{Name: "qemu-binary", Usage: "QEMU system emulator", Value: DefaultBinary(runtime.GOARCH), EnvVar: "QEMU_BINARY"},
		mcnflag.StringFlag{Name: "qemu-ssh-user", Usage: "User created in the VM for SSH (password-less sudo)", Value: DefaultSSHUser, EnvVar: "QEMU_SSH_USER"},
		mcnflag.StringFlag{Name: "qemu-share-folder", Usage: "Host folder shared with the VM over 9p, as host[:guest] (guest defaults to the host path)", EnvVar: "QEMU_SHARE_FOLDER"},
	}
}

// SetConfigFromFlags reads and validates the flags.
func (d *Driver) SetConfigFromFlags(o drivers.Options) error {
	d.Image = o.String("qemu-image")
	d.CPUCount = o.Int("qemu-cpu-count")
	d.Memory = o.Int("qemu-memory")
	d.DiskSize = o.Int("qemu-disk-size")
	d.Accel = o.String("qemu-accel")
	d.Binary = o.String("qemu-binary")
	d.SSHUser = o.String("qemu-ssh-user")
	d.ShareFolder = o.String("qemu-share-folder")
	d.SetSwarmConfigFromFlags(o)
	sum, err := ParseChecksum(o.String("qemu-image-checksum"))
	if err != nil {
		return fmt.Errorf("--qemu-image-checksum: %w", err)
	}
	d.ImageChecksum = sum
	if d.Image == "" {
		d.Image = DefaultImageURL(runtime.GOARCH)
	}
	if d.Binary == "" {
		d.Binary = DefaultBinary(runtime.GOARCH)
	}
	if d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	if d.Accel == "" {
		d.Accel = AccelAuto
	}
	switch d.Accel {
	case AccelAuto, AccelKVM, AccelHVF, AccelTCG:
	default:
		return fmt.Errorf("--qemu-accel %q is not one of auto, kvm, hvf, tcg", d.Accel)
	}
	if d.CPUCount < 1 {
		return fmt.Errorf("--qemu-cpu-count %d must be at least 1", d.CPUCount)
	}
	if d.Memory < 128 {
		return fmt.Errorf("--qemu-memory %d MB is too small (at least 128)", d.Memory)
	}
	if d.DiskSize < 1024 {
		return fmt.Errorf("--qemu-disk-size %d MB is too small (at least 1024)", d.DiskSize)
	}
	if _, _, err := d.share(); err != nil {
		return err
	}
	return nil
}

// share parses --qemu-share-folder.
func (d *Driver) share() (hostPath, guestPath string, err error) {
	if d.ShareFolder == "" {
		return "", "", nil
	}
	hostPath, guestPath, _ = strings.Cut(d.ShareFolder, ":")
	if guestPath == "" {
		guestPath = hostPath
	}
	if !filepath.IsAbs(hostPath) {
		if hostPath, err = filepath.Abs(hostPath); err != nil {
			return "", "", err
		}
	}
	if !strings.HasPrefix(guestPath, "/") {
		return "", "", fmt.Errorf("--qemu-share-folder: guest path %q must be absolute", guestPath)
	}
	if err := (Seed{User: "x", Hostname: "x", InstanceID: "x", Mounts: []SeedMount{{Tag: "share0", Path: guestPath}}}).Validate(); err != nil {
		return "", "", fmt.Errorf("--qemu-share-folder: %w", err)
	}
	return hostPath, guestPath, nil
}

func (d *Driver) path(name string) string { return d.ResolveStorePath(name) }

func (d *Driver) cacheDir() string { return filepath.Join(d.StorePath, "cache") }

func (d *Driver) qemuImg() string {
	// qemu-img lives next to the emulator when one was given by path.
	if strings.ContainsRune(d.Binary, os.PathSeparator) {
		p := filepath.Join(filepath.Dir(d.Binary), "qemu-img")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "qemu-img"
}

// PreCreateCheck verifies the tools, the image and the socket path.
func (d *Driver) PreCreateCheck(context.Context) error {
	if _, err := exec.LookPath(d.Binary); err != nil {
		return fmt.Errorf("%s not found: install QEMU (Debian/Ubuntu: apt-get install qemu-system-x86 qemu-utils; macOS: brew install qemu)", d.Binary)
	}
	if _, err := exec.LookPath(d.qemuImg()); err != nil {
		return errors.New("qemu-img not found: install QEMU's tools (Debian/Ubuntu: apt-get install qemu-utils)")
	}
	if !IsURL(d.Image) {
		if _, err := ResolveLocalImage(d.Image); err != nil {
			return err
		}
	}
	if sock := d.path(QMPFile); len(sock) > maxSocketPath {
		return fmt.Errorf("the machine directory path is too long for qemu's QMP socket (%s is %d bytes, at most %d): use a shorter --storage-path or machine name", sock, len(sock), maxSocketPath)
	}
	if hostPath, _, err := d.share(); err != nil {
		return err
	} else if hostPath != "" {
		if fi, err := os.Stat(hostPath); err != nil || !fi.IsDir() {
			return fmt.Errorf("--qemu-share-folder: %s is not a directory", hostPath)
		}
	}
	return nil
}

// timed logs how long a create/start phase took (parsed by the benchmark).
func (d *Driver) timed(phase string, start time.Time) {
	log.Debugf("(%s) qemu: phase %s took %.3fs", d.MachineName, phase, time.Since(start).Seconds())
}

// Create makes the key, the seed, the overlay and boots the VM; it returns
// when the guest's SSH server answers. ctx stops the image download and
// the boot wait; what was made (the running VM, its files) is left for
// Remove.
func (d *Driver) Create(ctx context.Context) error {
	t0 := time.Now()
	log.Infof("(%s) Creating SSH key...", d.MachineName)
	key := d.path(KeyFile)
	if err := ssh.GenerateKeyPair(key); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	d.SSHKeyPath = key
	d.timed("key", t0)

	t := time.Now()
	if err := d.prepareImage(ctx); err != nil {
		return err
	}
	d.timed("image", t)

	t = time.Now()
	pub, err := ssh.PublicKey(key)
	if err != nil {
		return err
	}
	if d.InstanceID == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		d.InstanceID = "iid-" + d.MachineName + "-" + hex.EncodeToString(b)
	}
	seed := Seed{InstanceID: d.InstanceID, Hostname: d.MachineName, User: d.SSHUser, AuthorizedKeys: []string{pub}}
	if _, guest, _ := d.share(); guest != "" {
		seed.Mounts = []SeedMount{{Tag: "share0", Path: guest}}
	}
	if err := WriteSeedISO(d.path(SeedFile), seed, time.Now()); err != nil {
		return fmt.Errorf("writing the cloud-init seed: %w", err)
	}
	d.timed("seed", t)

	t = time.Now()
	if err := d.resolveAccel(); err != nil {
		return err
	}
	d.timed("accel", t)

	log.Infof("(%s) Starting QEMU VM...", d.MachineName)
	t = time.Now()
	alloc := d.allocator()
	unlock, err := alloc.Lock()
	if err != nil {
		return err
	}
	addr, err := alloc.AllocateLocked(d.MachineName)
	if err != nil {
		unlock()
		return err
	}
	d.IPAddress, d.SSHPort, d.EnginePort = addr.IP, addr.SSHPort, addr.EnginePort
	log.Debugf("(%s) qemu: address %s", d.MachineName, addr)
	// Keep the lock until qemu listens on the forwarded ports, so the next
	// allocation's port checks see them.
	err = d.launch()
	unlock()
	if err != nil {
		return err
	}
	d.timed("qemu-start", t)
	t = time.Now()
	if err := d.waitForSSH(ctx); err != nil {
		return err
	}
	d.timed("boot-to-ssh", t)
	d.timed("create", t0)
	return nil
}

// prepareImage downloads the image if needed, creates the overlay and
// picks the boot mode.
func (d *Driver) prepareImage(ctx context.Context) error {
	var base string
	if IsURL(d.Image) {
		var progress Progress
		if term.IsTerminal(int(os.Stderr.Fd())) {
			progress = terminalProgress(d.MachineName, d.Image)
		}
		if _, err := os.Stat(CachedImagePath(d.cacheDir(), d.Image, d.ImageChecksum)); err != nil {
			log.Infof("(%s) Downloading %s...", d.MachineName, d.Image)
		}
		p, err := FetchImage(ctx, nil, d.cacheDir(), d.Image, d.ImageChecksum, progress)
		if err != nil {
			return err
		}
		base = p
	} else {
		p, err := ResolveLocalImage(d.Image)
		if err != nil {
			return err
		}
		if d.ImageChecksum != "" {
			got, err := FileSHA256(p)
			if err != nil {
				return err
			}
			if got != d.ImageChecksum {
				return fmt.Errorf("image %s has sha256:%s, not sha256:%s", p, got, d.ImageChecksum)
			}
		}
		base = p
	}
	info, err := QemuImgInfo(d.qemuImg(), base)
	if err != nil {
		return err
	}
	d.BaseImage, d.BaseImageFormat = base, info.Format
	size := d.DiskSize
	if minMB := int((info.VirtualSize + 1<<20 - 1) >> 20); size < minMB {
		log.Infof("(%s) The image is %d MB: the disk gets that size instead of %d MB", d.MachineName, minMB, size)
		size = minMB
		d.DiskSize = size
	}
	if err := CreateOverlay(d.qemuImg(), base, info.Format, d.path(DiskFile), size); err != nil {
		return err
	}
	d.BootMode = BootFirmware
	if !IsURL(d.Image) {
		if b, ok := FindBootFiles(base); ok {
			d.BootMode, d.Kernel, d.Initrd, d.KernelCmdline = BootKernel, b.Kernel, b.Initrd, b.Cmdline
		}
	}
	if runtime.GOARCH == "arm64" && d.BootMode == BootFirmware {
		d.Firmware = aarch64Firmware()
		if d.Firmware == "" {
			return errors.New("no UEFI firmware for arm64 guests found (Debian: apt-get install qemu-efi-aarch64)")
		}
	}
	log.Debugf("(%s) qemu: base image %s (%s), boot mode %s", d.MachineName, base, info.Format, d.BootMode)
	return nil
}

// resolveAccel runs accelerator detection and warns once about TCG.
func (d *Driver) resolveAccel() error {
	choice, err := DetectAccel(d.Accel, HostAccelProbes(d.Binary, d.Kernel), filepath.Join(d.cacheDir(), "qemu-accel.json"))
	if err != nil {
		return err
	}
	d.AccelUsed = choice.Accel
	if d.Accel == AccelAuto && choice.Accel == AccelTCG {
		log.Warnf("(%s) No hardware acceleration (%s): using TCG software emulation, which is slow.", d.MachineName, choice.Reason)
	}
	log.Debugf("(%s) qemu: accelerator %s (requested %s, cached %v)", d.MachineName, choice.Accel, d.Accel, choice.Cached)
	return nil
}

func (d *Driver) allocator() *Allocator {
	a := NewAllocator(d.StorePath)
	a.EnginePort = engine.DefaultPort
	return a
}

// VMConfig returns the machine's qemu configuration.
func (d *Driver) VMConfig() VMConfig {
	c := VMConfig{
		Name:            d.MachineName,
		Arch:            runtime.GOARCH,
		Accel:           d.AccelUsed,
		CPUs:            d.CPUCount,
		MemoryMB:        d.Memory,
		Dir:             d.ResolveStorePath(""),
		Firmware:        d.Firmware,
		Addr:            Address{IP: d.IPAddress, SSHPort: d.SSHPort, EnginePort: d.EnginePort},
		GuestEnginePort: engine.DefaultPort,
		Daemonize:       true,
	}
	if c.Accel == "" {
		c.Accel = AccelTCG
	}
	c.Dir = filepath.Clean(c.Dir)
	if d.BootMode == BootKernel {
		c.Boot = BootFiles{Kernel: d.Kernel, Initrd: d.Initrd, Cmdline: d.KernelCmdline}
	}
	if host, _, _ := d.share(); host != "" {
		c.Shares = []Share{{HostPath: host, Tag: "share0"}}
	}
	return c
}

// launch starts the daemonized qemu and returns once it runs.
func (d *Driver) launch() error {
	for _, f := range []string{PIDFile, QMPFile} {
		os.Remove(d.path(f))
	}
	args := d.VMConfig().Args()
	log.Debugf("(%s) qemu: %s %s", d.MachineName, d.Binary, strings.Join(args, " "))
	logf, err := os.OpenFile(d.path(LogFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "%s %s\n", d.Binary, strings.Join(args, " "))
	// Truncate the console so boot failures show this boot only.
	if err := os.WriteFile(d.path(ConsoleFile), nil, 0o600); err != nil {
		return err
	}
	// qemu daemonizes and outlives the CLI: it must not keep descriptors
	// the CLI inherited (a caller's pipe would never see EOF).
	if err := procutil.CloseInheritedOnExec(); err != nil {
		log.Debugf("(%s) qemu: %v", d.MachineName, err)
	}
	cmd := exec.Command(d.Binary, args...)
	var stderr strings.Builder
	cmd.Stdout = logf
	cmd.Stderr = &stderr
	// Its own session: a Ctrl-C of the CLI must not reach the VM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		fmt.Fprint(logf, stderr.String())
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("starting qemu: %s", msg)
	}
	fmt.Fprint(logf, stderr.String())
	pid, err := readPID(d.path(PIDFile))
	if err != nil || pid == 0 {
		return fmt.Errorf("qemu started but wrote no pid file (%v)", err)
	}
	log.Debugf("(%s) qemu: running as pid %d", d.MachineName, pid)
	return nil
}

// waitForSSH waits until the guest's SSH server sends its banner through
// the forwarded port (slirp accepts connections before the guest listens,
// so a TCP connect proves nothing). It fails early when qemu exits.
func (d *Driver) waitForSSH(ctx context.Context) error {
	log.Infof("(%s) Waiting for the VM to boot...", d.MachineName)
	timeout := time.Duration(d.BootTimeout) * time.Second
	if timeout <= 0 {
		timeout = DefaultBootTimeout * time.Second
	}
	addr := net.JoinHostPort(d.IPAddress, strconv.Itoa(d.SSHPort))
	deadline := time.Now().Add(timeout)
	for {
		if sshBanner(addr, 2*time.Second) {
			return nil
		}
		pid, _ := readPID(d.path(PIDFile))
		if !processAlive(pid, d.path(PIDFile)) {
			return fmt.Errorf("qemu exited while the VM booted; console:\n%s", d.consoleTail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the VM's SSH server did not answer on %s within %s; console:\n%s", addr, timeout, d.consoleTail(20))
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the VM to boot: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// sshBanner reports whether an SSH server answers on addr.
func sshBanner(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

func (d *Driver) consoleTail(n int) string {
	data, err := os.ReadFile(d.path(ConsoleFile))
	if err != nil {
		return "(no console log)"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// GetSSHHostname is the machine's loopback address.
func (d *Driver) GetSSHHostname(ctx context.Context) (string, error) { return d.GetIP(ctx) }

// GetSSHKeyPath is the key made at create.
func (d *Driver) GetSSHKeyPath() string {
	if d.SSHKeyPath == "" {
		d.SSHKeyPath = d.path(KeyFile)
	}
	return d.SSHKeyPath
}

// GetSSHUsername is --qemu-ssh-user.
func (d *Driver) GetSSHUsername() string {
	if d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	return d.SSHUser
}

// GetURL is tcp://<address>:<engine port> while the VM runs.
func (d *Driver) GetURL(ctx context.Context) (string, error) {
	if d.IPAddress == "" {
		return "", nil
	}
	if err := drivers.MustBeRunning(ctx, d); err != nil {
		return "", err
	}
	return drivers.TCPURL(d.IPAddress, d.EnginePort), nil
}

// qmpTimeout bounds one state query; ls must stay fast.
const qmpTimeout = 2 * time.Second

// GetState reads the pid file and asks QEMU over QMP; no SSH.
func (d *Driver) GetState(context.Context) (state.State, error) {
	pidFile := d.path(PIDFile)
	pid, err := readPID(pidFile)
	if err != nil {
		return state.Error, err
	}
	if !processAlive(pid, pidFile) {
		return state.Stopped, nil
	}
	q, err := DialQMP(d.path(QMPFile), qmpTimeout)
	if err != nil {
		// The process runs but QMP does not answer (another client holds
		// the socket, or QEMU is starting or exiting): trust the process.
		log.Debugf("(%s) qemu: QMP: %v", d.MachineName, err)
		return state.Running, nil
	}
	defer q.Close()
	s, err := q.QueryStatus()
	if err != nil {
		log.Debugf("(%s) qemu: query-status: %v", d.MachineName, err)
		return state.Running, nil
	}
	return RunStateToState(s), nil
}

func (d *Driver) pid() (int, bool) {
	pid, _ := readPID(d.path(PIDFile))
	return pid, processAlive(pid, d.path(PIDFile))
}

// Start boots a stopped machine with the same command line, address and
// disk, and waits for SSH.
func (d *Driver) Start(ctx context.Context) error {
	if _, alive := d.pid(); alive {
		log.Infof("(%s) The VM is already running.", d.MachineName)
		return nil
	}
	if d.AccelUsed == "" {
		if err := d.resolveAccel(); err != nil {
			return err
		}
	}
	alloc := d.allocator()
	unlock, err := alloc.Lock()
	if err != nil {
		return err
	}
	err = alloc.CheckFree(Address{IP: d.IPAddress, SSHPort: d.SSHPort, EnginePort: d.EnginePort})
	if err == nil {
		log.Infof("(%s) Starting QEMU VM...", d.MachineName)
		err = d.launch()
	}
	unlock()
	if err != nil {
		return err
	}
	return d.waitForSSH(ctx)
}

// Stop powers the guest down over ACPI and waits for qemu to exit; after
// StopTimeout seconds it kills it.
func (d *Driver) Stop(ctx context.Context) error {
	pid, alive := d.pid()
	if !alive {
		d.cleanRuntimeFiles()
		return nil
	}
	timeout := time.Duration(d.StopTimeout) * time.Second
	if timeout <= 0 {
		timeout = DefaultStopTimeout * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		if err := d.powerdown(); err != nil {
			log.Debugf("(%s) qemu: power-down over QMP failed (%v); sending SIGTERM", d.MachineName, err)
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		// A guest still booting may miss the ACPI event: press the button
		// again every few seconds.
		wait := min(powerdownRepeat, time.Until(deadline))
		if waitGone(pid, d.path(PIDFile), wait) {
			d.cleanRuntimeFiles()
			return nil
		}
		if time.Now().After(deadline) {
			log.Warnf("(%s) The VM did not power off within %s: killing it.", d.MachineName, timeout)
			return d.Kill(ctx)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for the VM to power off: %w", context.Cause(ctx))
		}
	}
}

// powerdownRepeat is how often Stop repeats the ACPI power-down.
var powerdownRepeat = 10 * time.Second

// powerdown sends the ACPI power button event; a paused VM, which cannot
// handle it, is told to quit.
func (d *Driver) powerdown() error {
	q, err := DialQMP(d.path(QMPFile), 5*time.Second)
	if err != nil {
		return err
	}
	defer q.Close()
	st, err := q.QueryStatus()
	if err != nil {
		return err
	}
	if RunStateToState(st) == state.Paused {
		_, err = q.Execute("quit", nil)
		return err
	}
	_, err = q.Execute("system_powerdown", nil)
	return err
}

// Kill ends qemu at once (SIGKILL).
func (d *Driver) Kill(context.Context) error {
	pid, alive := d.pid()
	if alive {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing qemu (pid %d): %w", pid, err)
		}
		if !waitGone(pid, d.path(PIDFile), 10*time.Second) {
			return fmt.Errorf("qemu (pid %d) is still running after SIGKILL", pid)
		}
	}
	d.cleanRuntimeFiles()
	return nil
}

// Restart is Stop then Start.
func (d *Driver) Restart(ctx context.Context) error {
	if err := d.Stop(ctx); err != nil {
		return err
	}
	return d.Start(ctx)
}

// Remove kills the VM and deletes every file the driver made.
func (d *Driver) Remove(ctx context.Context) error {
	if err := d.Kill(ctx); err != nil {
		return err
	}
	var errs []error
	for _, f := range []string{DiskFile, SeedFile, ConsoleFile, LogFile, KeyFile, KeyFile + ".pub", reservationName} {
		if err := os.Remove(d.path(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanRuntimeFiles removes what a dead qemu may leave behind.
func (d *Driver) cleanRuntimeFiles() {
	for _, f := range []string{PIDFile, QMPFile} {
		os.Remove(d.path(f))
	}
}

// terminalProgress draws a one-line progress bar on stderr.
func terminalProgress(machine, url string) Progress {
	name := filepath.Base(url)
	return func(done, total int64) {
		const mb = 1 << 20
		if total > 0 {
			pct := int(done * 100 / total)
			bar := strings.Repeat("=", pct/4) + strings.Repeat(" ", 25-pct/4)
			fmt.Fprintf(os.Stderr, "\r(%s) %s [%s] %3d%% %d/%d MB", machine, name, bar, pct, done/mb, total/mb)
			if done >= total {
				fmt.Fprintln(os.Stderr)
			}
			return
		}
		fmt.Fprintf(os.Stderr, "\r(%s) %s %d MB", machine, name, done/mb)
	}
}
