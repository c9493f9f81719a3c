package cert_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

const day = 24 * time.Hour

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := cert.ReadCert(path)
	require.NoError(t, err)
	return c
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Mode().Perm()
}

// checkValidity asserts NotBefore is the creation minute minus 5 minutes
// and the certificate lasts 1080 days.
func checkValidity(t *testing.T, c *x509.Certificate, before, after time.Time) {
	t.Helper()
	lo := before.Truncate(time.Minute).Add(-5 * time.Minute)
	hi := after.Truncate(time.Minute).Add(-5 * time.Minute)
	assert.False(t, c.NotBefore.Before(lo), "NotBefore %s before %s", c.NotBefore, lo)
	assert.False(t, c.NotBefore.After(hi), "NotBefore %s after %s", c.NotBefore, hi)
	assert.Equal(t, 1080*day, c.NotAfter.Sub(c.NotBefore))
	assert.Zero(t, c.NotBefore.Second())
}

func checkRSAKey(t *testing.T, c *x509.Certificate, keyPath string) {
	t.Helper()
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	require.True(t, ok, "public key is %T", c.PublicKey)
	assert.Equal(t, 2048, pub.N.BitLen())
	block, _ := pem.Decode(readFile(t, keyPath))
	require.NotNil(t, block)
	assert.Equal(t, "RSA PRIVATE KEY", block.Type)
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err, "PKCS#1 key")
	assert.Equal(t, pub.N, key.N, "key matches certificate")
	assert.Equal(t, os.FileMode(0o600), mode(t, keyPath))
	assert.Equal(t, x509.SHA256WithRSA, c.SignatureAlgorithm)
	assert.Less(t, c.SerialNumber.BitLen(), 129)
	assert.Positive(t, c.SerialNumber.Sign())
}

func newCA(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	certPath, keyPath = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	require.NoError(t, cert.GenerateCA(certPath, keyPath, "alice", cert.DefaultBits))
	return certPath, keyPath
}

func TestGenerateCA(t *testing.T) {
	dir := t.TempDir()
	before := time.Now()
	certPath, keyPath := newCA(t, dir)
	after := time.Now()

	c := readCert(t, certPath)
	assert.True(t, c.IsCA)
	assert.True(t, c.BasicConstraintsValid)
	assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageKeyEncipherment|x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement, c.KeyUsage)
	assert.Equal(t, []string{"alice"}, c.Subject.Organization)
	assert.Empty(t, c.Subject.CommonName, "the original's CA has no CN")
	assert.Equal(t, c.Subject.String(), c.Issuer.String(), "self-signed")
	require.NoError(t, c.CheckSignatureFrom(c))
	checkValidity(t, c, before, after)
	checkRSAKey(t, c, keyPath)

	// An existing key is never replaced.
	err := cert.GenerateCA(filepath.Join(dir, "ca2.pem"), keyPath, "alice", cert.DefaultBits)
	assert.EqualError(t, err, "certificate authority key already exists")
	assert.NoFileExists(t, filepath.Join(dir, "ca2.pem"))
}

func TestGenerateSignedCertificates(t *testing.T) {
	dir := t.TempDir()
	caPath, caKey := newCA(t, dir)
	ca := readCert(t, caPath)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	tests := []struct {
		name      string
		opts      cert.Options
		keyUsage  x509.KeyUsage
		extUsages []x509.ExtKeyUsage
		ips       []string
		dns       []string
	}{
		{
			name:      "client",
			opts:      cert.Options{Org: "alice.<bootstrap>"},
			keyUsage:  x509.KeyUsageDigitalSignature,
			extUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		},
		{
			name: "server",
			opts: cert.Options{
				Org: "alice.m1", Server: true,
				Hosts: []string{"foo.bar.tld", "10.42.42.42", "192.168.99.100", "localhost", "::1"},
			},
			keyUsage:  x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
			extUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			ips:       []string{"10.42.42.42", "192.168.99.100", "::1"},
			dns:       []string{"foo.bar.tld", "localhost"},
		},
		{
			name: "swarm master server",
			opts: cert.Options{
				Org: "alice.master", Server: true, ClientToo: true,
				Hosts: []string{"192.168.99.101", "localhost"},
			},
			keyUsage:  x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
			extUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			ips:       []string{"192.168.99.101"},
			dns:       []string{"localhost"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.CertPath = filepath.Join(dir, tt.name+".pem")
			o.KeyPath = filepath.Join(dir, tt.name+"-key.pem")
			o.CACertPath, o.CAKeyPath = caPath, caKey
			before := time.Now()
			require.NoError(t, cert.Generate(o))
			after := time.Now()

			c := readCert(t, o.CertPath)
			assert.False(t, c.IsCA)
			assert.Equal(t, tt.keyUsage, c.KeyUsage)
			assert.Equal(t, tt.extUsages, c.ExtKeyUsage)
			assert.Equal(t, []string{o.Org}, c.Subject.Organization)
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			assert.Equal(t, tt.ips, ips)
			assert.Equal(t, tt.dns, c.DNSNames)
			assert.Empty(t, c.EmailAddresses)
			assert.Empty(t, c.URIs)
			checkValidity(t, c, before, after)
			checkRSAKey(t, c, o.KeyPath)
			_, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: tt.extUsages})
			assert.NoError(t, err, "chains to the CA")
		})
	}
}

func TestGenerateFailsWithoutCA(t *testing.T) {
	dir := t.TempDir()
	err := cert.Generate(cert.Options{
		CertPath: filepath.Join(dir, "c.pem"), KeyPath: filepath.Join(dir, "k.pem"),
		CACertPath: filepath.Join(dir, "missing.pem"), CAKeyPath: filepath.Join(dir, "missing-key.pem"),
	})
	assert.ErrorContains(t, err, "reading the CA")
	assert.NoFileExists(t, filepath.Join(dir, "c.pem"))
	assert.NoFileExists(t, filepath.Join(dir, "k.pem"))
}

func TestOrganization(t *testing.T) {
	t.Setenv("USER", "bob")
	assert.Equal(t, "bob", cert.Organization())
	t.Setenv("USER", "")
	assert.Equal(t, "unknown", cert.Organization())
}

func authIn(dir string) *auth.Options {
	return &auth.Options{
		CertDir:          dir,
		CaCertPath:       filepath.Join(dir, "ca.pem"),
		CaPrivateKeyPath: filepath.Join(dir, "ca-key.pem"),
		ClientCertPath:   filepath.Join(dir, "cert.pem"),
		ClientKeyPath:    filepath.Join(dir, "key.pem"),
	}
}

// captureLog collects Info lines for the duration of a test.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	b := &syncBuffer{}
	log.SetOutput(b, b)
	t.Cleanup(func() { log.SetOutput(os.Stdout, os.Stderr) })
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

func snapshotFiles(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range paths {
		m[p] = string(readFile(t, p))
	}
	return m
}

func TestBootstrapCreatesOnce(t *testing.T) {
	t.Setenv("USER", "carol")
	logs := captureLog(t)
	dir := filepath.Join(t.TempDir(), "certs")
	a := authIn(dir)
	require.NoError(t, cert.Bootstrap(a, false))
	assert.Equal(t, "Creating CA: "+a.CaCertPath+"\nCreating client certificate: "+a.ClientCertPath+"\n", logs.String())
	assert.Equal(t, os.FileMode(0o700), mode(t, dir))

	ca := readCert(t, a.CaCertPath)
	client := readCert(t, a.ClientCertPath)
	assert.Equal(t, []string{"carol"}, ca.Subject.Organization)
	assert.Equal(t, []string{"carol.<bootstrap>"}, client.Subject.Organization)
	require.NoError(t, client.CheckSignatureFrom(ca))

	files := snapshotFiles(t, a.CaCertPath, a.CaPrivateKeyPath, a.ClientCertPath, a.ClientKeyPath)
	require.NoError(t, cert.Bootstrap(a, false))
	assert.Equal(t, files, snapshotFiles(t, a.CaCertPath, a.CaPrivateKeyPath, a.ClientCertPath, a.ClientKeyPath), "valid certificates are kept")
	assert.Equal(t, "Creating CA: "+a.CaCertPath+"\nCreating client certificate: "+a.ClientCertPath+"\n", logs.String(), "nothing more is created")
}

// --tls-ca-cert and friends put the material outside CertDir.
func TestBootstrapCustomPaths(t *testing.T) {
	root := t.TempDir()
	a := &auth.Options{
		CertDir:          filepath.Join(root, "certs"),
		CaCertPath:       filepath.Join(root, "pki", "my-ca.crt"),
		CaPrivateKeyPath: filepath.Join(root, "pki", "my-ca.key"),
		ClientCertPath:   filepath.Join(root, "pki", "me.crt"),
		ClientKeyPath:    filepath.Join(root, "pki", "me.key"),
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pki"), 0o700))
	captureLog(t)
	require.NoError(t, cert.Bootstrap(a, false))
	for _, p := range []string{a.CaCertPath, a.CaPrivateKeyPath, a.ClientCertPath, a.ClientKeyPath} {
		assert.FileExists(t, p)
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "cert.pem", "key.pem"} {
		assert.NoFileExists(t, filepath.Join(a.CertDir, f))
	}
	require.NoError(t, readCert(t, a.ClientCertPath).CheckSignatureFrom(readCert(t, a.CaCertPath)))
}

// An existing CA (e.g. given with --tls-ca-cert) is used, not replaced.
func TestBootstrapKeepsExistingCA(t *testing.T) {
	dir := t.TempDir()
	a := authIn(dir)
	newCA(t, dir)
	ca := readFile(t, a.CaCertPath)
	captureLog(t)
	require.NoError(t, cert.Bootstrap(a, false))
	assert.Equal(t, ca, readFile(t, a.CaCertPath))
	require.NoError(t, readCert(t, a.ClientCertPath).CheckSignatureFrom(readCert(t, a.CaCertPath)))
}

// writeCert writes a certificate with the given validity, signed by
// parent (self-signed when parent is nil), and returns it with its key.
func writeCert(t *testing.T, certPath, keyPath string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey any) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	}
	var signer any = key
	if parent == nil {
		parent = tmpl
	} else {
		signer = parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c, key
}

func caTemplate(notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"test-ca"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
}

func leafTemplate(notBefore, notAfter time.Time, usage x509.ExtKeyUsage, hosts ...string) *x509.Certificate {
	c := &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"test-leaf"}},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			c.IPAddresses = append(c.IPAddresses, ip)
		} else {
			c.DNSNames = append(c.DNSNames, h)
		}
	}
	return c
}

func TestBootstrapRenewsExpired(t *testing.T) {
	now := time.Now()
	past := now.Add(-1100 * day)
	expiredAt := now.Add(-day)

	t.Run("expired CA replaces CA and client", func(t *testing.T) {
		dir := t.TempDir()
		a := authIn(dir)
		ca, caKey := writeCert(t, a.CaCertPath, a.CaPrivateKeyPath, caTemplate(past, expiredAt), nil, nil)
		writeCert(t, a.ClientCertPath, a.ClientKeyPath, leafTemplate(past, now.Add(100*day), x509.ExtKeyUsageClientAuth), ca, caKey)
		oldCA, oldClient := readFile(t, a.CaCertPath), readFile(t, a.ClientCertPath)
		logs := captureLog(t)

		require.NoError(t, cert.Bootstrap(a, false))
		assert.NotEqual(t, oldCA, readFile(t, a.CaCertPath))
		assert.NotEqual(t, oldClient, readFile(t, a.ClientCertPath))
		newCA := readCert(t, a.CaCertPath)
		assert.True(t, newCA.NotAfter.After(now))
		require.NoError(t, readCert(t, a.ClientCertPath).CheckSignatureFrom(newCA))
		assert.Contains(t, logs.String(), "CA certificate is outdated and needs to be regenerated")
	})

	t.Run("expired client only replaces the client", func(t *testing.T) {
		dir := t.TempDir()
		a := authIn(dir)
		newCA(t, dir)
		require.NoError(t, cert.Generate(cert.Options{
			CertPath: a.ClientCertPath, KeyPath: a.ClientKeyPath,
			CACertPath: a.CaCertPath, CAKeyPath: a.CaPrivateKeyPath, Org: "x",
		}))
		// Replace the client certificate by an expired one of the same CA.
		ca, caKey, err := cert.LoadCA(a.CaCertPath, a.CaPrivateKeyPath)
		require.NoError(t, err)
		writeCert(t, a.ClientCertPath, a.ClientKeyPath, leafTemplate(past, expiredAt, x509.ExtKeyUsageClientAuth), ca, caKey)
		oldCA, oldClient := readFile(t, a.CaCertPath), readFile(t, a.ClientCertPath)
		logs := captureLog(t)

		require.NoError(t, cert.Bootstrap(a, false))
		assert.Equal(t, oldCA, readFile(t, a.CaCertPath), "a valid CA is kept")
		assert.NotEqual(t, oldClient, readFile(t, a.ClientCertPath))
		client := readCert(t, a.ClientCertPath)
		assert.True(t, client.NotAfter.After(now))
		require.NoError(t, client.CheckSignatureFrom(readCert(t, a.CaCertPath)))
		assert.Contains(t, logs.String(), "Creating client certificate: "+a.ClientCertPath)
		assert.NotContains(t, logs.String(), "Creating CA")
	})

	t.Run("renew replaces valid certificates", func(t *testing.T) {
		dir := t.TempDir()
		a := authIn(dir)
		captureLog(t)
		require.NoError(t, cert.Bootstrap(a, false))
		old := snapshotFiles(t, a.CaCertPath, a.CaPrivateKeyPath, a.ClientCertPath, a.ClientKeyPath)
		require.NoError(t, cert.Bootstrap(a, true))
		now := snapshotFiles(t, a.CaCertPath, a.CaPrivateKeyPath, a.ClientCertPath, a.ClientKeyPath)
		for p := range old {
			assert.NotEqual(t, old[p], now[p], p)
		}
		require.NoError(t, readCert(t, a.ClientCertPath).CheckSignatureFrom(readCert(t, a.CaCertPath)))
	})
}

// Concurrent bootstraps on an empty directory create one CA.
func TestBootstrapConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	logs := captureLog(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cert.Bootstrap(authIn(dir), false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("Creating CA:")), logs.String())
	a := authIn(dir)
	require.NoError(t, readCert(t, a.ClientCertPath).CheckSignatureFrom(readCert(t, a.CaCertPath)))
}

func TestExpired(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p := filepath.Join(dir, "c.pem")
	writeCert(t, p, filepath.Join(dir, "k.pem"), caTemplate(now.Add(-2*day), now.Add(-day)), nil, nil)
	expired, err := cert.Expired(p, now)
	require.NoError(t, err)
	assert.True(t, expired)
	expired, err = cert.Expired(p, now.Add(-36*time.Hour))
	require.NoError(t, err)
	assert.False(t, expired)
	_, err = cert.Expired(filepath.Join(dir, "missing.pem"), now)
	assert.Error(t, err)
}

// material is a machine directory as create/provisioning leave it.
type material struct {
	dir     string
	m       cert.Material
	ca      *x509.Certificate
	caKey   *ecdsa.PrivateKey
	now     time.Time
	longAgo time.Time
}

func newMaterial(t *testing.T, serverHosts ...string) *material {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	mt := &material{dir: dir, now: now, longAgo: now.Add(-10 * day)}
	mt.m = cert.Material{
		CACert:     filepath.Join(dir, "ca.pem"),
		ClientCert: filepath.Join(dir, "cert.pem"),
		ClientKey:  filepath.Join(dir, "key.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
	}
	mt.ca, mt.caKey = writeCert(t, mt.m.CACert, filepath.Join(dir, "ca-key.pem"), caTemplate(mt.longAgo, now.Add(1000*day)), nil, nil)
	writeCert(t, mt.m.ClientCert, mt.m.ClientKey, leafTemplate(mt.longAgo, now.Add(1000*day), x509.ExtKeyUsageClientAuth), mt.ca, mt.caKey)
	writeCert(t, mt.m.ServerCert, filepath.Join(dir, "server-key.pem"), leafTemplate(mt.longAgo, now.Add(1000*day), x509.ExtKeyUsageServerAuth, serverHosts...), mt.ca, mt.caKey)
	return mt
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		mutate  func(t *testing.T, mt *material)
		wantErr []string
	}{
		{name: "ok by IP", host: "192.168.99.100:2376"},
		{name: "ok by name", host: "localhost:2376"},
		{name: "ok without port", host: "192.168.99.100"},
		{
			name: "IP not in the SANs", host: "192.168.99.101:2376",
			wantErr: []string{"server certificate", "certificate is valid for 192.168.99.100, not 192.168.99.101"},
		},
		{
			name: "missing server certificate is fine", host: "192.168.99.200:2376",
			mutate: func(t *testing.T, mt *material) { require.NoError(t, os.Remove(mt.m.ServerCert)) },
		},
		{
			name: "no server certificate named is fine", host: "192.168.99.200:2376",
			mutate: func(t *testing.T, mt *material) { mt.m.ServerCert = "" },
		},
		{
			name: "expired CA", host: "192.168.99.100:2376",
			mutate: func(t *testing.T, mt *material) {
				writeCert(t, mt.m.CACert, filepath.Join(mt.dir, "ca-key.pem"), caTemplate(mt.longAgo, mt.now.Add(-day)), nil, nil)
			},
			wantErr: []string{"the CA certificate", "expired"},
		},
		{
			name: "expired client certificate", host: "192.168.99.100:2376",
			mutate: func(t *testing.T, mt *material) {
				writeCert(t, mt.m.ClientCert, mt.m.ClientKey, leafTemplate(mt.longAgo, mt.now.Add(-day), x509.ExtKeyUsageClientAuth), mt.ca, mt.caKey)
			},
			wantErr: []string{"client certificate", "expired"},
		},
		{
			name: "expired server certificate", host: "192.168.99.100:2376",
			mutate: func(t *testing.T, mt *material) {
				writeCert(t, mt.m.ServerCert, filepath.Join(mt.dir, "server-key.pem"), leafTemplate(mt.longAgo, mt.now.Add(-day), x509.ExtKeyUsageServerAuth, "192.168.99.100"), mt.ca, mt.caKey)
			},
			wantErr: []string{"server certificate", "expired"},
		},
		{
			name: "CA replaced", host: "192.168.99.100:2376",
			mutate: func(t *testing.T, mt *material) {
				writeCert(t, mt.m.CACert, filepath.Join(mt.dir, "ca-key.pem"), caTemplate(mt.longAgo, mt.now.Add(day)), nil, nil)
			},
			wantErr: []string{"client certificate", "unknown authority"},
		},
		{
			name: "server signed by another CA", host: "192.168.99.100:2376",
			mutate: func(t *testing.T, mt *material) {
				other, otherKey := writeCert(t, filepath.Join(mt.dir, "other.pem"), filepath.Join(mt.dir, "other-key.pem"), caTemplate(mt.longAgo, mt.now.Add(day)), nil, nil)
				writeCert(t, mt.m.ServerCert, filepath.Join(mt.dir, "server-key.pem"), leafTemplate(mt.longAgo, mt.now.Add(day), x509.ExtKeyUsageServerAuth, "192.168.99.100"), other, otherKey)
			},
			wantErr: []string{"server certificate", "unknown authority"},
		},
		{
			name: "client key does not match", host: "192.168.99.100:2376",
			mutate: func(t *testing.T, mt *material) {
				writeCert(t, filepath.Join(mt.dir, "x.pem"), mt.m.ClientKey, leafTemplate(mt.longAgo, mt.now.Add(day), x509.ExtKeyUsageClientAuth), mt.ca, mt.caKey)
			},
			wantErr: []string{"client certificate"},
		},
		{
			name: "missing CA", host: "192.168.99.100:2376",
			mutate:  func(t *testing.T, mt *material) { require.NoError(t, os.Remove(mt.m.CACert)) },
			wantErr: []string{"CA certificate"},
		},
		{
			name: "missing client key", host: "192.168.99.100:2376",
			mutate:  func(t *testing.T, mt *material) { require.NoError(t, os.Remove(mt.m.ClientKey)) },
			wantErr: []string{"client certificate"},
		},
		{
			name: "garbage server certificate", host: "192.168.99.100:2376",
			mutate: func(t *testing.T, mt *material) {
				require.NoError(t, os.WriteFile(mt.m.ServerCert, []byte("junk"), 0o644))
			},
			wantErr: []string{"server certificate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt := newMaterial(t, "192.168.99.100", "localhost")
			if tt.mutate != nil {
				tt.mutate(t, mt)
			}
			err := cert.Validate(mt.m, tt.host, mt.now)
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// Certificates made by GenerateCA/Generate pass Validate for the SANs
// given, and fail for another address.
func TestValidateGenerated(t *testing.T) {
	dir := t.TempDir()
	caPath, caKey := newCA(t, dir)
	m := cert.Material{CACert: caPath, ClientCert: filepath.Join(dir, "cert.pem"), ClientKey: filepath.Join(dir, "key.pem"), ServerCert: filepath.Join(dir, "server.pem")}
	require.NoError(t, cert.Generate(cert.Options{CertPath: m.ClientCert, KeyPath: m.ClientKey, CACertPath: caPath, CAKeyPath: caKey, Org: "u.<bootstrap>"}))
	require.NoError(t, cert.Generate(cert.Options{CertPath: m.ServerCert, KeyPath: filepath.Join(dir, "server-key.pem"), CACertPath: caPath, CAKeyPath: caKey, Org: "u.m", Server: true, Hosts: []string{"10.0.0.9", "localhost"}}))
	now := time.Now()
	assert.NoError(t, cert.Validate(m, "10.0.0.9:2376", now))
	assert.NoError(t, cert.Validate(m, "localhost:2376", now))
	assert.Error(t, cert.Validate(m, "10.0.0.10:2376", now))
	assert.Error(t, cert.Validate(m, "10.0.0.9:2376", now.Add(1081*day)), "expired after 1080 days")
}
