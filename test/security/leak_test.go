package security_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLeakDetector shows that the checks above can fail: a private key
// sent the ways a provisioner could send it is found, and ordinary
// command lines are not flagged.
func TestLeakDetector(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	file := filepath.Join(t.TempDir(), "server-key.pem")
	require.NoError(t, os.WriteFile(file, pemBytes, 0o600))
	assert.Equal(t, []string{file}, privateKeyFiles(t, filepath.Dir(file)))
	sec := secrets(t, []string{file})

	body := strings.Join(strings.Split(strings.TrimSpace(string(pemBytes)), "\n")[1:2], "")
	for _, text := range []string{
		string(pemBytes),
		"sh -c 'printf %s " + base64.StdEncoding.EncodeToString(pemBytes) + " | base64 -d > /etc/docker/server-key.pem'",
		"ssh: sent " + body + " to the host",
	} {
		assert.NotEmpty(t, leak(text, sec), "not found in %q", text)
	}
	for _, text := range []string{
		"ssh -F /dev/null -o IdentityFile=" + file + " root@10.0.0.1 -- sh -c 'cat > /etc/docker/server-key.pem'",
		"ssh: running probe (1726-byte script on stdin)",
	} {
		assert.Empty(t, leak(text, sec), "flagged %q", text)
	}

	// An OpenSSH private key embeds its public key: the public line (as a
	// seed image or authorized_keys carries it) is not a leak, the
	// private key is.
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed (apt-get install openssh-client)")
	}
	sshKey := filepath.Join(t.TempDir(), "id_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", sshKey).CombinedOutput()
	require.NoError(t, err, "%s", out)
	sshSec := secrets(t, []string{sshKey})
	pubLine, err := os.ReadFile(sshKey + ".pub")
	require.NoError(t, err)
	assert.Empty(t, leak("ssh_authorized_keys:\n  - "+string(pubLine), sshSec))
	priv, err := os.ReadFile(sshKey)
	require.NoError(t, err)
	privBody := strings.Join(strings.Split(strings.TrimSpace(string(priv)), "\n")[1:], "\n")
	assert.NotEmpty(t, leak(privBody, sshSec), "the private key body is found")
}
