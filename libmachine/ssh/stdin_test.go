package ssh_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "s3cret-" + hex.EncodeToString(b)
}

// leakScanScript runs on the (loopback) host: it writes secret to a file
// with the shell's builtin printf and looks for it in the command line of
// every process — the local ssh client and the remote shell included,
// both alive while it runs — then prints what it received.
func leakScanScript(dir, secret string) string {
	pat := filepath.Join(dir, "pattern")
	return "set -e\n" +
		"printf '%s\\n' '" + secret + "' > '" + pat + "'\n" +
		"for f in /proc/[0-9]*/cmdline; do if grep -qF -f '" + pat + "' \"$f\" 2>/dev/null; then echo \"leak:$f\"; fi; done\n" +
		"printf 'seen:%s\\n' '" + secret + "'\n"
}

// TestOutputStdinKeepsSecretsOffCommandLines: a script carrying a secret
// goes on stdin; the secret is in no process's argv, neither the local
// ssh (recorded by a wrapper around the real binary) nor any process on
// the host, and the remote command received it.
func TestOutputStdinKeepsSecretsOffCommandLines(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			c := newClient(t, kind, targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify))
			argvLog := filepath.Join(dir, "argv.log")
			if kind == ssh.External {
				wrapper := filepath.Join(dir, "ssh-wrapper")
				script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + argvLog + "'\nexec '" + ssh.ClientBinary(c) + "' \"$@\"\n"
				require.NoError(t, os.WriteFile(wrapper, []byte(script), 0o700))
				ssh.SetExternalBinary(c, wrapper)
			}

			secret := randomSecret(t)
			out, err := c.OutputStdin("sh -s", strings.NewReader(leakScanScript(dir, secret)))
			require.NoError(t, err, out)
			assert.Contains(t, out, "seen:"+secret, "the remote command read the script from stdin")
			assert.NotContains(t, out, "leak:", "the secret is on a command line")

			// Exit codes and output as with Output.
			out, err = c.OutputStdin("sh -s", strings.NewReader("echo partial\nexit 7\n"))
			var ee *ssh.ExitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 7, ee.Code)
			assert.Equal(t, "partial\n", out)

			if kind != ssh.External {
				return
			}
			// The checks see a leak: the same secret as an argument.
			leaked := randomSecret(t)
			out, err = c.Output("echo " + leaked + " >/dev/null; sh -c " + shq(leakScanScript(dir, leaked)))
			require.NoError(t, err, out)
			assert.Contains(t, out, "leak:")

			b, err := os.ReadFile(argvLog)
			require.NoError(t, err)
			argv := string(b)
			assert.Contains(t, argv, " -N", "the control master ran through the wrapper")
			assert.Contains(t, argv, " sh -s\n")
			assert.Contains(t, argv, leaked)
			assert.NotContains(t, argv, secret)
		})
	}
}

// TestOutputStdinWithoutPty: even for a target that requests a pty for
// commands, stdin reaches the command unchanged (a terminal would echo
// it and cut lines longer than 4095 bytes).
func TestOutputStdinWithoutPty(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	long := strings.Repeat("A", 10000)
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			tgt := targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify)
			tgt.RequestTTY = true
			out, err := newClient(t, kind, tgt).OutputStdin("sh -s", strings.NewReader("tty -s || echo no-tty\necho "+long+" | wc -c\n"))
			require.NoError(t, err, out)
			assert.Equal(t, "no-tty\n10001\n", strings.ReplaceAll(out, " ", ""))
		})
	}
}
