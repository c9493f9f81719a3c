package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/httplog"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// IsURL reports whether an --qemu-image value is a URL to download.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

var hexRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}$`) })

// ParseChecksum accepts "sha256:<hex>" or "<hex>" (64 hex digits) and
// returns the lower-case hex digest; "" stays "".
func ParseChecksum(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	s = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "sha256:"), "SHA256:"))
	if !hexRe().MatchString(s) {
		return "", fmt.Errorf("checksum %q is not sha256:<64 hex digits>", s)
	}
	return s, nil
}

// CachedImagePath is where an image URL is kept in the cache directory:
// named by its checksum when one is given (content-addressed), else by a
// hash of the URL; the URL's file name follows for readability. A cached
// file is never replaced, because machines use it as backing file.
func CachedImagePath(cacheDir, rawURL, sum string) string {
	base := "image"
	if u, err := url.Parse(rawURL); err == nil && path.Base(u.Path) != "/" && path.Base(u.Path) != "." {
		base = path.Base(u.Path)
	}
	base = regexp.MustCompile(`[^A-Za-z0-9._-]`).ReplaceAllString(base, "_")
	key := sum
	if key == "" {
		h := sha256.Sum256([]byte(rawURL))
		key = hex.EncodeToString(h[:])
	}
	return filepath.Join(cacheDir, key[:12]+"-"+base)
}

// Progress receives download progress; total is -1 when unknown.
type Progress func(done, total int64)

// FetchImage returns the local path of the image at rawURL, downloading
// it into cacheDir first unless it is there. The download goes to a
// temporary file that is renamed when complete and verified, so a partial
// file never has the final name; concurrent fetches of the same image wait
// for each other. sum ("" for none) is the expected SHA-256 in hex.
func FetchImage(ctx context.Context, client *http.Client, cacheDir, rawURL, sum string, progress Progress) (string, error) {
	dst := CachedImagePath(cacheDir, rawURL, sum)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return "", err
	}
	lock, err := fsutil.LockFileContext(ctx, dst+".lock", func(pid int) {
		log.Infof("Waiting for docker-machine process %d, which is downloading %s...", pid, rawURL)
	})
	if err != nil {
		return "", err
	}
	defer lock.Unlock()
	if _, err := os.Stat(dst); err == nil {
		return dst, nil // another process downloaded it while we waited
	}
	// Every download is in the debug trace (nil: http.DefaultClient's
	// settings).
	client = httplog.Client(client)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading %s: %s", rawURL, resp.Status)
	}
	tmp, err := os.CreateTemp(cacheDir, "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return "", err
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	h := sha256.New()
	w := io.MultiWriter(tmp, h)
	var done int64
	buf := make([]byte, 1<<20)
	var last time.Time
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return "", fmt.Errorf("writing %s: %w", tmpName, err)
			}
			done += int64(n)
			if progress != nil && time.Since(last) > 200*time.Millisecond {
				progress(done, resp.ContentLength)
				last = time.Now()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("downloading %s: %w", rawURL, rerr)
		}
	}
	if progress != nil {
		progress(done, resp.ContentLength)
	}
	if resp.ContentLength >= 0 && done != resp.ContentLength {
		return "", fmt.Errorf("downloading %s: got %d of %d bytes", rawURL, done, resp.ContentLength)
	}
	if got := hex.EncodeToString(h.Sum(nil)); sum != "" && got != sum {
		return "", fmt.Errorf("downloading %s: checksum mismatch: got sha256:%s, want sha256:%s", rawURL, got, sum)
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return "", err
	}
	ok = true
	_ = fsutil.SyncDir(cacheDir)
	return dst, nil
}

// FileSHA256 hashes a local file.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ImageInfo is what qemu-img reports about an image.
type ImageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

// QemuImgInfo runs qemu-img info on an image.
func QemuImgInfo(qemuImg, p string) (ImageInfo, error) {
	out, err := exec.Command(qemuImg, "info", "--output=json", "-U", p).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ImageInfo{}, fmt.Errorf("qemu-img info %s: %s", p, strings.TrimSpace(string(ee.Stderr)))
		}
		return ImageInfo{}, fmt.Errorf("qemu-img info %s: %w", p, err)
	}
	var info ImageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return ImageInfo{}, fmt.Errorf("qemu-img info %s: %w", p, err)
	}
	return info, nil
}

// CreateOverlay makes a qcow2 copy-on-write overlay of base.
func CreateOverlay(qemuImg, base, baseFormat, overlay string, sizeMB int) error {
	out, err := exec.Command(qemuImg, "create", "-q", "-f", "qcow2", "-F", baseFormat, "-b", base,
		overlay, fmt.Sprintf("%dM", sizeMB)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu-img create: %s", strings.TrimSpace(string(out)))
	}
	// qemu-img makes it 0644 whatever the umask; the guest writes keys
	// into it (the server key, its host keys).
	if err := os.Chmod(overlay, 0o600); err != nil {
		return fmt.Errorf("qemu-img create: %w", err)
	}
	return nil
}

// BootFiles are the kernel, initrd and command line next to a machine-os
// qcow2 (<base>.kernel, <base>.initrd, <base>.cmdline): the driver then
// boots the kernel directly instead of going through the firmware.
type BootFiles struct {
	Kernel, Initrd, Cmdline string
}

// DefaultKernelCmdline is used when an image has a kernel but no .cmdline.
const DefaultKernelCmdline = "console=ttyS0 root=/dev/vda rw quiet"

// FindBootFiles looks for the direct-boot files of a local image.
func FindBootFiles(image string) (BootFiles, bool) {
	stem := strings.TrimSuffix(image, filepath.Ext(image))
	b := BootFiles{Kernel: stem + ".kernel", Initrd: stem + ".initrd", Cmdline: DefaultKernelCmdline}
	for _, p := range []string{b.Kernel, b.Initrd} {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return BootFiles{}, false
		}
	}
	if data, err := os.ReadFile(stem + ".cmdline"); err == nil {
		if s := strings.TrimSpace(string(data)); s != "" {
			b.Cmdline = s
		}
	}
	return b, true
}

// ResolveLocalImage returns the absolute path of a local image; a
// directory stands for the machine-os.qcow2 inside it.
func ResolveLocalImage(p string) (string, error) {
	p = strings.TrimPrefix(p, "file://")
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", p, err)
	}
	if fi.IsDir() {
		abs = filepath.Join(abs, "machine-os.qcow2")
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("image directory %s has no machine-os.qcow2", p)
		}
	}
	return abs, nil
}
