package security_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// foreignClientCert is a client certificate from a CA of the test's own,
// valid in every other respect.
func foreignClientCert(t *testing.T) tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"security-test"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{Organization: []string{"security-test.client"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}

// ping performs a TLS handshake with dockerd and GET /_ping. It returns
// the handshake error, or the negotiated version and the request's error
// (nil only for a 200 answer).
func ping(addr string, cfg *tls.Config) (handshake error, version uint16, request error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err, 0, nil
	}
	defer conn.Close()
	// A bound against a daemon that never answers, not a timing check.
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	version = conn.ConnectionState().Version
	if _, err := fmt.Fprintf(conn, "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"); err != nil {
		return nil, version, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, version, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, version, errors.New(resp.Status)
	}
	return nil, version, nil
}

// dockerdTLS: the daemon create configured answers only clients with a
// certificate of the machine's CA, and only over TLS 1.2 or newer.
func dockerdTLS(t *testing.T, h *testhost.Host, s *store, name string) {
	certs := filepath.Join(s.path, "certs")
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	client, err := tls.LoadX509KeyPair(filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem"))
	require.NoError(t, err)
	addr := net.JoinHostPort(h.IP, "2376")
	base := func() *tls.Config {
		// The daemon's certificate is checked against the store's CA for
		// the machine's address: a failure below is the daemon refusing us.
		return &tls.Config{RootCAs: roots, ServerName: h.IP}
	}

	t.Run("machine client certificate", func(t *testing.T) {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := base()
			cfg.Certificates = []tls.Certificate{client}
			cfg.MinVersion, cfg.MaxVersion = v, v
			hs, got, req := ping(addr, cfg)
			require.NoError(t, hs, "%s handshake", tls.VersionName(v))
			assert.Equal(t, v, got)
			assert.NoError(t, req, "GET /_ping over %s", tls.VersionName(v))
		}
	})
	refused := func(t *testing.T, what string, cfg *tls.Config) {
		t.Helper()
		hs, _, req := ping(addr, cfg)
		if hs != nil {
			var verr *tls.CertificateVerificationError
			assert.False(t, errors.As(hs, &verr), "%s: our check of the daemon failed, not the daemon's check of us: %v", what, hs)
			return
		}
		assert.Error(t, req, "%s: the daemon answered /_ping", what)
	}
	t.Run("no client certificate", func(t *testing.T) {
		refused(t, "no client certificate", base())
	})
	t.Run("client certificate of another CA", func(t *testing.T) {
		cfg := base()
		cfg.Certificates = []tls.Certificate{foreignClientCert(t)}
		refused(t, "foreign client certificate", cfg)
	})
	t.Run("TLS older than 1.2", func(t *testing.T) {
		for _, v := range []uint16{tls.VersionTLS11, tls.VersionTLS10} {
			cfg := base()
			cfg.Certificates = []tls.Certificate{client}
			cfg.MinVersion, cfg.MaxVersion = v, v
			hs, got, _ := ping(addr, cfg)
			assert.Error(t, hs, "the daemon accepted %s (negotiated %s)", tls.VersionName(v), tls.VersionName(got))
		}
	})
}
