package cert_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
)

// sessionPeer is a mutual-TLS server of a fresh CA on loopback, and the
// client material of that CA.
type sessionPeer struct {
	url      *url.URL
	material cert.Material
	resumed  chan bool
}

func newSessionPeer(t *testing.T) *sessionPeer {
	t.Helper()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	require.NoError(t, cert.GenerateCA(p("ca.pem"), p("ca-key.pem"), "test", cert.DefaultBits))
	require.NoError(t, cert.Generate(cert.Options{CertPath: p("server.pem"), KeyPath: p("server-key.pem"),
		CACertPath: p("ca.pem"), CAKeyPath: p("ca-key.pem"), Org: "test.server", Server: true, Hosts: []string{"127.0.0.1"}}))
	require.NoError(t, cert.Generate(cert.Options{CertPath: p("cert.pem"), KeyPath: p("key.pem"),
		CACertPath: p("ca.pem"), CAKeyPath: p("ca-key.pem"), Org: "test.client"}))
	pair, err := tls.LoadX509KeyPair(p("server.pem"), p("server-key.pem"))
	require.NoError(t, err)
	ca, err := cert.ReadCert(p("ca.pem"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	peer := &sessionPeer{
		url:      &url.URL{Scheme: "tcp", Host: l.Addr().String()},
		material: cert.Material{CACert: p("ca.pem"), ClientCert: p("cert.pem"), ClientKey: p("key.pem")},
		resumed:  make(chan bool, 16),
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if tc.Handshake() == nil {
				peer.resumed <- tc.ConnectionState().DidResume
				// Tickets go out with the first write after the handshake.
				tc.Write([]byte("x"))
			}
			tc.Close()
		}
	}()
	return peer
}

func (p *sessionPeer) material3(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range []string{p.material.CACert, p.material.ClientCert, p.material.ClientKey} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// dial checks the peer with the cache and returns whether the client
// resumed; it reads once so a new ticket is stored.
func (p *sessionPeer) dial(t *testing.T, c *cert.SessionCache, keyKnown bool) bool {
	t.Helper()
	cfg, err := cert.ValidClientTLS(p.material, p.url.Host, time.Now(), keyKnown)
	require.NoError(t, err)
	cfg.ClientSessionCache = c
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := cert.Dial(ctx, cfg, p.url)
	require.NoError(t, err)
	defer conn.Close()
	buf := make([]byte, 1)
	_, err = conn.Read(buf)
	require.NoError(t, err)
	resumed := conn.ConnectionState().DidResume
	assert.Equal(t, resumed, <-p.resumed, "client and server agree")
	return resumed
}

func TestSessionCacheResumesAcrossInstances(t *testing.T) {
	p := newSessionPeer(t)
	path := filepath.Join(t.TempDir(), "cache", "tls-sessions", "m")
	newCache := func() *cert.SessionCache { return cert.NewSessionCache(path, p.url.Host, p.material3(t)...) }

	first := newCache()
	assert.False(t, first.Has())
	assert.False(t, p.dial(t, first, false), "no session yet: full handshake")
	info, err := os.Stat(path)
	require.NoError(t, err, "the ticket was stored")
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// A new process (a new cache value) resumes, without the key parsed.
	second := newCache()
	require.True(t, second.Has())
	assert.True(t, p.dial(t, second, true))
}

func TestSessionCacheIgnoresOtherMaterial(t *testing.T) {
	p := newSessionPeer(t)
	path := filepath.Join(t.TempDir(), "m")
	m := p.material3(t)
	assert.False(t, p.dial(t, cert.NewSessionCache(path, p.url.Host, m...), false))
	require.True(t, cert.NewSessionCache(path, p.url.Host, m...).Has())

	// Another address, or a changed CA, certificate or key file: the
	// ticket is not offered.
	assert.False(t, cert.NewSessionCache(path, "127.0.0.1:1", m...).Has())
	for i := range m {
		changed := append([][]byte(nil), m...)
		changed[i] = append(append([]byte(nil), m[i]...), '\n')
		c := cert.NewSessionCache(path, p.url.Host, changed...)
		assert.False(t, c.Has(), "material %d changed", i)
		_, ok := c.Get("")
		assert.False(t, ok)
	}
	// A damaged file is ignored, and the next full handshake replaces it.
	require.NoError(t, os.WriteFile(path, []byte("dm-tls-session-1\ngarbage"), 0o600))
	c := cert.NewSessionCache(path, p.url.Host, m...)
	assert.False(t, c.Has())
	assert.False(t, p.dial(t, c, false))
	assert.True(t, cert.NewSessionCache(path, p.url.Host, m...).Has())
}
