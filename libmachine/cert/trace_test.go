package cert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// since returns the log lines after from that start with prefix and
// name dir (tests of other packages may log meanwhile).
func since(from int, prefix, dir string) []string {
	var out []string
	for _, l := range log.History()[from:] {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, dir) {
			out = append(out, l)
		}
	}
	return out
}

// TestBootstrapTrace: the debug trace says what bootstrap found and what
// it created.
func TestBootstrapTrace(t *testing.T) {
	captureLog(t)
	a := authIn(t.TempDir())
	from := len(log.History())
	require.NoError(t, cert.Bootstrap(a, false))
	assert.Equal(t, []string{
		"cert: created CA " + a.CaCertPath + " (key " + a.CaPrivateKeyPath + ")",
		"cert: created client certificate " + a.ClientCertPath + " (key " + a.ClientKeyPath + "), signed by " + a.CaCertPath,
	}, since(from, "cert: ", a.CertDir))

	from = len(log.History())
	require.NoError(t, cert.Bootstrap(a, false))
	assert.Equal(t, []string{
		"cert: CA " + a.CaCertPath + " exists and has not expired",
		"cert: client certificate " + a.ClientCertPath + " exists and has not expired",
	}, since(from, "cert: ", a.CertDir))
}

// TestValidateTrace: every validation is one line naming the files, the
// host and the result.
func TestValidateTrace(t *testing.T) {
	mt := newMaterial(t, "192.168.99.100")
	files := "CA " + mt.m.CACert + ", client certificate " + mt.m.ClientCert + " (key " + mt.m.ClientKey + ")"

	from := len(log.History())
	require.NoError(t, cert.Validate(mt.m, "192.168.99.100:2376", mt.now))
	err := cert.Validate(mt.m, "192.168.99.101:2376", mt.now)
	require.Error(t, err)
	noServer := mt.m
	noServer.ServerCert = ""
	require.NoError(t, cert.Validate(noServer, "192.168.99.101:2376", mt.now))
	absent := mt.m
	absent.ServerCert = filepath.Join(mt.dir, "gone.pem")
	require.NoError(t, cert.Validate(absent, "192.168.99.101:2376", mt.now))
	require.NoError(t, os.Remove(mt.m.CACert))
	caErr := cert.Validate(mt.m, "192.168.99.100:2376", mt.now)
	require.Error(t, caErr)

	assert.Equal(t, []string{
		"cert: checked " + files + ", server certificate " + mt.m.ServerCert + " for 192.168.99.100:2376: ok",
		"cert: checked " + files + ", server certificate " + mt.m.ServerCert + " for 192.168.99.101:2376: failed: " + err.Error(),
		"cert: checked " + files + ", no server certificate for 192.168.99.101:2376: ok",
		"cert: checked " + files + ", server certificate " + absent.ServerCert + " (absent, not checked) for 192.168.99.101:2376: ok",
		"cert: checked " + files + ", server certificate " + mt.m.ServerCert + " for 192.168.99.100:2376: failed: " + caErr.Error(),
	}, since(from, "cert: checked", mt.dir))
}
