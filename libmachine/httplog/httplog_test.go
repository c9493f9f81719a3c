package httplog

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// traced returns the http trace lines logged since from that mention s.
func traced(from int, s string) []string {
	var out []string
	for _, l := range log.History()[from:] {
		if strings.HasPrefix(l, "http: ") && strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

func TestTransportLogsRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/new?sig=s3cr3t&v=1", http.StatusFound)
		case "/new":
			fmt.Fprint(w, "image bytes")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://joe:pa55w0rd@", 1)

	from := len(log.History())
	c := Client(nil)
	resp, err := c.Get(u + "/old?access_token=tok123&page=2")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "image bytes", string(body), "the response passes through")

	resp, err = c.Head(srv.URL + "/missing")
	require.NoError(t, err)
	resp.Body.Close()

	lines := traced(from, srv.Listener.Addr().String())
	require.Len(t, lines, 3, "one line per round trip, the redirect hop included:\n%s", strings.Join(lines, "\n"))
	host := regexp.QuoteMeta(srv.Listener.Addr().String())
	assert.Regexp(t, `^http: GET http://joe:<redacted>@`+host+`/old\?access_token=<redacted>&page=2 -> 302 Found in \S+$`, lines[0])
	// net/http keeps the userinfo on a redirect to the same host.
	assert.Regexp(t, `^http: GET http://joe:<redacted>@`+host+`/new\?sig=<redacted>&v=1 -> 200 OK in \S+$`, lines[1])
	assert.Regexp(t, `^http: HEAD http://`+host+`/missing -> 404 Not Found in \S+$`, lines[2])
	all := strings.Join(log.History()[from:], "\n")
	for _, secret := range []string{"pa55w0rd", "tok123", "s3cr3t"} {
		assert.NotContains(t, all, secret)
	}
	for _, l := range lines {
		d := regexp.MustCompile(` in (\S+)$`).FindStringSubmatch(l)[1]
		_, err := time.ParseDuration(d)
		assert.NoError(t, err, l)
	}
}

func TestTransportLogsErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	from := len(log.History())
	_, err = Client(&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/_ping")
	require.Error(t, err)
	lines := traced(from, addr)
	require.Len(t, lines, 1)
	assert.Regexp(t, `^http: GET http://`+regexp.QuoteMeta(addr)+`/_ping -> error in \S+: dial tcp `+regexp.QuoteMeta(addr)+`: .*connection refused$`, lines[0])
}

func TestLog(t *testing.T) {
	from := len(log.History())
	start := time.Now().Add(-1500 * time.Millisecond)
	Log("GET", "https://127.0.0.1:2376/version", start, "200 OK", errors.New("decoding /version: unexpected EOF"))
	Log("GET", "https://127.0.0.1:2376/version", start, "", errors.New("remote error: tls: bad certificate"))
	lines := traced(from, "127.0.0.1:2376/version")
	require.Len(t, lines, 2)
	assert.Regexp(t, `^http: GET https://127\.0\.0\.1:2376/version -> 200 OK in 1\.5\d*s: decoding /version: unexpected EOF$`, lines[0])
	assert.Regexp(t, `^http: GET https://127\.0\.0\.1:2376/version -> error in 1\.5\d*s: remote error: tls: bad certificate$`, lines[1])
}

func TestWrapping(t *testing.T) {
	orig := &http.Client{Timeout: time.Minute}
	c := Client(orig)
	assert.Nil(t, orig.Transport, "the caller's client is not changed")
	assert.Equal(t, time.Minute, c.Timeout)
	assert.Same(t, c.Transport, Transport(c.Transport), "no double logging")
	assert.Same(t, c.Transport, Client(c).Transport)
	base := &http.Transport{}
	assert.Same(t, base, Transport(base).(*transport).base)
	assert.Same(t, http.DefaultTransport, Transport(nil).(*transport).base)
}
