package vmimage

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// TestFetchImageTrace: the download is in the debug trace, with the
// URL's secrets masked, whether or not the caller brought a client.
func TestFetchImageTrace(t *testing.T) {
	body := []byte("image")
	srv := newImageServer(t, body)
	cache := filepath.Join(t.TempDir(), "cache")
	for _, tc := range []struct {
		name string
		url  string
		use  func(url string) error
	}{
		{"default client", srv.URL + "/img/disk.qcow2?X-Amz-Signature=s3cr3t1", func(u string) error {
			_, err := FetchImage(context.Background(), nil, cache, u, "", nil)
			return err
		}},
		{"caller's client", srv.URL + "/other/disk.qcow2?X-Amz-Signature=s3cr3t2", func(u string) error {
			_, err := FetchImage(context.Background(), srv.Client(), cache, u, "", nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := len(log.History())
			require.NoError(t, tc.use(tc.url))
			trace := strings.Join(log.History()[from:], "\n")
			path := strings.TrimPrefix(tc.url[:strings.Index(tc.url, "?")], srv.URL)
			assert.Regexp(t, `http: GET `+regexp.QuoteMeta(srv.URL+path)+`\?X-Amz-Signature=<redacted> -> 200 OK in \S+`, trace)
			assert.NotContains(t, trace, "s3cr3t")
		})
	}
}
