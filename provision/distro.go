package provision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Install methods (engine.Options.InstallMethod).
const (
	MethodScript  = "script"
	MethodPackage = "package"
	MethodNone    = "none"
)

// Option directories on the remote host.
const (
	systemdOptionsDir     = "/etc/docker"
	boot2dockerOptionsDir = "/var/lib/boot2docker"
	dropInPath            = "/etc/systemd/system/docker.service.d/10-machine.conf"
	boot2dockerProfile    = "/var/lib/boot2docker/profile"
)

type kind int

const (
	// kindSystemd: docker.service with a drop-in (every generic OS).
	kindSystemd kind = iota
	// kindBoot2Docker: /var/lib/boot2docker/profile and /etc/init.d/docker.
	kindBoot2Docker
)

// pkgManager holds the shell commands of one package manager. Packages
// are appended to install and upgrade.
type pkgManager struct {
	name string
	// install installs packages without touching the metadata.
	install string
	// refresh fetches package metadata; it runs only when install fails
	// or stale is true (never "on every provision" as the original did).
	refresh string
	// stale is a shell condition that is true when no metadata exists
	// at all ("" = the manager fetches metadata itself).
	stale string
	// upgrade upgrades installed packages (metadata refresh included).
	upgrade string
	// owner prints the name of the package owning the file "$1".
	owner string
}

var (
	aptGet = &pkgManager{
		name:    "apt",
		install: "DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300",
		refresh: "apt-get update -q",
		stale:   "! ls /var/lib/apt/lists 2>/dev/null | grep -q _Packages",
		// A changed conffile keeps the local version instead of asking
		// (there is no terminal to answer on).
		upgrade: "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --only-upgrade",
		owner:   `dpkg-query -S "$1" | cut -d: -f1`,
	}
	dnf = &pkgManager{
		name:    "dnf",
		install: "dnf install -y",
		refresh: "dnf makecache -y --refresh",
		upgrade: "dnf upgrade -y --refresh",
		owner:   `rpm -qf --qf '%{NAME}\n' "$1"`,
	}
	yum = &pkgManager{
		name:    "yum",
		install: "yum install -y",
		refresh: "yum makecache -y",
		upgrade: "yum update -y",
		owner:   `rpm -qf --qf '%{NAME}\n' "$1"`,
	}
	pacman = &pkgManager{
		name:    "pacman",
		install: "pacman -S --noconfirm --needed --noprogressbar",
		refresh: "pacman -Sy --noconfirm --noprogressbar",
		stale:   "! ls /var/lib/pacman/sync/*.db >/dev/null 2>&1",
		upgrade: "pacman -Sy --noconfirm --needed --noprogressbar",
		owner:   `pacman -Qqo "$1"`,
	}
	zypper = &pkgManager{
		name:    "zypper",
		install: "zypper -n install",
		refresh: "zypper -n refresh",
		upgrade: "zypper -n refresh && zypper -n update",
		owner:   `rpm -qf --qf '%{NAME}\n' "$1"`,
	}
)

// Distro is a detected operating system and how to provision it.
type Distro struct {
	name    string
	kind    kind
	release OSRelease
	// preinstalled: Docker is part of the OS image; never install it.
	preinstalled bool
	pm           *pkgManager
	// dockerPkg is the distribution's own Docker package ("" = none).
	dockerPkg string
	// defaultMethod replaces an empty InstallMethod: "script" unless
	// get.docker.com cannot serve the OS (the original used the package
	// manager on Arch and SUSE too).
	defaultMethod string
	// extraExec are raw (already systemd-escaped) ExecStart words.
	extraExec []string
	// extraEnv are raw Environment= values.
	extraEnv []string
	// refreshHint runs before refresh (SLES: register the module).
	refreshHint string
}

// String is the provisioner name, as the original printed it.
func (d *Distro) String() string { return d.name }

// OSRelease returns what detection read.
func (d *Distro) OSRelease() OSRelease { return d.release }

// OptionsDir is where the daemon's certificates live on the host.
func (d *Distro) OptionsDir() string {
	if d.kind == kindBoot2Docker {
		return boot2dockerOptionsDir
	}
	return systemdOptionsDir
}

// ConfigPath is the daemon configuration file docker-machine writes.
func (d *Distro) ConfigPath() string {
	if d.kind == kindBoot2Docker {
		return boot2dockerProfile
	}
	return dropInPath
}

// PackageManager names the package manager ("" when Docker is part of
// the OS image).
func (d *Distro) PackageManager() string {
	if d.pm == nil {
		return ""
	}
	return d.pm.name
}

// DockerPackage is the distribution's Docker package ("" when it has none).
func (d *Distro) DockerPackage() string { return d.dockerPkg }

// UnknownOSError is returned by Detect for an OS no rule matches.
type UnknownOSError struct {
	ID     string
	Reason string
}

func (e *UnknownOSError) Error() string {
	msg := fmt.Sprintf("OS type not recognized (ID=%s)", e.ID)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// rule is one detection step; build returns nil for "not me".
type rule struct {
	name  string
	match func(o OSRelease) bool
	build func(o OSRelease) (*Distro, error)
}

// Rules are tried in this fixed order; the first match wins:
//
//  1. boot2docker      ID=boot2docker
//  2. coreOS           ID flatcar|coreos|fedora-coreos|rhcos, VARIANT_ID=coreos, or ID_LIKE has coreos|fedora-coreos
//  3. amzn             ID=amzn (VERSION_ID 2 → yum, 2023 → dnf)
//  4. fedora           ID=fedora
//  5. RHEL family      ID rhel|centos|rocky|almalinux|ol, or ID_LIKE has rhel|centos
//  6. ubuntu(systemd)  ID=ubuntu, VERSION_ID ≥ 15.04 (older: upstart, refused)
//  7. debian           ID=debian
//  8. arch             ID=arch or ID_LIKE has arch
//  9. SUSE             ID_LIKE has suse, or ID opensuse*|sles|sled|suse
//  10. fallback        the first word of ID_LIKE that names ubuntu, debian or fedora
var rules = []rule{
	{"boot2docker", func(o OSRelease) bool { return o.id() == "boot2docker" }, boot2docker},
	{"coreOS", isCoreOS, coreOS},
	{"amzn", func(o OSRelease) bool { return o.id() == "amzn" }, amazon},
	{"fedora", func(o OSRelease) bool { return o.id() == "fedora" }, fedora},
	{"redhat", isRHEL, rhel},
	{"ubuntu", func(o OSRelease) bool { return o.id() == "ubuntu" }, ubuntu},
	{"debian", func(o OSRelease) bool { return o.id() == "debian" }, debian},
	{"arch", func(o OSRelease) bool { return o.id() == "arch" || o.likes("arch") }, arch},
	{"SUSE", isSUSE, suse},
}

// Detect picks the provisioner for an os-release.
func Detect(o OSRelease) (*Distro, error) {
	for _, r := range rules {
		if r.match(o) {
			d, err := r.build(o)
			if err != nil {
				return nil, err
			}
			d.release = o
			return d, nil
		}
	}
	for _, w := range o.Like() {
		var d *Distro
		switch w {
		case "ubuntu":
			d = ubuntuLike()
		case "debian":
			d = debianLike()
		case "fedora":
			d, _ = fedora(o)
		}
		if d != nil {
			d.release = o
			return d, nil
		}
	}
	return nil, &UnknownOSError{ID: o.ID}
}

func isCoreOS(o OSRelease) bool {
	switch o.id() {
	case "flatcar", "coreos", "fedora-coreos", "rhcos":
		return true
	}
	return strings.EqualFold(o.VariantID, "coreos") || o.likes("coreos") || o.likes("fedora-coreos")
}

func isRHEL(o OSRelease) bool {
	switch o.id() {
	case "rhel", "centos", "rocky", "almalinux", "ol":
		return true
	}
	return o.likes("rhel") || o.likes("centos")
}

func isSUSE(o OSRelease) bool {
	id := o.id()
	return o.likes("suse") || strings.HasPrefix(id, "opensuse") || id == "sles" || id == "sled" || id == "suse"
}

// major returns the leading integer of VERSION_ID (0 when absent).
func major(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

func boot2docker(OSRelease) (*Distro, error) {
	return &Distro{name: "boot2docker", kind: kindBoot2Docker, preinstalled: true}, nil
}

func coreOS(OSRelease) (*Distro, error) {
	return &Distro{
		name: "coreOS", preinstalled: true,
		// The units of Flatcar (and the old CoreOS) read these.
		extraExec: []string{"$DOCKER_OPTS", "$DOCKER_OPT_BIP", "$DOCKER_OPT_MTU", "$DOCKER_OPT_IPMASQ"},
		extraEnv:  []string{"TMPDIR=/var/tmp"},
	}, nil
}

func amazon(o OSRelease) (*Distro, error) {
	pm := yum
	if major(o.VersionID) >= 2022 {
		pm = dnf
	}
	// get.docker.com refuses Amazon Linux: use its own docker package.
	return &Distro{name: "amzn", pm: pm, dockerPkg: "docker", defaultMethod: MethodPackage}, nil
}

func fedora(OSRelease) (*Distro, error) {
	return &Distro{name: "fedora", pm: dnf, dockerPkg: "moby-engine", defaultMethod: MethodScript}, nil
}

func rhel(o OSRelease) (*Distro, error) {
	name := "redhat"
	switch o.id() {
	case "centos", "rocky", "almalinux", "ol":
		name = o.id()
	}
	pm := dnf
	if v := major(o.VersionID); v > 0 && v < 8 {
		pm = yum
	}
	// No distribution Docker package on the RHEL family (podman only).
	return &Distro{name: name, pm: pm, defaultMethod: MethodScript}, nil
}

func ubuntu(o OSRelease) (*Distro, error) {
	if v, err := strconv.ParseFloat(o.VersionID, 64); err == nil && v < 15.04 {
		return nil, &UnknownOSError{ID: o.ID, Reason: fmt.Sprintf("Ubuntu %s uses upstart, which is not supported", o.VersionID)}
	}
	return ubuntuLike(), nil
}

func ubuntuLike() *Distro {
	return &Distro{name: "ubuntu(systemd)", pm: aptGet, dockerPkg: "docker.io", defaultMethod: MethodScript}
}

func debian(OSRelease) (*Distro, error) { return debianLike(), nil }

func debianLike() *Distro {
	return &Distro{name: "debian", pm: aptGet, dockerPkg: "docker.io", defaultMethod: MethodScript}
}

func arch(OSRelease) (*Distro, error) {
	return &Distro{name: "arch", pm: pacman, dockerPkg: "docker", defaultMethod: MethodPackage}, nil
}

func suse(o OSRelease) (*Distro, error) {
	d := &Distro{name: "SUSE", pm: zypper, dockerPkg: "docker", defaultMethod: MethodPackage}
	if id := o.id(); (id == "sles" || id == "sled") && o.VersionID != "" {
		// Docker lives in the Containers module on SLE.
		d.refreshHint = "SUSEConnect -p sle-module-containers/" + shellQuote(o.VersionID) + "/$(uname -m)"
	}
	return d, nil
}

// installMethod resolves the configured method for this OS.
func (d *Distro) installMethod(configured string) (string, error) {
	switch configured {
	case "":
		if d.defaultMethod == "" {
			return MethodNone, nil
		}
		return d.defaultMethod, nil
	case MethodScript, MethodPackage, MethodNone:
		return configured, nil
	}
	return "", fmt.Errorf("unknown engine install method %q (want script, package or none)", configured)
}

// upgradeMethod is how Docker is upgraded: the way it got onto the host.
// A dockerd owned by the distribution's own Docker package (docker.io on
// Debian and Ubuntu, moby-engine on Fedora, docker elsewhere: machine-os,
// a host that had it preinstalled) came from the package manager and is
// upgraded through it, unless the method is none; running get.docker.com
// there would replace the distribution's Docker with docker-ce. Otherwise
// the configured method decides: package upgrades whichever packages own
// dockerd and docker (docker-ce from Docker's apt repository included),
// script (the default on most distributions) re-runs the install script,
// which is how docker-ce from download.docker.com got there. owners are
// the packages that own dockerd (probe.DockerdPackages).
func (d *Distro) upgradeMethod(configured string, owners []string) (string, error) {
	method, err := d.installMethod(configured)
	if err != nil || method == MethodNone {
		return method, err
	}
	if d.pm != nil && d.dockerPkg != "" && slices.Contains(owners, d.dockerPkg) {
		return MethodPackage, nil
	}
	return method, nil
}
