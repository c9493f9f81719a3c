// Package nocloud writes cloud-init NoCloud seeds: the meta-data and
// user-data a VM reads at first boot (its user, SSH keys, hostname and
// shared folders), as an ISO 9660 image labelled cidata that a VM driver
// attaches to the machine. Stock cloud images apply it with cloud-init,
// machine-os with its own reader (machine-os/overlay/usr/local/sbin/
// machine-os-seed), which understands exactly the layout written here.
package nocloud

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
)

// SeedVolumeID is the volume label cloud-init's NoCloud data source (and
// machine-os's seed reader) looks for.
const SeedVolumeID = "cidata"

// Seed is the first-boot configuration handed to the guest.
type Seed struct {
	// Driver names the driver that writes the seed (e.g. "qemu"), in a
	// comment of the user-data and the image's application identifier;
	// it may be empty.
	Driver         string
	InstanceID     string
	Hostname       string
	User           string
	AuthorizedKeys []string
	Mounts         []SeedMount
}

// SeedMount is a 9p share mounted in the guest.
type SeedMount struct {
	Tag  string // the virtio-9p mount_tag
	Path string // where the guest mounts it
}

var (
	// Compiled on first use: bounded repetitions make large programs, and
	// every command would pay for them at start-up.
	seedUserRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`) })
	seedHostRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$`) })
	seedTagRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_]{1,31}$`) })
	seedDrvRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_-]{0,64}$`) })
	seedValueOK = func(s string) bool { return !strings.ContainsAny(s, "\"\\\n\r\t,") }
)

// Validate rejects values the guest-side readers could misparse.
func (s Seed) Validate() error {
	if !seedDrvRe().MatchString(s.Driver) {
		return fmt.Errorf("driver name %q is not valid", s.Driver)
	}
	if !seedUserRe().MatchString(s.User) {
		return fmt.Errorf("SSH user %q is not a valid Linux user name", s.User)
	}
	if !seedHostRe().MatchString(s.Hostname) {
		return fmt.Errorf("hostname %q is not valid", s.Hostname)
	}
	if s.InstanceID == "" || !seedValueOK(s.InstanceID) {
		return fmt.Errorf("instance id %q is not valid", s.InstanceID)
	}
	for _, k := range s.AuthorizedKeys {
		if k == "" || strings.ContainsAny(k, "\"\\\n\r") {
			return fmt.Errorf("authorized key %q is not one line", k)
		}
	}
	for _, m := range s.Mounts {
		if !seedTagRe().MatchString(m.Tag) {
			return fmt.Errorf("mount tag %q is not valid", m.Tag)
		}
		if !strings.HasPrefix(m.Path, "/") || !seedValueOK(m.Path) || strings.ContainsAny(m.Path, " '[]") {
			return fmt.Errorf("guest path %q must be absolute, without spaces, quotes, brackets or commas", m.Path)
		}
	}
	return nil
}

// MetaData is the NoCloud meta-data file.
func (s Seed) MetaData() []byte {
	return fmt.Appendf(nil, "instance-id: %s\nlocal-hostname: %s\n", s.InstanceID, s.Hostname)
}

// UserData is the #cloud-config user-data file: one user with the SSH
// keys and password-less sudo, the hostname, no password logins. Stock
// cloud images apply it with cloud-init; machine-os with its own reader,
// which understands exactly this layout.
func (s Seed) UserData() []byte {
	var b bytes.Buffer
	q := func(v string) string { return `"` + v + `"` }
	b.WriteString("#cloud-config\n")
	if s.Driver != "" {
		fmt.Fprintf(&b, "# Written by docker-machine (%s driver).\n", s.Driver)
	} else {
		b.WriteString("# Written by docker-machine.\n")
	}
	fmt.Fprintf(&b, "hostname: %s\n", q(s.Hostname))
	b.WriteString("preserve_hostname: false\nmanage_etc_hosts: true\nssh_pwauth: false\n")
	if s.User == "root" {
		b.WriteString("disable_root: false\n")
	} else {
		b.WriteString("disable_root: true\n")
	}
	b.WriteString("users:\n")
	fmt.Fprintf(&b, "  - name: %s\n", q(s.User))
	if s.User != "root" {
		b.WriteString("    gecos: \"docker-machine\"\n")
		b.WriteString("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n")
		b.WriteString("    shell: /bin/bash\n")
		b.WriteString("    lock_passwd: true\n")
	}
	b.WriteString("    ssh_authorized_keys:\n")
	for _, k := range s.AuthorizedKeys {
		fmt.Fprintf(&b, "      - %s\n", q(k))
	}
	if len(s.Mounts) > 0 {
		b.WriteString("mounts:\n")
		for _, m := range s.Mounts {
			fmt.Fprintf(&b, "  - [ %s, %s, \"9p\", \"trans=virtio,version=9p2000.L,msize=262144,nofail\", \"0\", \"0\" ]\n", q(m.Tag), q(m.Path))
		}
	}
	return b.Bytes()
}

// WriteSeedISO writes the NoCloud seed as an ISO 9660 image labelled
// cidata, atomically.
func WriteSeedISO(path string, s Seed, modTime time.Time) error {
	if err := s.Validate(); err != nil {
		return err
	}
	var buf bytes.Buffer
	err := writeISO(&buf, SeedVolumeID, s.application(), []ISOFile{
		{Name: "meta-data", Data: s.MetaData()},
		{Name: "user-data", Data: s.UserData()},
	}, modTime)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, buf.Bytes(), 0o600)
}

// application is the image's application identifier.
func (s Seed) application() string {
	if s.Driver == "" {
		return isoApplication
	}
	return isoApplication + " " + strings.ToUpper(s.Driver) + " DRIVER"
}
