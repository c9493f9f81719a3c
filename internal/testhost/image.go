//go:build linux

package testhost

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	scripts "github.com/docker-machine-ng/machine/scripts/testhost"
)

// Image is a cached, complete test-host image.
type Image struct {
	Flavour Flavour
	Dir     string // $TESTHOST_CACHE/images/FLAVOUR-KEY
	Key     string // first 16 hex digits of the recipe's SHA-256
}

// RootFS is the root file system tree (lowerdir of nspawn overlays).
func (i Image) RootFS() string { return filepath.Join(i.Dir, "rootfs") }

// BaseQCOW2 is the ext4 disk image (backing file of VM overlays).
func (i Image) BaseQCOW2() string { return filepath.Join(i.Dir, "base.qcow2") }

// Kernel is the kernel for qemu -kernel: the uncompressed vmlinux when it could be extracted
// (boots about 1 s faster under TCG), else the bzImage.
func (i Image) Kernel() string {
	if p := filepath.Join(i.Dir, "vmlinux"); fileExists(p) {
		return p
	}
	return filepath.Join(i.Dir, "vmlinuz")
}

// Initrd is the MODULES=list initramfs.
func (i Image) Initrd() string { return filepath.Join(i.Dir, "initrd.img") }

// ImageKey is the cache key of flavour f: SHA-256 over a version line, the flavour and the text
// of scripts/testhost/build-image.sh (which holds the package lists). ensure-image.sh computes
// the same.
func ImageKey(f Flavour) string {
	h := sha256.New()
	fmt.Fprintf(h, "docker-machine-testhost image v1\nflavour=%s\n", f)
	h.Write(scripts.BuildImage)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// EnsureImage returns the cached image of flavour f, building it first when needed (cold
// build: a few minutes on 2 cores; the docker image is derived from the plain one). Builds are atomic (a temporary directory renamed when
// complete) and a second process that needs the same image waits on a lock instead of
// building it twice. logf (may be nil) receives progress lines.
func EnsureImage(f Flavour, logf func(format string, args ...any)) (Image, error) {
	if f != Plain && f != Docker {
		return Image{}, fmt.Errorf("testhost: unknown flavour %q", f)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	key := ImageKey(f)
	name := string(f) + "-" + key
	images := filepath.Join(CacheDir(), "images")
	img := Image{Flavour: f, Dir: filepath.Join(images, name), Key: key}
	if fileExists(filepath.Join(img.Dir, "manifest")) {
		return img, nil
	}
	if err := os.MkdirAll(images, 0o755); err != nil {
		return img, err
	}
	unlock, err := lockFile(img.Dir + ".lock")
	if err != nil {
		return img, err
	}
	defer unlock()
	if fileExists(filepath.Join(img.Dir, "manifest")) {
		return img, nil // built by another process while we waited
	}
	// The docker image is derived from the plain one, held (shared lock) while it is copied.
	var buildArgs []string
	if f == Docker {
		plain, err := EnsureImage(Plain, logf)
		if err != nil {
			return img, err
		}
		release, err := plain.hold()
		if err != nil {
			return img, err
		}
		defer release()
		buildArgs = append(buildArgs, plain.Dir)
	}
	start := time.Now()
	args := func(tmp string) []string { return append([]string{"build", string(f), tmp}, buildArgs...) }
	if err := buildImageDir(img.Dir, scripts.BuildImage, args, string(f)+" image", logf); err != nil {
		return img, err
	}
	logf("testhost: built %s image in %s", f, time.Since(start).Round(time.Second))
	pruneImages(img, logf)
	return img, nil
}

// buildImageDir builds the image directory dir with script (the recipe, run by bash with the
// arguments args gives for the temporary output directory). The caller holds dir's lock and has
// seen that dir is not built. One build runs at a time on the machine (builds share the .deb
// cache and the 2 cores); leftovers of a crashed build of dir are removed first; the build goes
// to a temporary directory, renamed to dir when complete, with its log as build.log. what names
// the image in progress lines and errors.
func buildImageDir(dir string, script []byte, args func(tmp string) []string, what string, logf func(string, ...any)) error {
	unlockBuild, err := lockFile(filepath.Join(CacheDir(), "build.lock"))
	if err != nil {
		return err
	}
	defer unlockBuild()

	images, name := filepath.Split(dir)
	// Leftovers of a crashed build of this image (we hold its lock, so nobody builds it).
	olds, _ := filepath.Glob(filepath.Join(images, ".tmp-"+name+"-*"))
	for _, old := range olds {
		if err := removeTree(old); err != nil {
			return fmt.Errorf("testhost: removing stale build %s: %w", old, err)
		}
	}
	tmp := filepath.Join(images, fmt.Sprintf(".tmp-%s-%d", name, os.Getpid()))
	scriptPath := tmp + ".sh"
	logPath := tmp + ".log"
	defer os.Remove(scriptPath)
	if err := os.WriteFile(scriptPath, script, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logf("testhost: building %s %s (cold build takes minutes; log %s)", what, dir, logPath)
	cmd := exec.Command("bash", append([]string{scriptPath}, args(tmp)...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "TESTHOST_CACHE="+CacheDir())
	if err := cmd.Run(); err != nil {
		_ = removeTree(tmp)
		return fmt.Errorf("testhost: building %s failed: %w\n%s", what, err, tail(logPath, 40))
	}
	_ = os.Rename(logPath, filepath.Join(tmp, "build.log"))
	return os.Rename(tmp, dir)
}

// hold takes a shared lock on the image for as long as a host uses it, so that pruneImages
// (run by a process with a newer recipe) never removes an image under a running host.
// It fails when the image was pruned while we waited for the lock.
func (i Image) hold() (func(), error) {
	f, err := os.OpenFile(i.Dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fileExists(filepath.Join(i.Dir, "manifest")) {
		f.Close()
		return nil, errPruned
	}
	return func() { f.Close() }, nil
}

var errPruned = fmt.Errorf("testhost: image was pruned")

// pruneImages removes the other images of keep's flavour (earlier recipes) that no host holds.
func pruneImages(keep Image, logf func(string, ...any)) {
	images := filepath.Dir(keep.Dir)
	entries, _ := os.ReadDir(images)
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, string(keep.Flavour)+"-") || n == filepath.Base(keep.Dir) {
			continue
		}
		dir := filepath.Join(images, n)
		f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.Remove(filepath.Join(dir, "manifest"))
			if err := removeTree(dir); err == nil {
				logf("testhost: pruned old image %s", dir)
			}
		}
		f.Close()
	}
}

// acquireImage returns the image of flavour f (building it if needed) held for a host; release
// it when the host is gone.
func acquireImage(t testing.TB, f Flavour) (Image, func()) {
	t.Helper()
	for {
		img := image(t, f)
		release, err := img.hold()
		if err == errPruned {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return img, release
	}
}

// image is EnsureImage for tests: it skips when the kit is unavailable and fails on errors.
func image(t testing.TB, f Flavour) Image {
	t.Helper()
	img, err := EnsureImage(f, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ImageTarball returns a tar of a busybox root file system (Debian's busybox-static: /bin/busybox
// and a symlink per applet) for `docker import TAR local/busybox:latest`, so tests need no
// registry. It is built once into the cache.
func ImageTarball(t testing.TB) string {
	t.Helper()
	skipUnless(t, checkTools([]tool{{"apt-get", "apt"}, {"dpkg-deb", "dpkg"}, {"flock", "util-linux"}}))
	p, err := EnsureImageTarball()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// EnsureImageTarball is ImageTarball without a testing.TB.
func EnsureImageTarball() (string, error) {
	h := sha256.Sum256(append([]byte("docker-machine-testhost busybox v1\n"), scripts.BusyboxTar...))
	out := filepath.Join(CacheDir(), "busybox-"+hex.EncodeToString(h[:])[:16]+".tar")
	if fileExists(out) {
		return out, nil
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if fileExists(out) {
		return out, nil
	}
	cmd := exec.Command("bash", "-s", out)
	cmd.Stdin = bytes.NewReader(scripts.BusyboxTar)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testhost: building busybox tarball: %w\n%s", err, b)
	}
	return out, nil
}

// lockFile takes an exclusive flock on path (created if needed) and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
