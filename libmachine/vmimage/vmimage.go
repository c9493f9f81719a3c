// Package vmimage keeps the disk images VM drivers boot from in a
// store's cache: downloaded once, verified against a SHA-256 checksum,
// named so that a partial or corrupt download never looks complete, and
// never replaced once machines use them as backing files.
package vmimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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

// IsURL reports whether an image flag's value is a URL to download
// (else it is a local path).
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

// Verify checks that the local file p has the SHA-256 sum ("" accepts
// any file).
func Verify(p, sum string) error {
	if sum == "" {
		return nil
	}
	got, err := FileSHA256(p)
	if err != nil {
		return err
	}
	if got != sum {
		return fmt.Errorf("image %s has sha256:%s, not sha256:%s", p, got, sum)
	}
	return nil
}

// TerminalProgress draws a one-line progress bar of the download of
// rawURL for machine on w, a terminal.
func TerminalProgress(w io.Writer, machine, rawURL string) Progress {
	name := filepath.Base(rawURL)
	return func(done, total int64) {
		const mb = 1 << 20
		if total > 0 {
			pct := int(done * 100 / total)
			bar := strings.Repeat("=", pct/4) + strings.Repeat(" ", 25-pct/4)
			fmt.Fprintf(w, "\r(%s) %s [%s] %3d%% %d/%d MB", machine, name, bar, pct, done/mb, total/mb)
			if done >= total {
				fmt.Fprintln(w)
			}
			return
		}
		fmt.Fprintf(w, "\r(%s) %s %d MB", machine, name, done/mb)
	}
}
