package provision

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/host"
)

// TestNoSecretsOnCommandLines: a full provisioning (install included),
// regenerate-certs and upgrade, as root and through sudo, pass no
// certificate material on a command line: every script goes on stdin,
// and the command line is the fixed one.
func TestNoSecretsOnCommandLines(t *testing.T) {
	longBase64 := regexp.MustCompile(`[A-Za-z0-9+/=]{120,}`)
	for _, user := range []string{"root", "admin"} {
		t.Run(user, func(t *testing.T) {
			e := newEnv(t, fixture(t, "debian-12"))
			e.driver.SSHUser = user
			var commands, scripts []string
			e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
				return commanderFunc(func(cmd, script string) (string, error) {
					commands = append(commands, cmd)
					scripts = append(scripts, script)
					return e.fake.run(cmd, script)
				}), nil, nil
			}
			ao := e.h.HostOptions.AuthOptions
			var keys [][]byte // every server key generated
			for _, op := range []Op{OpProvision, OpRegenerateCerts, OpUpgrade} {
				res, err := e.run(op)
				require.NoError(t, err, op)
				if op == OpProvision {
					require.True(t, res.InstalledDocker)
				}
				require.True(t, res.NewServerCert || op == OpUpgrade, op)
				k, err := os.ReadFile(ao.ServerKeyPath)
				require.NoError(t, err)
				keys = append(keys, k)
			}
			require.Len(t, commands, 8, "probe, install, configure; probe, configure; probe, upgrade, configure")

			var needles []string
			for _, k := range keys {
				needles = append(needles, string(k), base64.StdEncoding.EncodeToString(k))
				blk, _ := pem.Decode(k)
				require.NotNil(t, blk)
				body := base64.StdEncoding.EncodeToString(blk.Bytes)
				needles = append(needles, body[:64], body[len(body)-40:], string(blk.Bytes[:32]))
				// And the key's PEM lines as they are in the file.
				for _, l := range strings.Split(string(k), "\n") {
					if len(l) >= 40 && !strings.HasPrefix(l, "-----") {
						needles = append(needles, l)
					}
				}
			}
			for _, c := range commands {
				assert.Equal(t, wrapCommand(user != "root"), c)
				assert.NotContains(t, c, "-----BEGIN")
				assert.NotContains(t, c, "PRIVATE KEY")
				assert.NotContains(t, c, "LS0tLS1CRUdJTi", "base64 of a PEM header")
				assert.False(t, longBase64.MatchString(c), "a long base64 run in %q", c)
				for _, n := range needles {
					assert.NotContains(t, c, n, "server key material on the command line")
				}
			}

			// The key did travel, on stdin: the last one is in a script.
			last := base64.StdEncoding.EncodeToString(keys[len(keys)-1])
			found := false
			for _, s := range scripts {
				found = found || strings.Contains(s, last)
			}
			assert.True(t, found, "the server key is uploaded through stdin")
		})
	}
}
