// Package b2d handles boot2docker ISOs as the original Docker Machine
// did for its VirtualBox (and Hyper-V, Fusion, vSphere) drivers: the
// latest release found through the GitHub releases API (optionally with
// a token), downloaded into <store>/cache with the original's percentage
// line, atomically and once, the version of a cached ISO read from its
// volume ID, and the "boot2docker, please format-me" disk that carries
// the SSH key into a new VM.
//
// boot2docker was archived in 2020 (last release v19.03.12); machines
// still use it through --virtualbox-boot2docker-url.
package b2d

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/httplog"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/vmimage"
)

// DefaultReleasesURL is the releases API of boot2docker (tests point it
// at a fake).
var DefaultReleasesURL = "https://api.github.com/repos/boot2docker/boot2docker/releases"

const (
	// ISOFilename is the ISO's name in the cache and machine directories.
	ISOFilename = "boot2docker.iso"
	// volumeIDOffset and volumeIDLength locate the volume identifier of
	// an ISO 9660 image ("Boot2Docker-v19.03.12", space padded).
	volumeIDOffset = 0x8028
	volumeIDLength = 32
	versionPrefix  = "-v"
	// apiTimeout bounds one releases API request.
	apiTimeout = 30 * time.Second
)

// ErrGitHubAPIResponse is the original's text for a releases answer
// without a tag.
var ErrGitHubAPIResponse = errors.New("failure getting a version tag from the Github API response (are you getting rate limited by Github?)")

// aufsBugVersions are releases with a known AUFS bug (the original's
// warning).
var aufsBugVersions = map[string]string{
	"v1.9.1": "https://github.com/docker/docker/issues/18180",
}

var (
	tokenMu  sync.Mutex
	tokenVal string
	tokenSet bool
)

// SetAPIToken sets the token sent to the GitHub API (the global
// --github-api-token); it is never logged.
func SetAPIToken(token string) {
	tokenMu.Lock()
	tokenVal, tokenSet = token, true
	tokenMu.Unlock()
}

// apiToken is the token set, else $MACHINE_GITHUB_API_TOKEN (the flag's
// variable: a plugin process inherits it from its client).
func apiToken() string {
	tokenMu.Lock()
	defer tokenMu.Unlock()
	if tokenSet && tokenVal != "" {
		return tokenVal
	}
	return os.Getenv("MACHINE_GITHUB_API_TOKEN")
}

// reReleasesAPI matches GitHub's and GitHub Enterprise's (/api/v3)
// releases API URLs.
var reReleasesAPI = regexp.MustCompile(`^(https?)://([^/]+)(/api/v3)?/repos/([^/]+)/([^/]+)/releases/?$`)

// IsReleasesAPI reports whether u is a GitHub releases API URL.
func IsReleasesAPI(u string) bool { return reReleasesAPI.MatchString(u) }

// Cache is a store's ISO cache.
type Cache struct {
	// Dir is <store>/cache.
	Dir string
	// Client makes the requests (nil: proxies from the environment, no
	// keep-alive, as the original).
	Client *http.Client
	// Progress receives the download's percentage line (nil: none).
	Progress io.Writer
	// Prefix starts every log line, e.g. "(default) ".
	Prefix string
}

func (c *Cache) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}
}

// DefaultPath is <Dir>/boot2docker.iso, the ISO of machines created
// without a URL (the original's default).
func (c *Cache) DefaultPath() string { return filepath.Join(c.Dir, ISOFilename) }

func (c *Cache) ensureDir() error {
	if _, err := os.Stat(c.Dir); errors.Is(err, os.ErrNotExist) {
		log.Infof("%sImage cache directory does not exist, creating it at %s...", c.Prefix, c.Dir)
		return os.MkdirAll(c.Dir, 0o700)
	} else if err != nil {
		return err
	}
	return nil
}

// LatestTag asks a releases API for the latest release's tag.
func (c *Cache) LatestTag(ctx context.Context, apiURL string) (string, error) {
	if apiURL == "" {
		apiURL = DefaultReleasesURL
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(apiURL, "/")+"/latest", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "docker-machine")
	if t := apiToken(); t != "" {
		req.Header.Set("Authorization", "token "+t)
	}
	resp, err := httplog.Client(c.client()).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var rel struct {
		TagName string `json:"tag_name"`
		Message string `json:"message"`
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	if err := dec.Decode(&rel); err != nil && resp.StatusCode == http.StatusOK {
		return "", fmt.Errorf("%w: %v", ErrGitHubAPIResponse, err)
	}
	if resp.StatusCode != http.StatusOK || rel.TagName == "" {
		detail := resp.Status
		if rel.Message != "" {
			detail += ": " + rel.Message
		}
		return "", fmt.Errorf("%w\n(%s answered %s)", ErrGitHubAPIResponse, apiHost(apiURL), detail)
	}
	return rel.TagName, nil
}

func apiHost(apiURL string) string {
	if u, err := url.Parse(apiURL); err == nil {
		return u.Host
	}
	return "the releases API"
}

// ReleaseURL turns a releases API URL into the download URL of its
// latest release's ISO; any other URL is returned as it is.
func (c *Cache) ReleaseURL(ctx context.Context, apiURL string) (string, string, error) {
	if !IsReleasesAPI(apiURL) {
		return apiURL, "", nil
	}
	tag, err := c.LatestTag(ctx, apiURL)
	if err != nil {
		return "", "", err
	}
	dl, repo := downloadURL(apiURL, tag)
	log.Infof("%sLatest release for %s is %s", c.Prefix, repo, tag)
	if bug, ok := aufsBugVersions[tag]; ok {
		log.Warnf("%s\nBoot2Docker %s has a known issue with AUFS.\nSee here for more details: %s\nConsider specifying another storage driver (e.g. 'overlay') using '--engine-storage-driver' instead.\n", c.Prefix, tag, bug)
	}
	return dl, tag, nil
}

// downloadURL is the ISO's URL in the release tag of the repository a
// releases API URL names, and the repository (host/owner/repo): on
// github.com for api.github.com, on the same host for GitHub Enterprise.
func downloadURL(apiURL, tag string) (string, string) {
	m := reReleasesAPI.FindStringSubmatch(apiURL)
	scheme, host, org, repo := m[1], m[2], m[4], m[5]
	if host == "api.github.com" {
		host = "github.com"
	}
	return fmt.Sprintf("%s://%s/%s/%s/releases/download/%s/%s", scheme, host, org, repo, tag, ISOFilename), host + "/" + org + "/" + repo
}

// DefaultISO makes <Dir>/boot2docker.iso the latest boot2docker release
// (the original's cache of machines created without a URL): downloaded
// when missing or older than the latest release; kept when the latest
// release cannot be asked for. It returns the ISO's path.
func (c *Cache) DefaultISO(ctx context.Context) (string, error) {
	if err := c.ensureDir(); err != nil {
		return "", err
	}
	dst := c.DefaultPath()
	if _, err := os.Stat(dst); err != nil {
		log.Infof("%sNo default Boot2Docker ISO found locally, downloading the latest release...", c.Prefix)
		return dst, c.downloadLatest(ctx, dst)
	}
	local, err := Version(dst)
	if err != nil {
		log.Warnf("%sUnable to get the local Boot2Docker ISO version: %s", c.Prefix, err)
	}
	latest, lerr := c.LatestTag(ctx, DefaultReleasesURL)
	if lerr != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		log.Warnf("%sUnable to get the latest Boot2Docker ISO release version: %s", c.Prefix, lerr)
		return dst, nil
	}
	if err == nil && local == latest {
		return dst, nil
	}
	if err == nil {
		log.Infof("%sDefault Boot2Docker ISO is out-of-date (%s, the latest release is %s), downloading the latest release...", c.Prefix, local, latest)
	} else {
		log.Infof("%sDefault Boot2Docker ISO is out-of-date, downloading the latest release...", c.Prefix)
	}
	return dst, c.downloadLatest(ctx, dst)
}

func (c *Cache) downloadLatest(ctx context.Context, dst string) error {
	u, _, err := c.ReleaseURL(ctx, DefaultReleasesURL)
	if err != nil {
		return err
	}
	p, err := c.fetch(ctx, u, dst)
	if err != nil {
		return err
	}
	return replace(p, dst)
}

// ISO returns a local file holding the ISO at isoURL: for a releases API
// URL its latest release, for an http(s) URL that file, both downloaded
// into the cache once; a file:// URL or a path is used where it is.
func (c *Cache) ISO(ctx context.Context, isoURL string) (string, error) {
	if isoURL == "" {
		return c.DefaultISO(ctx)
	}
	u, err := url.Parse(isoURL)
	if err != nil {
		return "", fmt.Errorf("boot2docker URL %q: %w", isoURL, err)
	}
	switch u.Scheme {
	case "", "file":
		p := isoURL
		if u.Scheme == "file" {
			p = u.Path
		}
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	case "http", "https":
	default:
		return "", fmt.Errorf("boot2docker URL %q: unsupported scheme %q", isoURL, u.Scheme)
	}
	if err := c.ensureDir(); err != nil {
		return "", err
	}
	dl, _, err := c.ReleaseURL(ctx, isoURL)
	if err != nil {
		// The releases API failed (GitHub's rate limit, no network):
		// the release found last time, when it is still cached.
		if last := c.lastRelease(isoURL); last != "" && ctx.Err() == nil {
			if p := vmimage.CachedImagePath(c.Dir, last, ""); fileExists(p) {
				log.Warnf("%sUnable to get the latest release from %s, using %s, downloaded before: %v", c.Prefix, isoURL, last, err)
				return p, nil
			}
		}
		return "", err
	}
	if dl != isoURL {
		c.recordRelease(isoURL, dl)
	}
	cached := vmimage.CachedImagePath(c.Dir, dl, "")
	if fileExists(cached) {
		log.Debugf("%sboot2docker: %s is cached as %s", c.Prefix, dl, cached)
		return cached, nil
	}
	return c.fetch(ctx, dl, cached)
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// releaseRecord is where the download URL last found through a
// releases API URL is kept.
func (c *Cache) releaseRecord(apiURL string) string {
	return vmimage.CachedImagePath(c.Dir, apiURL, "") + ".latest"
}

func (c *Cache) lastRelease(apiURL string) string {
	if !IsReleasesAPI(apiURL) {
		return ""
	}
	b, err := os.ReadFile(c.releaseRecord(apiURL))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (c *Cache) recordRelease(apiURL, dl string) {
	tmp := c.releaseRecord(apiURL) + ".tmp"
	if os.WriteFile(tmp, []byte(dl+"\n"), 0o644) == nil {
		_ = os.Rename(tmp, c.releaseRecord(apiURL))
	}
}

// fetch downloads u into the cache (named for u), showing the original's
// percentage line, and returns the cached file.
func (c *Cache) fetch(ctx context.Context, u, shown string) (string, error) {
	log.Infof("%sDownloading %s from %s...", c.Prefix, shown, u)
	var progress vmimage.Progress
	if c.Progress != nil {
		progress = Percentages(c.Progress)
	}
	return vmimage.FetchImage(ctx, c.client(), c.Dir, u, "", progress)
}

// replace puts the content of src at dst atomically: a hard link (or a
// copy) under a temporary name, renamed over dst.
func replace(src, dst string) error {
	if src == dst {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dst, os.Getpid())
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		if err := CopyFile(src, tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// CopyFile copies src to dst atomically (temporary file, then rename).
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(out.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(out.Name(), dst)
	}
	if err != nil {
		os.Remove(out.Name())
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}

// Version reads the release of a boot2docker ISO from its volume ID
// ("Boot2Docker-v19.03.12" gives "v19.03.12").
func Version(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, volumeIDLength)
	if _, err := f.ReadAt(b, volumeIDOffset); err != nil {
		return "", fmt.Errorf("reading the volume ID of %s: %w", path, err)
	}
	id := strings.TrimSpace(string(b))
	i := strings.Index(id, versionPrefix)
	if i < 0 {
		return "", fmt.Errorf("Did not find prefix %q in version string", versionPrefix)
	}
	return id[i+1:], nil
}

// VolumeID reads an ISO's volume identifier.
func VolumeID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, volumeIDLength)
	if _, err := f.ReadAt(b, volumeIDOffset); err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), " \x00"), nil
}

// Percentages returns a progress function that draws the original's
// line on w: the percentage at every 10 %, a dot at every 2 % between,
// and a newline at the end ("0%....10%....20%....…100%"). A download of
// unknown length draws nothing.
func Percentages(w io.Writer) vmimage.Progress {
	next := int64(0)
	return func(done, total int64) {
		if total <= 0 || next > 100 {
			return
		}
		pct := done * 100 / total
		for pct >= next && next <= 100 {
			if next%10 == 0 {
				fmt.Fprintf(w, "%d%%", next)
			} else {
				fmt.Fprint(w, ".")
			}
			next += 2
		}
		if done >= total {
			fmt.Fprintln(w)
			next = 101
		}
	}
}
