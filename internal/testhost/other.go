//go:build !linux

package testhost

import (
	"context"
	"io"
	"testing"
	"time"
)

// The test hosts are network namespaces, systemd-nspawn containers and
// qemu VMs on Linux. Elsewhere the package only compiles, so that the
// tests using it build (and skip: Available reports why) on every
// platform; this file mirrors the exported API of the Linux files.

// NamePrefix starts every host name.
const NamePrefix = "dmt-"

// GuestIface is the name of the host's interface inside its network
// namespace.
const GuestIface = "th0"

// MirrorHosts are the package mirrors hosts may reach.
var MirrorHosts = []string{"deb.debian.org"}

// Host is a running test host (see host.go).
type Host struct {
	Name, Kind          string
	Flavour             Flavour
	IP                  string
	SSHPort, DockerPort int
	User, KeyPath       string
	PubKeyPath          string
	HostPublicKeys      []string
	HostKeyFingerprints []string
	KnownHostsPath, Dir string
	BootTime            time.Duration
}

func (h *Host) PowerOff(force bool) error                          { return errNotLinux }
func (h *Host) PowerOn() error                                     { return errNotLinux }
func (h *Host) Running() bool                                      { return false }
func (h *Host) Addr() string                                       { return "" }
func (h *Host) SSHArgs() []string                                  { return nil }
func (h *Host) Run(string) (string, error)                         { return "", errNotLinux }
func (h *Host) RunContext(context.Context, string) (string, error) { return "", errNotLinux }
func (h *Host) RunStdin(string, io.Reader) (string, error)         { return "", errNotLinux }
func (h *Host) RunStdinContext(context.Context, string, io.Reader) (string, error) {
	return "", errNotLinux
}
func (h *Host) Logs() string                      { return "" }
func (h *Host) Stop() error                       { return nil }
func (h *Host) Upload(local, remote string) error { return errNotLinux }

// Image is a built host image (see image.go).
type Image struct {
	Flavour  Flavour
	Dir, Key string
}

func (i Image) RootFS() string    { return "" }
func (i Image) BaseQCOW2() string { return "" }
func (i Image) Kernel() string    { return "" }
func (i Image) Initrd() string    { return "" }

func ImageKey(f Flavour) string { return string(f) }

func EnsureImage(Flavour, func(format string, args ...any)) (Image, error) {
	return Image{}, errNotLinux
}

func EnsureImageTarball() (string, error) { return "", errNotLinux }

func ImageTarball(t testing.TB) string {
	t.Helper()
	skipUnless(t, errNotLinux)
	return ""
}

func StartNspawn(t testing.TB, opts Options) *Host {
	t.Helper()
	skipUnless(t, errNotLinux)
	return nil
}

func StartQEMU(t testing.TB, opts Options) *Host {
	t.Helper()
	skipUnless(t, errNotLinux)
	return nil
}

func Reap() error      { return nil }
func ReapIfAvailable() {}
