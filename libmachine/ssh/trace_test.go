package ssh_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

// testMaterial is a real certificate and RSA key in PEM, the kind of
// files provisioning uploads.
func testMaterial(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "trace"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// leaks returns the pieces of secret (40-byte windows) that appear in text.
func leaks(text, secret string) []string {
	var found []string
	for i := 0; i+40 <= len(secret); i += 20 {
		if w := secret[i : i+40]; strings.Contains(text, w) {
			found = append(found, w)
		}
	}
	return found
}

// linesFor returns the history lines after from that name port.
func linesFor(from, port int) []string {
	var out []string
	p := strconv.Itoa(port)
	for _, l := range log.History()[from:] {
		if strings.Contains(l, ":"+p+" ") || strings.Contains(l, "-p "+p+" ") {
			out = append(out, l)
		}
	}
	return out
}

// TestTraceCommands: every command of both clients is logged with its
// target, exit status and duration, and provisioning-style scripts with
// certificates, keys and base64 payloads appear masked, whether the
// secret sits at the start of the command or where the line is cut.
func TestTraceCommands(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Config{})
	certPEM, keyPEM := testMaterial(t)
	b64 := base64.StdEncoding.EncodeToString(keyPEM)
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			from := len(log.History())
			c := newClient(t, kind, targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify))

			// As provisioning writes files: PEM through printf, a key
			// as base64, in a `sh -c` script.
			ca, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server-key.pem")
			script := "set -e\nprintf '%s' " + shq(string(certPEM)) + " > " + ca +
				"\nprintf '%s' " + b64 + " | base64 -d > " + keyFile + "\npassword=hunter2 true\n"
			_, err := c.Output("sh -c " + shq(script))
			require.NoError(t, err)
			got, err := os.ReadFile(keyFile)
			require.NoError(t, err)
			require.Equal(t, keyPEM, got, "the script ran")

			// A secret right where a trace line is cut.
			pad := strings.Repeat("true; ", 45)
			_, err = c.Output(pad + "echo " + b64 + " >/dev/null")
			require.NoError(t, err)

			_, err = c.Output("exit 7")
			require.Error(t, err)
			require.Error(t, c.Run("exit 3", nil, nil, nil))
			require.NoError(t, c.Shell("true"))

			trace := strings.Join(linesFor(from, srv.Port), "\n")
			all := strings.Join(log.History()[from:], "\n")
			assert.Empty(t, leaks(all, string(certPEM)), "certificate body in the trace:\n%s", trace)
			assert.Empty(t, leaks(all, string(keyPEM)), "key body in the trace:\n%s", trace)
			assert.Empty(t, leaks(all, b64), "base64 key in the trace:\n%s", trace)
			assert.NotContains(t, all, "hunter2")

			assert.Contains(t, trace, "-----BEGIN CERTIFICATE-----<redacted>-----END CERTIFICATE-----")
			assert.Contains(t, trace, "printf '\\''%s'\\'' <redacted> | base64 -d")
			assert.Contains(t, trace, "password=<redacted>")
			assert.Contains(t, trace, "echo <redacted> >/dev/null")

			target := regexpQuote(srv.User + "@" + srv.Addr())
			assert.Regexp(t, `ssh: `+target+` -> exit 0 in \S+`, trace)
			assert.Regexp(t, `ssh: `+target+` -> exit 7 in \S+`, trace)
			assert.Regexp(t, `ssh: `+target+` -> exit 3 in \S+`, trace)
			for _, l := range linesFor(from, srv.Port) {
				assert.NotContains(t, l, "\n", "one line per event")
			}
			if kind == ssh.External {
				// The argv as run, options included, and the master.
				assert.Regexp(t, `ssh: control master: exec \S*ssh -F /dev/null .* -o ControlMaster=yes .* -p `+strconv.Itoa(srv.Port)+` -N`, trace)
				assert.Regexp(t, `ssh: command: exec \S*ssh -F /dev/null .*ControlMaster=auto.* -p `+strconv.Itoa(srv.Port)+` \$ exit 7\n`, trace+"\n")
				assert.Regexp(t, `ssh: shell: exec \S*ssh .* -p `+strconv.Itoa(srv.Port)+` \$ true\n`, trace+"\n")
			} else {
				assert.Contains(t, trace, "ssh: "+srv.User+"@"+srv.Addr()+" (native) connected in ")
				assert.Contains(t, trace, "ssh: "+srv.User+"@"+srv.Addr()+" (native) $ exit 7")
			}
		})
	}
}

// TestTraceTransportError: a failed connection is logged as an error,
// not as an exit status.
func TestTraceTransportError(t *testing.T) {
	port := sshtest.RefusedPort(t, "127.0.0.1")
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			from := len(log.History())
			c := newClient(t, kind, ssh.Target{User: "root", Host: "127.0.0.1", Port: port,
				HostKeyPolicy: ssh.HostKeyInsecure, ConnectTimeout: time.Second})
			_, err := c.Output("exit 0")
			require.Error(t, err)
			trace := strings.Join(linesFor(from, port), "\n")
			assert.Regexp(t, `ssh: root@127\.0\.0\.1:`+strconv.Itoa(port)+` -> error in \S+: .*(refused|failed)`, trace)
			assert.NotContains(t, trace, "-> exit")
		})
	}
}

func regexpQuote(s string) string {
	return strings.NewReplacer(".", `\.`, "[", `\[`, "]", `\]`).Replace(s)
}
