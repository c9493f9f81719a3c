package vmimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
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
		case "/stall/disk.qcow2":
			// Send half, then nothing until the client goes away.
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
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

// TestFetchImageHonoursContext: the download stops when its context
// ends, before or while the body arrives, and leaves no image.
func TestFetchImageHonoursContext(t *testing.T) {
	body := []byte(strings.Repeat("z", 1<<20))
	srv := newImageServer(t, body)
	cache := t.TempDir()
	url := srv.URL + "/stall/disk.qcow2"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first progress report comes with the first bytes.
	_, err := FetchImage(ctx, srv.Client(), cache, url, "", func(int64, int64) { cancel() })
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, onlyImages(t, cache))

	hits := srv.hits.Load()
	_, err = FetchImage(ctx, srv.Client(), cache, srv.URL+"/img/disk.qcow2", "", nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, hits, srv.hits.Load(), "no request once ctx ended")
	assert.Empty(t, onlyImages(t, cache))
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

func TestVerify(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk.qcow2")
	require.NoError(t, os.WriteFile(p, []byte("image"), 0o600))
	got, err := FileSHA256(p)
	require.NoError(t, err)
	assert.Equal(t, sha([]byte("image")), got)
	assert.NoError(t, Verify(p, sha([]byte("image"))))
	assert.NoError(t, Verify(p, ""), "no checksum, no check")
	assert.ErrorContains(t, Verify(p, sha([]byte("other"))), "has sha256:"+got+", not sha256:"+sha([]byte("other")))
	assert.Error(t, Verify(filepath.Join(t.TempDir(), "missing"), sha([]byte("image"))))
}

func TestTerminalProgress(t *testing.T) {
	var b strings.Builder
	p := TerminalProgress(&b, "m", "https://example.com/img/disk.qcow2")
	p(0, 4<<20)
	p(2<<20, 4<<20)
	p(4<<20, 4<<20)
	assert.Equal(t, "\r(m) disk.qcow2 [                         ]   0% 0/4 MB"+
		"\r(m) disk.qcow2 [============             ]  50% 2/4 MB"+
		"\r(m) disk.qcow2 [=========================] 100% 4/4 MB\n", b.String())
	b.Reset()
	p(3<<20, -1)
	assert.Equal(t, "\r(m) disk.qcow2 3 MB", b.String(), "unknown size")
}
