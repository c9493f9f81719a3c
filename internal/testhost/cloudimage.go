//go:build linux

package testhost

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// cloudImageScript is cloudimage.sh: the recipe of the cloud images, and their cache key.
//
//go:embed cloudimage.sh
var cloudImageScript []byte

// cloudFlavour names the cloud images' directory in the image cache.
const cloudFlavour Flavour = "cloud"

// CloudImages are disks made the way Debian's cloud images are made (see cloudimage.sh): for
// booting through firmware with cloud-init, as a driver boots a stock cloud image.
type CloudImages struct {
	Dir string // $TESTHOST_CACHE/images/cloud-KEY
	Key string // first 16 hex digits of the recipe's SHA-256
}

// QCOW2 is the image without Docker: GPT with a BIOS boot partition and an ESP, GRUB for
// SeaBIOS and for UEFI, linux-image-cloud-amd64, cloud-init (NoCloud), openssh-server, sudo.
func (c CloudImages) QCOW2() string { return filepath.Join(c.Dir, "debian-cloud.qcow2") }

// DockerQCOW2 is the same disk with Debian's docker.io installed and enabled.
func (c CloudImages) DockerQCOW2() string { return filepath.Join(c.Dir, "debian-cloud-docker.qcow2") }

// DockerRaw is DockerQCOW2 as a raw (sparse) image.
func (c CloudImages) DockerRaw() string { return filepath.Join(c.Dir, "debian-cloud-docker.raw") }

// CloudImageKey is the cache key of the cloud images: SHA-256 over a version line and the text
// of cloudimage.sh.
func CloudImageKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "docker-machine-testhost cloud images v1\n")
	h.Write(cloudImageScript)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

var cloudTools = []tool{
	{"mmdebstrap", "mmdebstrap"},
	{"mkfs.ext4", "e2fsprogs"},
	{"e2fsck", "e2fsprogs"},
	{"sfdisk", "fdisk"},
	{"mkfs.fat", "dosfstools"},
	{"mmd", "mtools"},
	{"mcopy", "mtools"},
	{"qemu-img", "qemu-utils"},
	{"unshare", "util-linux"},
}

// AvailableCloudImages reports why the cloud images cannot be built here, or nil (a cached
// build needs none of the tools).
func AvailableCloudImages() error {
	if fileExists(filepath.Join(cloudImagesDir(), "manifest")) {
		return nil
	}
	return checkTools(cloudTools)
}

func cloudImagesDir() string {
	return filepath.Join(CacheDir(), "images", string(cloudFlavour)+"-"+CloudImageKey())
}

// EnsureCloudImages returns the cached cloud images, building them first when needed (cold:
// several minutes, mostly mmdebstrap and the docker.io install; Debian's mirror is the only
// network used). As for the other images, the build is atomic (a temporary directory renamed
// when complete), a second process waits on the image's lock instead of building it twice, one
// build runs at a time on the machine, and images of earlier recipes that no test holds are
// removed afterwards (a test holds them with a shared lock on <dir>.lock; the build is
// serialised by <dir>.build.lock). logf (may be nil) receives progress lines.
func EnsureCloudImages(logf func(format string, args ...any)) (CloudImages, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c := CloudImages{Dir: cloudImagesDir(), Key: CloudImageKey()}
	img := Image{Flavour: cloudFlavour, Dir: c.Dir, Key: c.Key}
	if fileExists(filepath.Join(c.Dir, "manifest")) {
		return c, nil
	}
	if err := checkTools(cloudTools); err != nil {
		return c, err
	}
	if err := os.MkdirAll(filepath.Dir(c.Dir), 0o755); err != nil {
		return c, err
	}
	// The build's own lock, not the image's: <dir>.lock is held shared by every test that
	// uses the images, and a waiter for it exclusively would wait for those tests to end.
	unlock, err := lockFile(c.Dir + ".build.lock")
	if err != nil {
		return c, err
	}
	defer unlock()
	if fileExists(filepath.Join(c.Dir, "manifest")) {
		return c, nil // built by another process while we waited
	}
	start := time.Now()
	args := func(tmp string) []string { return []string{"build", tmp} }
	if err := buildImageDir(c.Dir, cloudImageScript, args, "the cloud images", logf); err != nil {
		return c, err
	}
	logf("testhost: built the cloud images in %s", time.Since(start).Round(time.Second))
	pruneImages(img, logf)
	return c, nil
}

// CloudImagesForTest is EnsureCloudImages for tests: it skips when the images are neither
// cached nor buildable here (not root, a tool missing: the skip names its package), fails on a
// build error, and holds the images (a shared lock) until the test ends, so that a build of a
// newer recipe never prunes them under a running VM.
func CloudImagesForTest(t testing.TB) CloudImages {
	t.Helper()
	skipUnless(t, AvailableCloudImages())
	for {
		c, err := EnsureCloudImages(t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		release, err := Image{Flavour: cloudFlavour, Dir: c.Dir, Key: c.Key}.hold()
		if err == errPruned {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		return c
	}
}
