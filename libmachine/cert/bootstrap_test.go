package cert_test

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
)

// usable asserts that the store's CA and client certificate are complete
// pairs, the client signed by the CA: what create copies into a machine.
func usable(t *testing.T, a *auth.Options) {
	t.Helper()
	_, _, err := cert.LoadCA(a.CaCertPath, a.CaPrivateKeyPath)
	require.NoError(t, err, "CA pair")
	require.NoError(t, cert.Validate(cert.Material{CACert: a.CaCertPath, ClientCert: a.ClientCertPath, ClientKey: a.ClientKeyPath}, "localhost", time.Now()), "client pair")
}

// noLeftovers asserts that dir holds no temporary file of a write.
func noLeftovers(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp", "leftover in %s", dir)
	}
}

// backupsOf returns the .bak copies of path.
func backupsOf(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".bak-*")
	require.NoError(t, err)
	return m
}

func storeFiles(a *auth.Options) []string {
	return []string{a.CaCertPath, a.CaPrivateKeyPath, a.ClientCertPath, a.ClientKeyPath}
}

// A CA key without its certificate (the state an interrupted write of
// older versions left) no longer blocks every create: the CA is made
// anew and the old key kept.
func TestBootstrapOrphanCAKeyIsKeptAndReplaced(t *testing.T) {
	dir := t.TempDir()
	a := authIn(dir)
	logs := captureLog(t)
	require.NoError(t, cert.Bootstrap(a, false))
	oldKey := readFile(t, a.CaPrivateKeyPath)
	oldClientKey := readFile(t, a.ClientKeyPath)
	require.NoError(t, os.Remove(a.CaCertPath))

	require.NoError(t, cert.Bootstrap(a, false))
	usable(t, a)
	assert.NotEqual(t, oldKey, readFile(t, a.CaPrivateKeyPath))
	baks := backupsOf(t, a.CaPrivateKeyPath)
	require.Len(t, baks, 1)
	assert.Equal(t, oldKey, readFile(t, baks[0]), "the old CA key is kept")
	assert.Equal(t, os.FileMode(0o600), mode(t, baks[0]))
	clientBaks := backupsOf(t, a.ClientKeyPath)
	require.Len(t, clientBaks, 1, "the client pair of the old CA is kept too")
	assert.Equal(t, oldClientKey, readFile(t, clientBaks[0]))
	out := logs.String()
	assert.Contains(t, out, "CA is unusable and needs to be regenerated: the key "+a.CaPrivateKeyPath+" has no certificate "+a.CaCertPath+"\n")
	assert.Contains(t, out, "Creating CA: "+a.CaCertPath+"\n")
	assert.Contains(t, out, "The previous CA files are kept as "+baks[0]+"\n")

	// The next create finds everything in order and changes nothing.
	files := snapshotFiles(t, storeFiles(a)...)
	require.NoError(t, cert.Bootstrap(a, false))
	assert.Equal(t, files, snapshotFiles(t, storeFiles(a)...))
	noLeftovers(t, dir)
}

// Every way a pair can be unusable makes it anew, keeping what was there;
// a usable CA is kept when only the client pair is at fault.
func TestBootstrapReplacesUnusablePairs(t *testing.T) {
	otherKey := func(t *testing.T) []byte {
		other := authIn(t.TempDir())
		captureLog(t)
		require.NoError(t, cert.Bootstrap(other, false))
		return readFile(t, other.ClientKeyPath)
	}
	foreignClient := func(t *testing.T, a *auth.Options) {
		other := authIn(t.TempDir())
		require.NoError(t, cert.Bootstrap(other, false))
		require.NoError(t, os.WriteFile(a.ClientCertPath, readFile(t, other.ClientCertPath), 0o644))
		require.NoError(t, os.WriteFile(a.ClientKeyPath, readFile(t, other.ClientKeyPath), 0o600))
	}
	for _, c := range []struct {
		name    string
		breaks  func(t *testing.T, a *auth.Options)
		caKept  bool
		bad     string // the file whose old content must be in a .bak
		message string
	}{
		{name: "garbage CA certificate", bad: "ca.pem", message: "CA is unusable and needs to be regenerated: DIR/ca.pem holds no PEM certificate",
			breaks: func(t *testing.T, a *auth.Options) {
				require.NoError(t, os.WriteFile(a.CaCertPath, []byte("not a certificate"), 0o644))
			}},
		{name: "garbage CA key", bad: "ca-key.pem", message: "CA is unusable and needs to be regenerated: the key DIR/ca-key.pem does not fit the certificate DIR/ca.pem",
			breaks: func(t *testing.T, a *auth.Options) {
				require.NoError(t, os.WriteFile(a.CaPrivateKeyPath, []byte("garbage"), 0o600))
			}},
		{name: "CA certificate without key", bad: "ca.pem", message: "CA is unusable and needs to be regenerated: the certificate DIR/ca.pem has no key DIR/ca-key.pem",
			breaks: func(t *testing.T, a *auth.Options) { require.NoError(t, os.Remove(a.CaPrivateKeyPath)) }},
		{name: "garbage client key", bad: "key.pem", caKept: true, message: "Client certificate is unusable and needs to be regenerated: the key DIR/key.pem does not fit the certificate DIR/cert.pem",
			breaks: func(t *testing.T, a *auth.Options) {
				require.NoError(t, os.WriteFile(a.ClientKeyPath, []byte("garbage"), 0o600))
			}},
		{name: "client key of another pair", bad: "key.pem", caKept: true, message: "private key does not match public key",
			breaks: func(t *testing.T, a *auth.Options) {
				require.NoError(t, os.WriteFile(a.ClientKeyPath, otherKey(t), 0o600))
			}},
		{name: "client key without certificate", bad: "key.pem", caKept: true, message: "Client certificate is unusable and needs to be regenerated: the key DIR/key.pem has no certificate DIR/cert.pem",
			breaks: func(t *testing.T, a *auth.Options) { require.NoError(t, os.Remove(a.ClientCertPath)) }},
		{name: "client pair of another CA", bad: "cert.pem", caKept: true, message: "DIR/cert.pem is not signed by the CA DIR/ca.pem",
			breaks: foreignClient},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			a := authIn(dir)
			captureLog(t)
			require.NoError(t, cert.Bootstrap(a, false))
			ca := readFile(t, a.CaCertPath)
			c.breaks(t, a)
			bad := readFile(t, filepath.Join(dir, c.bad))
			logs := captureLog(t)

			require.NoError(t, cert.Bootstrap(a, false))
			usable(t, a)
			assert.Contains(t, logs.String(), strings.ReplaceAll(c.message, "DIR", dir))
			if c.caKept {
				assert.Equal(t, ca, readFile(t, a.CaCertPath), "a usable CA is kept")
				assert.Empty(t, backupsOf(t, a.CaCertPath))
				assert.NotContains(t, logs.String(), "Creating CA")
			} else {
				assert.NotEqual(t, ca, readFile(t, a.CaCertPath))
			}
			baks := backupsOf(t, filepath.Join(dir, c.bad))
			require.Len(t, baks, 1, logs.String())
			assert.Equal(t, bad, readFile(t, baks[0]))
			assert.Contains(t, logs.String(), "Creating client certificate: "+a.ClientCertPath)
			noLeftovers(t, dir)
		})
	}
}

// Files named with --tls-* outside the store are the user's: an unusable
// pair of them is an error naming the files, and nothing is touched.
func TestBootstrapRefusesUnusableForeignPair(t *testing.T) {
	root := t.TempDir()
	pki := filepath.Join(root, "pki")
	require.NoError(t, os.MkdirAll(pki, 0o700))
	a := &auth.Options{
		CertDir:          filepath.Join(root, "certs"),
		CaCertPath:       filepath.Join(pki, "ca.crt"),
		CaPrivateKeyPath: filepath.Join(pki, "ca.key"),
		ClientCertPath:   filepath.Join(pki, "me.crt"),
		ClientKeyPath:    filepath.Join(pki, "me.key"),
	}
	captureLog(t)
	require.NoError(t, cert.Bootstrap(a, false))
	require.NoError(t, os.WriteFile(a.ClientKeyPath, []byte("garbage"), 0o600))
	files := snapshotFiles(t, storeFiles(a)...)
	err := cert.Bootstrap(a, false)
	require.Error(t, err)
	assert.Equal(t, "reading the client certificate: "+a.ClientCertPath+" (key "+a.ClientKeyPath+") cannot be used: the key "+a.ClientKeyPath+
		" does not fit the certificate "+a.ClientCertPath+": failed to find any PEM data in key input; fix or remove these files (the next create makes new ones)", err.Error())
	assert.Equal(t, files, snapshotFiles(t, storeFiles(a)...))
	assert.Empty(t, backupsOf(t, a.ClientKeyPath))
}

var errNoSpace = syscall.ENOSPC

// A full disk in the middle of writing a pair leaves the pair that was
// there intact and loadable, and no temporary file. The writes of a
// renewal are failed one after the other: CA key, CA certificate, client
// key, client certificate (the first half of each is written, as a disk
// filling up does).
func TestBootstrapFullDiskKeepsOldPair(t *testing.T) {
	for failAt := 1; failAt <= 4; failAt++ {
		dir := t.TempDir()
		a := authIn(dir)
		captureLog(t)
		require.NoError(t, cert.Bootstrap(a, false))
		old := snapshotFiles(t, storeFiles(a)...)
		calls := 0
		restore := cert.SetWriteTemp(func(f *os.File, data []byte) (int, error) {
			calls++
			if calls == failAt {
				n, _ := f.Write(data[:len(data)/2])
				return n, errNoSpace
			}
			return f.Write(data)
		})
		err := cert.Bootstrap(a, true)
		restore()
		require.ErrorIs(t, err, syscall.ENOSPC, "write %d", failAt)
		assert.Equal(t, failAt, calls)
		now := snapshotFiles(t, storeFiles(a)...)
		if failAt <= 2 {
			assert.Equal(t, old, now, "write %d: the CA phase failed, nothing changed", failAt)
		} else {
			// The CA was renewed; the client pair is the old one.
			assert.NotEqual(t, old[a.CaCertPath], now[a.CaCertPath])
			assert.Equal(t, old[a.ClientCertPath], now[a.ClientCertPath], "write %d", failAt)
			assert.Equal(t, old[a.ClientKeyPath], now[a.ClientKeyPath], "write %d", failAt)
		}
		_, _, err = cert.LoadCA(a.CaCertPath, a.CaPrivateKeyPath)
		require.NoError(t, err, "write %d: the CA pair in place loads", failAt)
		noLeftovers(t, dir)

		// With space again, the next bootstrap leaves a usable store.
		require.NoError(t, cert.Bootstrap(a, false))
		usable(t, a)
	}
}

// A crash between the key's and the certificate's rename: the next
// bootstrap completes the pair from the finished temporary certificate.
func TestBootstrapCompletesInterruptedPair(t *testing.T) {
	errCrash := errors.New("simulated crash")
	t.Run("first creation", func(t *testing.T) {
		dir := t.TempDir()
		a := authIn(dir)
		captureLog(t)
		restore := cert.SetAfterKeyRename(func() error { return errCrash })
		err := cert.Bootstrap(a, false)
		restore()
		require.ErrorIs(t, err, errCrash)
		assert.FileExists(t, a.CaPrivateKeyPath)
		assert.NoFileExists(t, a.CaCertPath)
		tmps, err := filepath.Glob(filepath.Join(dir, cert.PairTmpPrefix(a.CaCertPath)+"*"))
		require.NoError(t, err)
		require.Len(t, tmps, 1)
		pending := readFile(t, tmps[0])
		key := readFile(t, a.CaPrivateKeyPath)

		logs := captureLog(t)
		require.NoError(t, cert.Bootstrap(a, false))
		usable(t, a)
		assert.Equal(t, pending, readFile(t, a.CaCertPath), "the finished certificate is used")
		assert.Equal(t, key, readFile(t, a.CaPrivateKeyPath))
		assert.NotContains(t, logs.String(), "Creating CA")
		assert.Empty(t, backupsOf(t, a.CaPrivateKeyPath))
		noLeftovers(t, dir)
	})
	t.Run("renewal of the client pair", func(t *testing.T) {
		dir := t.TempDir()
		a := authIn(dir)
		captureLog(t)
		require.NoError(t, cert.Bootstrap(a, false))
		calls := 0
		restore := cert.SetAfterKeyRename(func() error {
			calls++
			if calls == 2 {
				return errCrash
			}
			return nil
		})
		err := cert.Bootstrap(a, true)
		restore()
		require.ErrorIs(t, err, errCrash)
		newKey := readFile(t, a.ClientKeyPath)
		ca := readFile(t, a.CaCertPath)

		require.NoError(t, cert.Bootstrap(a, false))
		usable(t, a)
		assert.Equal(t, newKey, readFile(t, a.ClientKeyPath))
		assert.Equal(t, ca, readFile(t, a.CaCertPath))
		assert.Empty(t, backupsOf(t, a.ClientKeyPath))
		noLeftovers(t, dir)
	})
	t.Run("temporary certificate lost", func(t *testing.T) {
		dir := t.TempDir()
		a := authIn(dir)
		captureLog(t)
		restore := cert.SetAfterKeyRename(func() error { return errCrash })
		require.ErrorIs(t, cert.Bootstrap(a, false), errCrash)
		restore()
		tmps, err := filepath.Glob(filepath.Join(dir, cert.PairTmpPrefix(a.CaCertPath)+"*"))
		require.NoError(t, err)
		require.Len(t, tmps, 1)
		require.NoError(t, os.Remove(tmps[0]))
		key := readFile(t, a.CaPrivateKeyPath)

		require.NoError(t, cert.Bootstrap(a, false))
		usable(t, a)
		baks := backupsOf(t, a.CaPrivateKeyPath)
		require.Len(t, baks, 1)
		assert.Equal(t, key, readFile(t, baks[0]))
	})
}

// Temporary files of interrupted writes are removed by the next
// bootstrap, also those of older versions (fsutil.WriteFileAtomic's
// ".<name>.tmp…"); other files are left alone.
func TestBootstrapSweepsLeftovers(t *testing.T) {
	dir := t.TempDir()
	a := authIn(dir)
	captureLog(t)
	require.NoError(t, cert.Bootstrap(a, false))
	files := snapshotFiles(t, storeFiles(a)...)
	stale := []string{
		cert.PairTmpPrefix(a.CaPrivateKeyPath) + "123",
		cert.PairTmpPrefix(a.CaCertPath) + "123",
		cert.PairTmpPrefix(a.ClientKeyPath) + "9",
		cert.PairTmpPrefix(a.ClientCertPath) + "9",
		".ca-key.pem.tmp4242",
		".key.pem.tmp17",
	}
	for _, n := range stale {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("-----BEGIN RSA PRIVATE KEY-----\n"), 0o600))
	}
	keep := []string{"notes.txt", ".ca.pem.old", "ca.pem.bak-20240101T000000Z"}
	for _, n := range keep {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("mine"), 0o600))
	}
	require.NoError(t, cert.Bootstrap(a, false))
	for _, n := range stale {
		assert.NoFileExists(t, filepath.Join(dir, n))
	}
	for _, n := range keep {
		assert.FileExists(t, filepath.Join(dir, n))
	}
	assert.Equal(t, files, snapshotFiles(t, storeFiles(a)...))
	noLeftovers(t, dir)
}

// The client certificate check accepts what create copies: a pair made
// by Generate for the CA is usable as it is.
func TestBootstrapKeepsGeneratedClient(t *testing.T) {
	dir := t.TempDir()
	a := authIn(dir)
	newCA(t, dir)
	require.NoError(t, cert.Generate(cert.Options{CertPath: a.ClientCertPath, KeyPath: a.ClientKeyPath, CACertPath: a.CaCertPath, CAKeyPath: a.CaPrivateKeyPath, Org: "x"}))
	files := snapshotFiles(t, storeFiles(a)...)
	logs := captureLog(t)
	require.NoError(t, cert.Bootstrap(a, false))
	assert.Empty(t, logs.String())
	assert.Equal(t, files, snapshotFiles(t, storeFiles(a)...))
	c := readCert(t, a.ClientCertPath)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage)
}
