package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// imageServer serves fake images on 127.0.0.1 and counts requests.
type imageServer struct {
	*httptest.Server
	hits  atomic.Int32
	block chan struct{} // when set, /slow waits on it
}

func newImageServer(t *testing.T, body []byte) *imageServer {
	t.Helper()
	s := &imageServer{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		switch r.URL.Path {
		case "/img/disk.qcow2", "/other/disk.qcow2":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		case "/slow/disk.qcow2":
			<-s.block
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		case "/truncated/disk.qcow2":
			// Promise more than is sent, then drop the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(body)*2))
			w.Write(body)
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
		default:
			http.NotFound(w, r)
		}
	}))
	s.Server.Listener.Close()
	s.Server.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// onlyImages lists the cache's files that look complete (no temp or lock files).
func onlyImages(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ".lock") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestFetchImageDownloadsOnceAndVerifies(t *testing.T) {
	body := []byte(strings.Repeat("QFI\xfb image bytes ", 100000))
	srv := newImageServer(t, body)
	cache := filepath.Join(t.TempDir(), "cache")
	url := srv.URL + "/img/disk.qcow2"

	p, err := FetchImage(context.Background(), srv.Client(), cache, url, sha(body), nil)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(cache, sha(body)[:12]+"-disk.qcow2"), p)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, body, got)
	assert.Equal(t, int32(1), srv.hits.Load())

	// Reused: no second request.
	p2, err := FetchImage(context.Background(), srv.Client(), cache, url, sha(body), nil)
	require.NoError(t, err)
	assert.Equal(t, p, p2)
	assert.Equal(t, int32(1), srv.hits.Load())

	// Without a checksum the file is named after the URL.
	var calls int
	p3, err := FetchImage(context.Background(), srv.Client(), cache, url, "", func(done, total int64) {
		calls++
		assert.LessOrEqual(t, done, total)
	})
	require.NoError(t, err)
	assert.NotEqual(t, p, p3)
	assert.Positive(t, calls, "progress reported")
	assert.ElementsMatch(t, []string{filepath.Base(p), filepath.Base(p3)}, onlyImages(t, cache))
}

func TestFetchImageChecksumMismatchLeavesNothing(t *testing.T) {
	body := []byte("not the image you expected")
	srv := newImageServer(t, body)
	cache := t.TempDir()
	wrong := sha([]byte("something else"))
	_, err := FetchImage(context.Background(), srv.Client(), cache, srv.URL+"/img/disk.qcow2", wrong, nil)
	require.ErrorContains(t, err, "checksum mismatch")
	assert.Empty(t, onlyImages(t, cache))
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".part-", "temporary file removed")
	}
}

func TestFetchImagePartialDownloadNeverLooksComplete(t *testing.T) {
	body := []byte(strings.Repeat("x", 1<<16))
	srv := newImageServer(t, body)
	cache := t.TempDir()
	url := srv.URL + "/truncated/disk.qcow2"
	_, err := FetchImage(context.Background(), srv.Client(), cache, url, "", nil)
	require.Error(t, err)
	assert.NoFileExists(t, CachedImagePath(cache, url, ""))
	assert.Empty(t, onlyImages(t, cache))

	_, err = FetchImage(context.Background(), srv.Client(), cache, srv.URL+"/missing.qcow2", "", nil)
	assert.ErrorContains(t, err, "404")
}

func TestFetchImageConcurrentCreatesShareOneDownload(t *testing.T) {
	body := []byte(strings.Repeat("y", 1<<20))
	srv := newImageServer(t, body)
	srv.block = make(chan struct{})
	cache := t.TempDir()
	url := srv.URL + "/slow/disk.qcow2"
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := FetchImage(context.Background(), srv.Client(), cache, url, sha(body), nil)
			assert.NoError(t, err)
			paths[i] = p
		}()
	}
	// While the first download hangs, no complete file exists.
	for srv.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	assert.NoFileExists(t, CachedImagePath(cache, url, sha(body)))
	close(srv.block)
	wg.Wait()
	for _, p := range paths {
		assert.Equal(t, paths[0], p)
	}
	assert.Equal(t, int32(1), srv.hits.Load(), "the others waited for the first download")
}

func TestParseChecksum(t *testing.T) {
	h := sha([]byte("x"))
	for _, in := range []string{h, "sha256:" + h, strings.ToUpper(h), " sha256:" + h + " "} {
		got, err := ParseChecksum(in)
		require.NoError(t, err, in)
		assert.Equal(t, h, got)
	}
	got, err := ParseChecksum("")
	require.NoError(t, err)
	assert.Empty(t, got)
	for _, in := range []string{"md5:abc", h[:63], "sha512:" + h} {
		_, err := ParseChecksum(in)
		assert.Error(t, err, in)
	}
}

func TestOverlayAndBootFiles(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "machine-os.qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", base, "64M").CombinedOutput()
	require.NoError(t, err, string(out))
	info, err := QemuImgInfo("qemu-img", base)
	require.NoError(t, err)
	assert.Equal(t, ImageInfo{Format: "qcow2", VirtualSize: 64 << 20}, info)

	overlay := filepath.Join(dir, "disk.qcow2")
	require.NoError(t, CreateOverlay("qemu-img", base, "qcow2", overlay, 128))
	info, err = QemuImgInfo("qemu-img", overlay)
	require.NoError(t, err)
	assert.Equal(t, int64(128<<20), info.VirtualSize)
	fi, err := os.Stat(overlay)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the guest writes keys into its disk")

	_, ok := FindBootFiles(base)
	assert.False(t, ok)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "machine-os.kernel"), []byte("k"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "machine-os.initrd"), []byte("i"), 0o644))
	b, ok := FindBootFiles(base)
	require.True(t, ok)
	assert.Equal(t, DefaultKernelCmdline, b.Cmdline)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "machine-os.cmdline"), []byte("console=ttyS0 root=/dev/vda quiet\n"), 0o644))
	b, _ = FindBootFiles(base)
	assert.Equal(t, BootFiles{Kernel: filepath.Join(dir, "machine-os.kernel"), Initrd: filepath.Join(dir, "machine-os.initrd"), Cmdline: "console=ttyS0 root=/dev/vda quiet"}, b)

	// A directory stands for the machine-os.qcow2 in it.
	p, err := ResolveLocalImage(dir)
	require.NoError(t, err)
	assert.Equal(t, base, p)
	_, err = ResolveLocalImage(filepath.Join(dir, "missing.qcow2"))
	assert.Error(t, err)
}
