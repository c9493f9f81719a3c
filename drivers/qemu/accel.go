package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

// Accelerators.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelHVF  = "hvf"
	AccelWHPX = "whpx"
	AccelTCG  = "tcg"
)

// AccelProbes are the host checks accelerator detection relies on; tests
// replace them.
type AccelProbes struct {
	GOOS string
	// KVMDevice returns nil when /dev/kvm can be opened read-write.
	KVMDevice func() error
	// PVM reports whether KVM is the PVM hypervisor, which cannot boot a
	// stock kernel (/sys/module/kvm_pvm, or nested_pvm on the kernel
	// command line).
	PVM func() bool
	// HVF reports whether macOS's Hypervisor.framework is available.
	HVF func() bool
	// WHPX reports whether the Windows Hypervisor Platform is enabled
	// (nil: it is not; only Windows has it).
	WHPX func() bool
	// BootProbe boots a kernel under KVM for a few seconds and returns nil
	// when it printed "Linux version" (the only proof that KVM works).
	// It returns errNoProbeKernel when no kernel is at hand, and gives up
	// when ctx ends.
	BootProbe func(ctx context.Context) error
	// CacheKey identifies the host configuration the boot probe's result
	// holds for; "" disables caching.
	CacheKey func() string
}

// AccelChoice is the outcome of detection.
type AccelChoice struct {
	Accel string
	// Reason explains why "auto" did not pick a hardware accelerator.
	Reason string
	// Cached is true when the boot probe's result came from the cache.
	Cached bool
}

var errNoProbeKernel = errors.New("no kernel to probe KVM with")

// accelCacheEntry is the cache file's content.
type accelCacheEntry struct {
	Key    string
	Accel  string
	Reason string
}

// DetectAccel resolves the requested accelerator. cacheFile ("" for none)
// remembers the boot probe's verdict for the host configuration. When ctx
// ends during the boot probe, it returns ctx's cause and caches nothing.
func DetectAccel(ctx context.Context, requested string, p AccelProbes, cacheFile string) (AccelChoice, error) {
	switch requested {
	case AccelTCG:
		return AccelChoice{Accel: AccelTCG}, nil
	case AccelKVM:
		if p.GOOS != "linux" {
			return AccelChoice{}, fmt.Errorf("--qemu-accel kvm needs Linux (this is %s)", p.GOOS)
		}
		if err := p.KVMDevice(); err != nil {
			return AccelChoice{}, fmt.Errorf("--qemu-accel kvm: %w", err)
		}
		return AccelChoice{Accel: AccelKVM}, nil
	case AccelHVF:
		if p.GOOS != "darwin" || !p.HVF() {
			return AccelChoice{}, errors.New("--qemu-accel hvf needs macOS with Hypervisor.framework (sysctl kern.hv_support)")
		}
		return AccelChoice{Accel: AccelHVF}, nil
	case AccelWHPX:
		if p.GOOS != "windows" || p.WHPX == nil || !p.WHPX() {
			return AccelChoice{}, errors.New("--qemu-accel whpx needs Windows with the Windows Hypervisor Platform enabled (Windows features: Windows Hypervisor Platform)")
		}
		return AccelChoice{Accel: AccelWHPX}, nil
	case AccelAuto, "":
	default:
		return AccelChoice{}, fmt.Errorf("--qemu-accel %q is not one of auto, kvm, hvf, whpx, tcg", requested)
	}

	switch p.GOOS {
	case "darwin":
		if p.HVF() {
			return AccelChoice{Accel: AccelHVF}, nil
		}
		return AccelChoice{Accel: AccelTCG, Reason: "Hypervisor.framework is not available"}, nil
	case "windows":
		if p.WHPX != nil && p.WHPX() {
			return AccelChoice{Accel: AccelWHPX}, nil
		}
		return AccelChoice{Accel: AccelTCG, Reason: "the Windows Hypervisor Platform is not enabled"}, nil
	case "linux":
	default:
		return AccelChoice{Accel: AccelTCG, Reason: "no hardware accelerator support on " + p.GOOS}, nil
	}
	if err := p.KVMDevice(); err != nil {
		return AccelChoice{Accel: AccelTCG, Reason: err.Error()}, nil
	}
	if p.PVM() {
		return AccelChoice{Accel: AccelTCG, Reason: "/dev/kvm is the PVM hypervisor (kvm_pvm), which cannot boot a stock kernel"}, nil
	}
	key := ""
	if p.CacheKey != nil {
		key = p.CacheKey()
	}
	if cacheFile != "" && key != "" {
		if data, err := os.ReadFile(cacheFile); err == nil {
			var e accelCacheEntry
			if json.Unmarshal(data, &e) == nil && e.Key == key && (e.Accel == AccelKVM || e.Accel == AccelTCG) {
				return AccelChoice{Accel: e.Accel, Reason: e.Reason, Cached: true}, nil
			}
		}
	}
	choice := AccelChoice{Accel: AccelKVM}
	err := p.BootProbe(ctx)
	if ctx.Err() != nil {
		return AccelChoice{}, fmt.Errorf("probing KVM: %w", context.Cause(ctx))
	}
	switch {
	case err == nil:
	case errors.Is(err, errNoProbeKernel):
		// Nothing to boot: trust a working /dev/kvm, as every other
		// tool does. Not cached, so a later create with a kernel probes.
		return choice, nil
	default:
		choice = AccelChoice{Accel: AccelTCG, Reason: "KVM did not boot a test kernel: " + err.Error()}
	}
	if cacheFile != "" && key != "" {
		data, _ := json.MarshalIndent(accelCacheEntry{Key: key, Accel: choice.Accel, Reason: choice.Reason}, "", "  ")
		if err := os.MkdirAll(filepath.Dir(cacheFile), 0o700); err == nil {
			if err := fsutil.WriteFileAtomic(cacheFile, append(data, '\n'), 0o600); err != nil {
				log.Debugf("qemu: caching the accelerator probe: %v", err)
			}
		}
	}
	return choice, nil
}

// HostAccelProbes returns the real probes. binary is the qemu system
// emulator; kernel (may be "") a kernel to boot for the KVM probe.
func HostAccelProbes(binary, kernel string) AccelProbes {
	return AccelProbes{
		GOOS: runtime.GOOS,
		KVMDevice: func() error {
			f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return errors.New("/dev/kvm does not exist")
				}
				return fmt.Errorf("/dev/kvm is not usable: %w", err)
			}
			f.Close()
			return nil
		},
		PVM: func() bool {
			if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
				return true
			}
			cmdline, _ := os.ReadFile("/proc/cmdline")
			return bytes.Contains(cmdline, []byte("nested_pvm"))
		},
		HVF: func() bool {
			out, err := exec.Command("sysctl", "-n", "kern.hv_support").Output()
			return err == nil && strings.TrimSpace(string(out)) == "1"
		},
		WHPX: whpxAvailable,
		BootProbe: func(ctx context.Context) error {
			k := kernel
			if k == "" {
				k = hostKernel()
			}
			if k == "" {
				return errNoProbeKernel
			}
			return kvmBootProbe(ctx, binary, k, 10*time.Second)
		},
		CacheKey: func() string {
			var b strings.Builder
			b.WriteString("v1")
			if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
				b.WriteString(" kernel=" + strings.TrimSpace(string(data)))
			}
			for _, m := range []string{"kvm", "kvm_intel", "kvm_amd", "kvm_pvm"} {
				if _, err := os.Stat("/sys/module/" + m); err == nil {
					b.WriteString(" " + m)
				}
			}
			if p, err := exec.LookPath(binary); err == nil {
				if fi, err := os.Stat(p); err == nil {
					fmt.Fprintf(&b, " qemu=%s:%d:%d", p, fi.Size(), fi.ModTime().Unix())
				}
			}
			return b.String()
		},
	}
}

// hostKernel returns a readable kernel image of the running system.
func hostKernel() string {
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	p := "/boot/vmlinuz-" + strings.TrimSpace(string(rel))
	if f, err := os.Open(p); err == nil {
		f.Close()
		return p
	}
	return ""
}

// kvmBootProbe boots kernel under KVM with no disk and waits for its
// banner on the serial console, at most timeout and until ctx ends.
func kvmBootProbe(ctx context.Context, binary, kernel string, timeout time.Duration) error {
	dir, err := os.MkdirTemp("", "docker-machine-kvm-probe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	console := filepath.Join(dir, "console.log")
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	machine := "q35"
	if runtime.GOARCH == "arm64" {
		machine = "virt"
	}
	// The probe is killed after timeout, but outlives a CLI that dies
	// first: like a VM, it gets none of the CLI's inherited descriptors.
	if err := procutil.CloseInheritedOnExec(); err != nil {
		log.Debugf("qemu: %v", err)
	}
	cmd := exec.CommandContext(ctx, binary, "-nodefaults", "-no-user-config", "-display", "none",
		"-machine", machine, "-accel", "kvm", "-cpu", "host", "-m", "256", "-no-reboot",
		"-serial", "file:"+console, "-kernel", kernel,
		"-append", "console=ttyS0 console=ttyAMA0 earlyprintk=serial,ttyS0 panic=-1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if out, _ := os.ReadFile(console); bytes.Contains(out, []byte("Linux version")) {
				return nil
			}
			msg := strings.TrimSpace(stderr.String())
			if msg == "" && err != nil {
				msg = err.Error()
			}
			if ctx.Err() != nil {
				return fmt.Errorf("no kernel output within %s", timeout)
			}
			return fmt.Errorf("qemu exited: %s", firstLine(msg))
		case <-tick.C:
			if out, _ := os.ReadFile(console); bytes.Contains(out, []byte("Linux version")) {
				cancel()
				<-done
				return nil
			}
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
