package qemu

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/vmimage"
)

// Guest architectures (--qemu-arch), recorded as Arch: Go's names.
const (
	ArchAMD64 = "amd64"
	ArchARM64 = "arm64"
)

// hostArch is the guest architecture of this host's own: arm64 on arm64
// hosts, amd64 on every other (as the emulator default always was).
// Tests replace it to play another host.
var hostArch = goArch(runtime.GOARCH)

func goArch(goarch string) string {
	if goarch == ArchARM64 {
		return ArchARM64
	}
	return ArchAMD64
}

// parseArch normalises --qemu-arch: amd64 (or x86_64), arm64 (or
// aarch64); "" stays "" (inferred).
func parseArch(value string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "":
		return "", nil
	case ArchAMD64, "x86_64":
		return ArchAMD64, nil
	case ArchARM64, "aarch64":
		return ArchARM64, nil
	}
	return "", fmt.Errorf("--qemu-arch %q is not one of amd64 (or x86_64), arm64 (or aarch64)", value)
}

// guestArch is the machine's guest architecture: Arch, or for a
// config.json written before it was recorded (or by the original
// docker-machine), the host's.
func (d *Driver) guestArch() string {
	if d.Arch != "" {
		return d.Arch
	}
	return hostArch
}

// ManifestFile is the machine-os build's manifest, next to its qcow2:
// "key=<recipe>" first, "arch=<goarch>" in builds since arm64 (none:
// amd64).
const ManifestFile = "manifest"

// imageArch reads the architecture of a local machine-os image from the
// manifest in its directory: ok is false for a URL, an image that does
// not exist (PreCreateCheck reports it) and one without a machine-os
// manifest (no "key=" line), whose architecture is not known.
func imageArch(image string) (arch, manifest string, ok bool, err error) {
	if image == "" || vmimage.IsURL(image) {
		return "", "", false, nil
	}
	p, err := ResolveLocalImage(image)
	if err != nil {
		return "", "", false, nil
	}
	manifest = filepath.Join(filepath.Dir(p), ManifestFile)
	f, err := os.Open(manifest)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", false, nil
		}
		return "", "", false, fmt.Errorf("the image's manifest: %w", err)
	}
	defer f.Close()
	machineOS, value := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "key=") {
			machineOS = true
		}
		if v, found := strings.CutPrefix(line, "arch="); found {
			value = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", false, fmt.Errorf("the image's manifest %s: %w", manifest, err)
	}
	if !machineOS {
		return "", "", false, nil
	}
	if value == "" {
		return ArchAMD64, manifest, true, nil // machine-os before arm64 builds
	}
	arch, err = parseArch(value)
	if err != nil || arch == "" {
		return "", "", false, fmt.Errorf("the image's manifest %s says arch=%s, which is not amd64 or arm64", manifest, value)
	}
	return arch, manifest, true, nil
}

// nameArch is the architecture an image's file name says, the way
// distributions name their cloud images (debian-12-genericcloud-arm64.qcow2,
// noble-server-cloudimg-amd64.img, Fedora-Cloud-Base-Generic-41-1.4.aarch64.qcow2):
// a word arm64 or aarch64, amd64 or x86_64 in the last element of the path
// or URL. ok is false when it names none, or both.
func nameArch(image string) (arch string, ok bool) {
	name := image
	if vmimage.IsURL(image) {
		if u, err := url.Parse(image); err == nil {
			name = u.Path
		}
	}
	name = strings.ToLower(path.Base(filepath.ToSlash(name)))
	words := strings.FieldsFunc(name, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_'
	})
	for _, w := range words {
		a, err := parseArch(w)
		if err != nil || a == "" {
			continue
		}
		if ok && a != arch {
			return "", false
		}
		arch, ok = a, true
	}
	return arch, ok
}

// resolveArch is the guest architecture of a create: --qemu-arch
// (explicit, normalised), else the architecture of a local machine-os
// image (its manifest), else the one the image's file name says, else
// the host's. An explicit architecture that is not a machine-os image's
// is refused.
func resolveArch(explicit, image string) (string, error) {
	arch, manifest, known, err := imageArch(image)
	if err != nil {
		return "", err
	}
	switch {
	case explicit == "" && known:
		return arch, nil
	case explicit == "":
		if a, ok := nameArch(image); ok {
			return a, nil
		}
		return hostArch, nil
	case known && explicit != arch:
		return "", fmt.Errorf("--qemu-arch %s does not match the image: %s is machine-os for %s (%s); leave --qemu-arch out to boot it as %s, or give the %s build (MACHINE_OS_ARCH=%s machine-os/build.sh)",
			explicit, image, arch, manifest, arch, explicit, explicit)
	}
	return explicit, nil
}

// checkArch refuses, before anything is made, a hardware accelerator
// asked for a guest of another architecture than the host's. (A guest
// architecture that is not the local machine-os image's was refused when
// the flags were read.)
func (d *Driver) checkArch() error {
	_, _, err := crossArchAccel(d.Accel, d.guestArch())
	return err
}

// crossArchAccel resolves the accelerator of a guest of another
// architecture than the host's (cross false for the host's own): TCG,
// the only one that emulates a foreign CPU. KVM, HVF and WHPX run the
// host's architecture only.
func crossArchAccel(requested, guest string) (choice AccelChoice, cross bool, err error) {
	if guest == hostArch {
		return AccelChoice{}, false, nil
	}
	switch requested {
	case AccelAuto, "", AccelTCG:
		return AccelChoice{Accel: AccelTCG, Reason: fmt.Sprintf("an %s guest on an %s host", guest, hostArch)}, true, nil
	}
	return AccelChoice{}, true, fmt.Errorf("--qemu-accel %s runs guests of the host's architecture only, and the guest is %s, the host %s: use --qemu-accel tcg (or auto) for an %s guest",
		requested, guest, hostArch, guest)
}
