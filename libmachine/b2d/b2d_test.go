package b2d

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakegithub"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
)

const repo = "boot2docker/boot2docker"

// iso is a boot2docker-like ISO: an ISO 9660 image with boot2docker's
// volume ID, padded to size bytes.
func iso(t *testing.T, version string, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, nocloud.WriteISO(&b, "Boot2Docker-"+version, []nocloud.ISOFile{{Name: "version", Data: []byte(version)}}, time.Unix(1600000000, 0)))
	if b.Len() < size {
		b.Write(make([]byte, size-b.Len()))
	}
	return b.Bytes()
}

// logged captures the log lines (debug included) of the test.
func logged(t *testing.T) *syncBuffer {
	b := &syncBuffer{}
	log.SetOutput(b, b)
	log.SetDebug(true)
	t.Cleanup(func() {
		log.SetOutput(os.Stdout, os.Stderr)
		log.SetDebug(false)
	})
	return b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// defaultAt points the default releases API at the fake.
func defaultAt(t *testing.T, gh *fakegithub.Server) {
	old := DefaultReleasesURL
	DefaultReleasesURL = gh.APIURL(repo)
	t.Cleanup(func() { DefaultReleasesURL = old })
}

func newCache(t *testing.T) (*Cache, *bytes.Buffer) {
	var progress bytes.Buffer
	return &Cache{Dir: filepath.Join(t.TempDir(), "cache"), Progress: &progress, Prefix: "(m) "}, &progress
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// tmpFiles lists what is in the cache besides the finished files.
func partials(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".part-") || strings.Contains(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestVersion(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "b.iso")
	require.NoError(t, os.WriteFile(p, iso(t, "v19.03.12", 0), 0o644))
	v, err := Version(p)
	require.NoError(t, err)
	assert.Equal(t, "v19.03.12", v)
	id, err := VolumeID(p)
	require.NoError(t, err)
	assert.Equal(t, "Boot2Docker-v19.03.12", id)

	var b bytes.Buffer
	require.NoError(t, nocloud.WriteISO(&b, "cidata", nil, time.Now()))
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o644))
	_, err = Version(p)
	assert.EqualError(t, err, `Did not find prefix "-v" in version string`)
	require.NoError(t, os.WriteFile(p, []byte("short"), 0o644))
	_, err = Version(p)
	assert.Error(t, err)
}

// No default ISO in the cache: the cache directory is made, the latest
// release looked up and downloaded with the original's percentage line,
// atomically; the next create reuses it after one API request.
func TestDefaultISODownloadAndReuse(t *testing.T) {
	gh := fakegithub.New(t)
	defaultAt(t, gh)
	gh.Publish(repo, "v19.03.12", map[string][]byte{"boot2docker.iso": iso(t, "v19.03.12", 1<<20)})
	out := logged(t)
	c, progress := newCache(t)
	p, err := c.DefaultISO(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(c.Dir, "boot2docker.iso"), p)
	v, err := Version(p)
	require.NoError(t, err)
	assert.Equal(t, "v19.03.12", v)
	fi, err := os.Stat(c.Dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	text := out.String()
	for _, l := range []string{
		"(m) Image cache directory does not exist, creating it at " + c.Dir + "...",
		"(m) No default Boot2Docker ISO found locally, downloading the latest release...",
		"(m) Latest release for " + strings.TrimPrefix(gh.URL, "http://") + "/boot2docker/boot2docker is v19.03.12",
		"(m) Downloading " + p + " from " + gh.DownloadURL(repo, "v19.03.12", "boot2docker.iso") + "...",
	} {
		assert.Contains(t, text, l+"\n")
	}
	assert.Equal(t, "0%....10%....20%....30%....40%....50%....60%....70%....80%....90%....100%\n", progress.String())
	assert.Empty(t, partials(t, c.Dir))

	// Up to date: one API request, no download.
	before := len(gh.Requests())
	progress.Reset()
	_, err = c.DefaultISO(ctx(t))
	require.NoError(t, err)
	reqs := gh.Requests()[before:]
	require.Len(t, reqs, 1)
	assert.Equal(t, "/api/v3/repos/boot2docker/boot2docker/releases/latest", reqs[0].Path)
	assert.Empty(t, progress.String())
}

// A cached ISO older than the latest release is noted and replaced.
func TestDefaultISOOutOfDate(t *testing.T) {
	gh := fakegithub.New(t)
	defaultAt(t, gh)
	gh.Publish(repo, "v19.03.5", map[string][]byte{"boot2docker.iso": iso(t, "v19.03.5", 300<<10)})
	c, _ := newCache(t)
	_, err := c.DefaultISO(ctx(t))
	require.NoError(t, err)
	gh.Publish(repo, "v19.03.12", map[string][]byte{"boot2docker.iso": iso(t, "v19.03.12", 300<<10)})
	out := logged(t)
	p, err := c.DefaultISO(ctx(t))
	require.NoError(t, err)
	assert.Contains(t, out.String(), "(m) Default Boot2Docker ISO is out-of-date (v19.03.5, the latest release is v19.03.12), downloading the latest release...\n")
	v, _ := Version(p)
	assert.Equal(t, "v19.03.12", v)
	assert.Empty(t, partials(t, c.Dir))
}

// The releases API cannot be asked (GitHub's rate limit): the cached
// ISO is used, with the original's warning and GitHub's answer.
func TestDefaultISOAPIUnavailable(t *testing.T) {
	gh := fakegithub.New(t)
	defaultAt(t, gh)
	gh.Publish(repo, "v19.03.12", map[string][]byte{"boot2docker.iso": iso(t, "v19.03.12", 1024)})
	c, _ := newCache(t)
	_, err := c.DefaultISO(ctx(t))
	require.NoError(t, err)
	gh.RequireToken("s3cr3t-t0ken-value", 0)
	out := logged(t)
	p, err := c.DefaultISO(ctx(t))
	require.NoError(t, err)
	assert.FileExists(t, p)
	assert.Contains(t, out.String(), "(m) Unable to get the latest Boot2Docker ISO release version: failure getting a version tag from the Github API response (are you getting rate limited by Github?)\n("+strings.TrimPrefix(gh.URL, "http://")+" answered 403 Forbidden: API rate limit exceeded for 127.0.0.1.")

	// No ISO and no API: the create fails before anything exists.
	c2, _ := newCache(t)
	_, err = c2.DefaultISO(ctx(t))
	require.ErrorIs(t, err, ErrGitHubAPIResponse)
	assert.True(t, strings.HasPrefix(err.Error(), "failure getting a version tag from the Github API response (are you getting rate limited by Github?)"))
}

// --github-api-token goes to the API as the original sent it, and never
// into logs or errors.
func TestAPIToken(t *testing.T) {
	const token = "ghp_0123456789abcdefTOKEN"
	gh := fakegithub.New(t)
	gh.Publish(repo, "v19.03.12", map[string][]byte{"boot2docker.iso": iso(t, "v19.03.12", 1024)})
	gh.RequireToken(token, 0)
	out := logged(t)
	c, _ := newCache(t)
	_, err := c.ISO(ctx(t), gh.APIURL(repo))
	require.ErrorIs(t, err, ErrGitHubAPIResponse, "anonymous: rate limited")

	SetAPIToken(token)
	t.Cleanup(func() { SetAPIToken("") })
	p, err := c.ISO(ctx(t), gh.APIURL(repo))
	require.NoError(t, err)
	assert.FileExists(t, p)
	reqs := gh.Requests()
	assert.True(t, reqs[len(reqs)-2].Token, "the API request carries the token")
	assert.False(t, reqs[len(reqs)-1].Token, "the download does not")

	SetAPIToken("wrong-" + token)
	_, err = c.ISO(ctx(t), gh.APIURL(repo))
	require.NoError(t, err, "the cached release serves when the API refuses")
	assert.Contains(t, out.String(), "401 Unauthorized: Bad credentials")
	assert.NotContains(t, out.String(), token)

	// From the environment (a plugin process inherits it).
	SetAPIToken("")
	t.Setenv("MACHINE_GITHUB_API_TOKEN", token)
	tag, err := c.LatestTag(ctx(t), gh.APIURL(repo))
	require.NoError(t, err)
	assert.Equal(t, "v19.03.12", tag)
}

// A releases API URL as --virtualbox-boot2docker-url: its latest release,
// downloaded into the cache once; a new release is downloaded when it
// appears; when the API fails, the release found before serves.
func TestCustomReleasesURL(t *testing.T) {
	gh := fakegithub.New(t)
	gh.Publish("me/b2d", "v1.0.0", map[string][]byte{"boot2docker.iso": iso(t, "v1.0.0", 2048)})
	out := logged(t)
	c, _ := newCache(t)
	p1, err := c.ISO(ctx(t), gh.APIURL("me/b2d"))
	require.NoError(t, err)
	v, _ := Version(p1)
	assert.Equal(t, "v1.0.0", v)
	assert.Contains(t, out.String(), "(m) Latest release for "+strings.TrimPrefix(gh.URL, "http://")+"/me/b2d is v1.0.0\n")
	downloads := func() int {
		n := 0
		for _, r := range gh.Requests() {
			if strings.Contains(r.Path, "/releases/download/") {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 1, downloads())
	p2, err := c.ISO(ctx(t), gh.APIURL("me/b2d"))
	require.NoError(t, err)
	assert.Equal(t, p1, p2)
	assert.Equal(t, 1, downloads(), "reused")

	gh.Publish("me/b2d", "v1.1.0", map[string][]byte{"boot2docker.iso": iso(t, "v1.1.0", 2048)})
	p3, err := c.ISO(ctx(t), gh.APIURL("me/b2d"))
	require.NoError(t, err)
	v, _ = Version(p3)
	assert.Equal(t, "v1.1.0", v)
	assert.Equal(t, 2, downloads())

	gh.RequireToken("x", 0)
	p4, err := c.ISO(ctx(t), gh.APIURL("me/b2d"))
	require.NoError(t, err)
	assert.Equal(t, p3, p4)
	assert.Contains(t, out.String(), "(m) Unable to get the latest release from "+gh.APIURL("me/b2d")+", using "+gh.DownloadURL("me/b2d", "v1.1.0", "boot2docker.iso")+", downloaded before")
}

func TestDirectAndLocalURLs(t *testing.T) {
	gh := fakegithub.New(t)
	gh.Publish(repo, "v19.03.12", map[string][]byte{"boot2docker.iso": iso(t, "v19.03.12", 4096)})
	c, _ := newCache(t)
	u := gh.DownloadURL(repo, "v19.03.12", "boot2docker.iso")
	p, err := c.ISO(ctx(t), u)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(p, c.Dir+"/"), p)
	n := len(gh.Requests())
	p2, err := c.ISO(ctx(t), u)
	require.NoError(t, err)
	assert.Equal(t, p, p2)
	assert.Len(t, gh.Requests(), n, "a direct URL is downloaded once")

	local := filepath.Join(t.TempDir(), "mine.iso")
	require.NoError(t, os.WriteFile(local, iso(t, "v1", 0), 0o644))
	for _, u := range []string{local, "file://" + local} {
		p, err := c.ISO(ctx(t), u)
		require.NoError(t, err)
		assert.Equal(t, local, p)
	}
	_, err = c.ISO(ctx(t), filepath.Join(t.TempDir(), "missing.iso"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = c.ISO(ctx(t), "ftp://example.invalid/b2d.iso")
	assert.EqualError(t, err, `boot2docker URL "ftp://example.invalid/b2d.iso": unsupported scheme "ftp"`)
	_, err = c.ISO(ctx(t), gh.URL+"/missing/boot2docker.iso")
	assert.ErrorContains(t, err, "404 Not Found")
}

// An interrupted download leaves no ISO and no partial file: the next
// create starts over.
func TestInterruptedDownload(t *testing.T) {
	gh := fakegithub.New(t)
	defaultAt(t, gh)
	gh.Publish(repo, "v19.03.12", map[string][]byte{"boot2docker.iso": iso(t, "v19.03.12", 1<<20)})
	gh.Hold()
	c, _ := newCache(t)
	cx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted")
	done := make(chan error, 1)
	go func() { _, err := c.DefaultISO(cx); done <- err }()
	// Wait until the download has started.
	for i := 0; ; i++ {
		if n := gh.Requests(); len(n) > 0 && strings.Contains(n[len(n)-1].Path, "/download/") {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("DefaultISO returned before downloading: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel(cause)
	select {
	case err := <-done:
		require.ErrorIs(t, err, cause)
	case <-time.After(10 * time.Second):
		t.Fatal("the download did not stop")
	}
	assert.NoFileExists(t, c.DefaultPath())
	assert.Empty(t, partials(t, c.Dir))
}

func TestAUFSWarning(t *testing.T) {
	gh := fakegithub.New(t)
	gh.Publish(repo, "v1.9.1", map[string][]byte{"boot2docker.iso": iso(t, "v1.9.1", 1024)})
	out := logged(t)
	c, _ := newCache(t)
	_, err := c.ISO(ctx(t), gh.APIURL(repo))
	require.NoError(t, err)
	assert.Contains(t, out.String(), "Boot2Docker v1.9.1 has a known issue with AUFS.\nSee here for more details: https://github.com/docker/docker/issues/18180")
}

func TestDownloadURL(t *testing.T) {
	for api, want := range map[string]string{
		"https://api.github.com/repos/boot2docker/boot2docker/releases":       "https://github.com/boot2docker/boot2docker/releases/download/v19.03.12/boot2docker.iso",
		"https://ghe.example.com/api/v3/repos/ops/b2d/releases":               "https://ghe.example.com/ops/b2d/releases/download/v19.03.12/boot2docker.iso",
		"http://127.0.0.1:8080/api/v3/repos/boot2docker/boot2docker/releases": "http://127.0.0.1:8080/boot2docker/boot2docker/releases/download/v19.03.12/boot2docker.iso",
	} {
		require.True(t, IsReleasesAPI(api), api)
		got, _ := downloadURL(api, "v19.03.12")
		assert.Equal(t, want, got)
	}
	assert.False(t, IsReleasesAPI("https://github.com/boot2docker/boot2docker/releases/download/v19.03.12/boot2docker.iso"))
}

func TestPercentages(t *testing.T) {
	var b bytes.Buffer
	p := Percentages(&b)
	for _, done := range []int64{0, 3, 15, 50, 51, 99, 100, 100} {
		p(done, 100)
	}
	assert.Equal(t, "0%....10%....20%....30%....40%....50%....60%....70%....80%....90%....100%\n", b.String())
	b.Reset()
	q := Percentages(&b)
	q(10, -1)
	q(20, -1)
	assert.Empty(t, b.String(), "unknown length: nothing")
}

// The start of a new boot2docker disk: the magic file first, then the
// key for the docker user, as boot2docker's automount expects.
func TestFormatMeTar(t *testing.T) {
	key := []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake m\n")
	b, err := FormatMeTar(key)
	require.NoError(t, err)
	tr := tar.NewReader(bytes.NewReader(b))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, _ := io.ReadAll(tr)
		got = append(got, h.Name+" "+h.FileInfo().Mode().String()+" "+string(data))
	}
	assert.Equal(t, []string{
		"boot2docker, please format-me -rw-r--r-- boot2docker, please format-me",
		".ssh drwx------ ",
		".ssh/authorized_keys -rw-r--r-- " + string(key),
		".ssh/authorized_keys2 -rw-r--r-- " + string(key),
	}, got)
	assert.Equal(t, FormatMeMagic, string(b[:len(FormatMeMagic)]), "the magic name is the disk's first bytes")
}
