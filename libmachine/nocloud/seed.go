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
	"unicode/utf8"

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
	// Files are written by the guest at its first boot (cloud-init's
	// write_files, once per instance), as root. They may hold secrets
	// (a TLS key): the user-data file is then readable by root only in
	// the image, and nothing of it is logged.
	Files []SeedFile
}

// SeedFile is one file of write_files. Content must be text: UTF-8
// lines without control characters but tabs, the first not starting
// with a blank, ending in at most one newline (what a YAML literal
// block carries unchanged).
type SeedFile struct {
	Path    string
	Mode    uint32 // permission bits: 0644, 0600 or 0400
	Content []byte
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
	seedPathRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(/[A-Za-z0-9_.@+-]+)+$`) })
)

// seedModes are the file modes the guest-side readers set without a
// chmod (machine-os's reader sets a umask per file).
var seedModes = map[uint32]bool{0o644: true, 0o600: true, 0o400: true}

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
	for _, f := range s.Files {
		if err := f.validate(); err != nil {
			return err
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

func (f SeedFile) validate() error {
	if !seedPathRe().MatchString(f.Path) || strings.Contains(f.Path, "/../") || strings.HasSuffix(f.Path, "/..") {
		return fmt.Errorf("file path %q must be absolute, of letters, digits and _.@+-", f.Path)
	}
	if !seedModes[f.Mode] {
		return fmt.Errorf("file %s: mode %04o is not one of 0644, 0600, 0400", f.Path, f.Mode)
	}
	c := string(f.Content)
	if !utf8.ValidString(c) {
		return fmt.Errorf("file %s is not UTF-8 text", f.Path)
	}
	for _, r := range c {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == 0xfeff || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return fmt.Errorf("file %s has a control character %U", f.Path, r)
		}
	}
	if strings.HasPrefix(c, " ") || strings.HasPrefix(c, "\t") || strings.HasPrefix(c, "\n") {
		return fmt.Errorf("file %s starts with a blank", f.Path)
	}
	if strings.HasSuffix(c, "\n\n") {
		return fmt.Errorf("file %s ends with an empty line", f.Path)
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
		// No group named after the user: on an image with Docker
		// preinstalled the group "docker" exists, and cloud-init's
		// useradd --user-group of the user "docker" fails on it (no
		// user, no key). The primary group is then useradd's default.
		b.WriteString("    no_user_group: true\n")
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
	if len(s.Files) > 0 {
		// Literal blocks indented by six: "|" keeps the one final
		// newline, "|-" is content without one; "" is empty content.
		b.WriteString("write_files:\n")
		for _, f := range s.Files {
			fmt.Fprintf(&b, "  - path: %s\n", q(f.Path))
			fmt.Fprintf(&b, "    permissions: \"%04o\"\n", f.Mode)
			b.WriteString("    owner: \"root:root\"\n")
			c := string(f.Content)
			switch {
			case c == "":
				b.WriteString("    content: \"\"\n")
				continue
			case strings.HasSuffix(c, "\n"):
				b.WriteString("    content: |\n")
				c = strings.TrimSuffix(c, "\n")
			default:
				b.WriteString("    content: |-\n")
			}
			for _, l := range strings.Split(c, "\n") {
				if l == "" {
					b.WriteString("\n")
				} else {
					b.WriteString("      " + l + "\n")
				}
			}
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
	ud := ISOFile{Name: "user-data", Data: s.UserData()}
	if len(s.Files) > 0 {
		ud.Mode = 0o400
	}
	err := writeISO(&buf, SeedVolumeID, s.application(), []ISOFile{
		{Name: "meta-data", Data: s.MetaData()},
		ud,
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
