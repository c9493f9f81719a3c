//go:build !linux

package testhost

import "testing"

// CloudImages are the Debian cloud-style test disks (see cloudimage.go); they are built on
// Linux only.
type CloudImages struct{ Dir, Key string }

func (c CloudImages) QCOW2() string       { return "" }
func (c CloudImages) DockerQCOW2() string { return "" }
func (c CloudImages) DockerRaw() string   { return "" }

func CloudImageKey() string       { return "" }
func AvailableCloudImages() error { return errNotLinux }

func EnsureCloudImages(func(format string, args ...any)) (CloudImages, error) {
	return CloudImages{}, errNotLinux
}

func CloudImagesForTest(t testing.TB) CloudImages {
	t.Helper()
	skipUnless(t, errNotLinux)
	return CloudImages{}
}
