package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
)

// envStore has one none machine "dev" whose URL is a daemon stand-in on
// 127.0.0.1 that accepts the store's client certificate.
func envStore(t *testing.T) (*machine, string) {
	t.Helper()
	m := newStore(t)
	d := m.startDaemon()
	m.create("dev", d.url)
	return m, d.url
}

func TestEnvEveryShell(t *testing.T) {
	t.Parallel()
	m, url := envStore(t)
	dir := m.machineDir("dev")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{
			name: "bash from SHELL",
			args: []string{"env", "dev"},
			want: "export DOCKER_TLS_VERIFY=\"1\"\n" +
				"export DOCKER_HOST=\"" + url + "\"\n" +
				"export DOCKER_CERT_PATH=\"" + dir + "\"\n" +
				"export DOCKER_MACHINE_NAME=\"dev\"\n" +
				"# Run this command to configure your shell: \n" +
				"# eval $(" + dm + " env dev)\n",
		},
		{
			name: "zsh from SHELL",
			args: []string{"env", "dev"},
			env:  map[string]string{"SHELL": "/usr/bin/zsh"},
			want: "export DOCKER_TLS_VERIFY=\"1\"\n" +
				"export DOCKER_HOST=\"" + url + "\"\n" +
				"export DOCKER_CERT_PATH=\"" + dir + "\"\n" +
				"export DOCKER_MACHINE_NAME=\"dev\"\n" +
				"# Run this command to configure your shell: \n" +
				"# eval $(" + dm + " env dev)\n",
		},
		{
			name: "fish from SHELL",
			args: []string{"env", "dev"},
			env:  map[string]string{"SHELL": "/usr/local/bin/fish"},
			want: "set -gx DOCKER_TLS_VERIFY \"1\";\n" +
				"set -gx DOCKER_HOST \"" + url + "\";\n" +
				"set -gx DOCKER_CERT_PATH \"" + dir + "\";\n" +
				"set -gx DOCKER_MACHINE_NAME \"dev\";\n" +
				"# Run this command to configure your shell: \n" +
				"# eval (" + dm + " env dev)\n",
		},
		{
			name: "tcsh from SHELL",
			args: []string{"env", "dev"},
			env:  map[string]string{"SHELL": "/bin/tcsh"},
			want: "setenv DOCKER_TLS_VERIFY \"1\";\n" +
				"setenv DOCKER_HOST \"" + url + "\";\n" +
				"setenv DOCKER_CERT_PATH \"" + dir + "\";\n" +
				"setenv DOCKER_MACHINE_NAME \"dev\";\n" +
				": Run this command to configure your shell: \n" +
				": eval `" + dm + " env dev`\n",
		},
		{
			name: "--shell fish overrides SHELL",
			args: []string{"env", "--shell", "fish", "dev"},
			want: "set -gx DOCKER_TLS_VERIFY \"1\";\n" +
				"set -gx DOCKER_HOST \"" + url + "\";\n" +
				"set -gx DOCKER_CERT_PATH \"" + dir + "\";\n" +
				"set -gx DOCKER_MACHINE_NAME \"dev\";\n" +
				"# Run this command to configure your shell: \n" +
				"# eval (" + dm + " env --shell fish dev)\n",
		},
		{
			name: "powershell",
			args: []string{"env", "--shell", "powershell", "dev"},
			want: "$Env:DOCKER_TLS_VERIFY = \"1\"\n" +
				"$Env:DOCKER_HOST = \"" + url + "\"\n" +
				"$Env:DOCKER_CERT_PATH = \"" + dir + "\"\n" +
				"$Env:DOCKER_MACHINE_NAME = \"dev\"\n" +
				"# Run this command to configure your shell: \n" +
				"# & " + dm + " env --shell powershell dev | Invoke-Expression\n",
		},
		{
			name: "cmd",
			args: []string{"env", "--shell", "cmd", "dev"},
			want: "SET DOCKER_TLS_VERIFY=1\n" +
				"SET DOCKER_HOST=" + url + "\n" +
				"SET DOCKER_CERT_PATH=" + dir + "\n" +
				"SET DOCKER_MACHINE_NAME=dev\n" +
				"REM Run this command to configure your shell: \n" +
				"REM \t@FOR /f \"tokens=*\" %i IN ('" + dm + " env --shell cmd dev') DO @%i\n",
		},
		{
			name: "emacs",
			args: []string{"env", "--shell", "emacs", "dev"},
			want: "(setenv \"DOCKER_TLS_VERIFY\" \"1\")\n" +
				"(setenv \"DOCKER_HOST\" \"" + url + "\")\n" +
				"(setenv \"DOCKER_CERT_PATH\" \"" + dir + "\")\n" +
				"(setenv \"DOCKER_MACHINE_NAME\" \"dev\")\n" +
				";; Run this command to configure your shell: \n" +
				";; (with-temp-buffer (shell-command \"" + dm + " env --shell emacs dev\" (current-buffer)) (eval-buffer))\n",
		},
		{
			name: "tcsh flag after the name",
			args: []string{"env", "dev", "--shell", "tcsh"},
			want: "setenv DOCKER_TLS_VERIFY \"1\";\n" +
				"setenv DOCKER_HOST \"" + url + "\";\n" +
				"setenv DOCKER_CERT_PATH \"" + dir + "\";\n" +
				"setenv DOCKER_MACHINE_NAME \"dev\";\n" +
				": Run this command to configure your shell: \n" +
				": eval `" + dm + " env dev --shell tcsh`\n",
		},
		{
			name: "no-proxy, nothing set",
			args: []string{"env", "--no-proxy", "dev"},
			want: "export DOCKER_TLS_VERIFY=\"1\"\n" +
				"export DOCKER_HOST=\"" + url + "\"\n" +
				"export DOCKER_CERT_PATH=\"" + dir + "\"\n" +
				"export DOCKER_MACHINE_NAME=\"dev\"\n" +
				"export NO_PROXY=\"127.0.0.1\"\n" +
				"# Run this command to configure your shell: \n" +
				"# eval $(" + dm + " env --no-proxy dev)\n",
		},
		{
			name: "no-proxy appends to NO_PROXY",
			args: []string{"env", "--no-proxy", "dev"},
			env:  map[string]string{"NO_PROXY": "localhost"},
			want: "export DOCKER_TLS_VERIFY=\"1\"\n" +
				"export DOCKER_HOST=\"" + url + "\"\n" +
				"export DOCKER_CERT_PATH=\"" + dir + "\"\n" +
				"export DOCKER_MACHINE_NAME=\"dev\"\n" +
				"export NO_PROXY=\"localhost,127.0.0.1\"\n" +
				"# Run this command to configure your shell: \n" +
				"# eval $(" + dm + " env --no-proxy dev)\n",
		},
		{
			name: "no-proxy keeps the lower-case spelling",
			args: []string{"env", "--shell", "fish", "--no-proxy", "dev"},
			env:  map[string]string{"no_proxy": "localhost,.corp", "NO_PROXY": "ignored"},
			want: "set -gx DOCKER_TLS_VERIFY \"1\";\n" +
				"set -gx DOCKER_HOST \"" + url + "\";\n" +
				"set -gx DOCKER_CERT_PATH \"" + dir + "\";\n" +
				"set -gx DOCKER_MACHINE_NAME \"dev\";\n" +
				"set -gx no_proxy \"localhost,.corp,127.0.0.1\";\n" +
				"# Run this command to configure your shell: \n" +
				"# eval (" + dm + " env --shell fish --no-proxy dev)\n",
		},
		{
			name: "no-proxy already containing the IP",
			args: []string{"env", "--shell", "cmd", "--no-proxy", "dev"},
			env:  map[string]string{"NO_PROXY": "127.0.0.1,localhost"},
			want: "SET DOCKER_TLS_VERIFY=1\n" +
				"SET DOCKER_HOST=" + url + "\n" +
				"SET DOCKER_CERT_PATH=" + dir + "\n" +
				"SET DOCKER_MACHINE_NAME=dev\n" +
				"SET NO_PROXY=127.0.0.1,localhost\n" +
				"REM Run this command to configure your shell: \n" +
				"REM \t@FOR /f \"tokens=*\" %i IN ('" + dm + " env --shell cmd --no-proxy dev') DO @%i\n",
		},
		{
			name: "unset bash",
			args: []string{"env", "-u"},
			want: "unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\nunset DOCKER_CERT_PATH\nunset DOCKER_MACHINE_NAME\n" +
				"# Run this command to configure your shell: \n" +
				"# eval $(" + dm + " env -u)\n",
		},
		{
			name: "unset fish",
			args: []string{"env", "--unset", "--shell", "fish"},
			want: "set -e DOCKER_TLS_VERIFY;\nset -e DOCKER_HOST;\nset -e DOCKER_CERT_PATH;\nset -e DOCKER_MACHINE_NAME;\n" +
				"# Run this command to configure your shell: \n" +
				"# eval (" + dm + " env --unset --shell fish)\n",
		},
		{
			name: "unset powershell",
			args: []string{"env", "-u", "--shell", "powershell"},
			want: "Remove-Item Env:\\\\DOCKER_TLS_VERIFY\nRemove-Item Env:\\\\DOCKER_HOST\nRemove-Item Env:\\\\DOCKER_CERT_PATH\nRemove-Item Env:\\\\DOCKER_MACHINE_NAME\n" +
				"# Run this command to configure your shell: \n" +
				"# & " + dm + " env -u --shell powershell | Invoke-Expression\n",
		},
		{
			name: "unset cmd",
			args: []string{"env", "-u", "--shell", "cmd"},
			want: "SET DOCKER_TLS_VERIFY=\nSET DOCKER_HOST=\nSET DOCKER_CERT_PATH=\nSET DOCKER_MACHINE_NAME=\n" +
				"REM Run this command to configure your shell: \n" +
				"REM \t@FOR /f \"tokens=*\" %i IN ('" + dm + " env -u --shell cmd') DO @%i\n",
		},
		{
			name: "unset tcsh",
			args: []string{"env", "-u", "--shell", "tcsh"},
			want: "unsetenv DOCKER_TLS_VERIFY;\nunsetenv DOCKER_HOST;\nunsetenv DOCKER_CERT_PATH;\nunsetenv DOCKER_MACHINE_NAME;\n" +
				": Run this command to configure your shell: \n" +
				": eval `" + dm + " env -u --shell tcsh`\n",
		},
		{
			name: "unset emacs",
			args: []string{"env", "-u", "--shell", "emacs"},
			want: "(setenv \"DOCKER_TLS_VERIFY\" nil)\n(setenv \"DOCKER_HOST\" nil)\n(setenv \"DOCKER_CERT_PATH\" nil)\n(setenv \"DOCKER_MACHINE_NAME\" nil)\n" +
				";; Run this command to configure your shell: \n" +
				";; (with-temp-buffer (shell-command \"" + dm + " env -u --shell emacs\" (current-buffer)) (eval-buffer))\n",
		},
		{
			name: "unset no-proxy does not glue the value",
			args: []string{"env", "-u", "--no-proxy"},
			env:  map[string]string{"NO_PROXY": "localhost"},
			want: "unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\nunset DOCKER_CERT_PATH\nunset DOCKER_MACHINE_NAME\nunset NO_PROXY\n" +
				"# Run this command to configure your shell: \n" +
				"# eval $(" + dm + " env -u --no-proxy)\n",
		},
		{
			name: "unset no-proxy, lower-case set",
			args: []string{"env", "-u", "--no-proxy", "--shell", "fish"},
			env:  map[string]string{"no_proxy": "localhost"},
			want: "set -e DOCKER_TLS_VERIFY;\nset -e DOCKER_HOST;\nset -e DOCKER_CERT_PATH;\nset -e DOCKER_MACHINE_NAME;\nset -e no_proxy;\n" +
				"# Run this command to configure your shell: \n" +
				"# eval (" + dm + " env -u --no-proxy --shell fish)\n",
		},
		{
			name: "unset with an empty SHELL and --shell",
			args: []string{"env", "-u", "--shell", "bash"},
			env:  map[string]string{"SHELL": ""},
			want: "unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\nunset DOCKER_CERT_PATH\nunset DOCKER_MACHINE_NAME\n" +
				"# Run this command to configure your shell: \n" +
				"# eval $(" + dm + " env -u --shell bash)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.t = t
			r := m.runWith(opts{env: tt.env}, tt.args...)
			require.Equal(t, 0, r.code, r)
			assert.Empty(t, r.stderr)
			assert.Equal(t, tt.want, r.stdout)
		})
	}
}

func TestEnvErrors(t *testing.T) {
	t.Parallel()
	m, _ := envStore(t)
	before := m.hashStore()

	stdout, line, hints := m.failsHinting(opts{env: map[string]string{"SHELL": ""}}, "env", "dev")
	assert.Empty(t, stdout)
	assert.Equal(t, "Error: Unknown shell", line, "the original's text")
	assert.Contains(t, hints, "--shell")
	assert.Equal(t, "Error: Expected no machine name when the -u flag is present", m.fails("env", "-u", "dev"))
	assert.Equal(t, "Error: Expected one machine name as an argument", m.fails("env", "dev", "other"))
	assert.Equal(t, `Docker machine "nope" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.`, m.fails("env", "nope"))
	assert.Contains(t, m.fails("env", "--swarm", "dev"), `"dev" is not a swarm master. The --swarm flag is intended for use with swarm masters`)
	assert.Equal(t, `Error: No machine name(s) specified and no "default" machine exists`, m.fails("env"))
	assert.Equal(t, before, m.hashStore())
}

// A CA in the machine directory that did not sign its client certificate
// (the store CA was regenerated) fails env and config with the fix named,
// without a round trip to the daemon.
func TestEnvConfigCertificateProblems(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	d := m.startDaemon()
	m.create("dev", d.url)
	m.create("other", d.url)
	m.create("third", d.url)

	// Another CA replaces the machine's copy.
	otherCA := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, cert.GenerateCA(otherCA, filepath.Join(filepath.Dir(otherCA), "ca-key.pem"), "other", cert.DefaultBits))
	b, err := os.ReadFile(otherCA)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(m.machineDir("dev"), "ca.pem"), b, 0o644))

	host := "127.0.0.1:" + strconv.Itoa(d.port)
	prefix := `Error checking and/or regenerating the certs: There was an error validating certificates for host "` + host + `": `
	regen := func(name string) string {
		return "You can attempt to regenerate them using 'docker-machine regenerate-certs " + name + "'.\n" +
			"Be advised that this will trigger a Docker daemon restart which might stop running containers."
	}
	_, line, hints := m.failsHinting(opts{}, "env", "dev")
	assert.True(t, strings.HasPrefix(line, "Error checking TLS connection: "+prefix), line)
	assert.Contains(t, line, "unknown authority")
	assert.Equal(t, regen("dev"), hints)
	_, line, hints = m.failsHinting(opts{}, "config", "dev")
	assert.True(t, strings.HasPrefix(line, "Error running connection boilerplate: "+prefix), line)
	assert.Equal(t, regen("dev"), hints)

	// A server certificate for another address.
	a := m.authOptions()
	require.NoError(t, cert.Generate(cert.Options{
		CertPath: filepath.Join(m.machineDir("other"), "server.pem"), KeyPath: filepath.Join(m.machineDir("other"), "server-key.pem"),
		CACertPath: a.CaCertPath, CAKeyPath: a.CaPrivateKeyPath, Org: "tester.other", Server: true, Hosts: []string{"10.9.9.9", "localhost"},
	}))
	assert.Contains(t, m.fails("env", "other"), "certificate is valid for 10.9.9.9, not 127.0.0.1")
	assert.Equal(t, regen("other"), m.hint("config", "other"))

	// A missing client key.
	require.NoError(t, os.Remove(filepath.Join(m.machineDir("third"), "key.pem")))
	assert.Contains(t, m.fails("env", "third"), "key.pem: no such file or directory")
	assert.Equal(t, regen("third"), m.hint("env", "third"))
	assert.Zero(t, d.handshakes.Load(), "local checks fail before any handshake")
}

// env and config ask the daemon: one mutual TLS handshake with the
// machine's client certificate, the server verified against the
// machine's CA. GitLab Runner uses config's exit status as a liveness
// check, Ansible skips hosts whose env fails.
func TestEnvConfigCheckTheDaemon(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	d := m.startDaemon()
	m.create("up", d.url)
	require.Contains(t, m.ok("env", "--shell", "bash", "up").stdout, `export DOCKER_HOST="`+d.url+`"`)
	assert.Equal(t, int32(1), d.handshakes.Load(), "one full handshake")
	assert.Equal(t, int32(1), d.requests.Load(), "and a ping that brings the session ticket")
	// Later checks resume the session. The client says so in its trace:
	// the daemon may count a resumed handshake only after the client,
	// which sends nothing after it, has exited.
	for _, args := range [][]string{{"config", "up"}, {"env", "up"}} {
		r := m.run(append([]string{"-D"}, args...)...)
		require.Equal(t, 0, r.code, r)
		assert.Contains(t, r.stdout, d.url)
		assert.Contains(t, r.stderr, "(resumed session: true)", args)
	}
	assert.Equal(t, int32(1), d.handshakes.Load(), "no second full handshake")
	assert.Equal(t, int32(1), d.requests.Load(), "a resumed check sends nothing")
	session := filepath.Join(m.root, "cache", "tls-sessions", "up")
	info, err := os.Stat(session)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the ticket is a secret")

	// Another daemon takes over the address with a certificate of
	// another CA: the cached session does not make it trusted.
	foreignDir := t.TempDir()
	foreignCA, foreignKey := filepath.Join(foreignDir, "ca.pem"), filepath.Join(foreignDir, "ca-key.pem")
	require.NoError(t, cert.GenerateCA(foreignCA, foreignKey, "foreign", cert.DefaultBits))
	d.stop()
	impostor := m.startDaemonAt("127.0.0.1:"+strconv.Itoa(d.port), foreignCA, foreignKey)
	assert.Contains(t, m.fails("config", "up"), "x509: certificate signed by unknown authority")
	assert.Zero(t, impostor.resumed.Load())
	impostor.stop()
	// The real one is back (a restarted daemon: new ticket keys).
	back := m.startDaemonAt("127.0.0.1:"+strconv.Itoa(d.port), m.authOptions().CaCertPath, m.authOptions().CaPrivateKeyPath)
	m.ok("config", "up")
	assert.Equal(t, int32(1), back.handshakes.Load(), "the old ticket is refused: a full handshake")
	m.ok("rm", "-y", "up")
	assert.NoFileExists(t, session, "rm removes the cached session")

	expect := func(name, addr, cause string) {
		t.Helper()
		for _, c := range []struct{ cmd, prefix string }{
			{"env", "Error checking TLS connection: "},
			{"config", "Error running connection boilerplate: "},
		} {
			line := m.fails(c.cmd, name)
			want := c.prefix + `Error checking and/or regenerating the certs: There was an error validating certificates for host "` + addr + `": `
			assert.True(t, strings.HasPrefix(line, want), "%s %s: %s", c.cmd, name, line)
			assert.Contains(t, line, cause, "%s %s", c.cmd, name)
		}
	}

	// Nothing listens.
	dead, port := deadURL(t)
	m.create("down", dead)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	expect("down", addr, "dial tcp "+addr+": connect: connection refused")

	// A daemon whose certificate another CA signed.
	foreign := m.startDaemonSignedBy(foreignCA, foreignKey)
	m.create("foreign", foreign.url)
	expect("foreign", strings.TrimPrefix(foreign.url, "tcp://"), "x509: certificate signed by unknown authority")

	// A daemon that accepts the connection and never answers: the check
	// gives up after its timeout instead of hanging the caller.
	hang := hangingURL(t)
	m.create("hang", hang)
	start := time.Now()
	line := m.fails("config", "hang")
	// The message names the 5 s timeout; the bound only catches a hang
	// (a loaded machine adds seconds, not a minute).
	assert.Less(t, time.Since(start), time.Minute)
	assert.Contains(t, line, "no TLS handshake with "+strings.TrimPrefix(hang, "tcp://")+" within 5s")

	// URLs the original accepted but that no TLS client can reach.
	m.create("sock", "unix:///var/run/docker.sock")
	assert.Contains(t, m.fails("env", "sock"), `cannot check a TLS connection to "unix:///var/run/docker.sock": not a tcp://HOST:PORT URL`)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	m, url := envStore(t)
	dir := m.machineDir("dev")
	want := "--tlsverify\n" +
		"--tlscacert=\"" + dir + "/ca.pem\"\n" +
		"--tlscert=\"" + dir + "/cert.pem\"\n" +
		"--tlskey=\"" + dir + "/key.pem\"\n" +
		"-H=" + url + "\n"
	assert.Equal(t, want, m.ok("config", "dev").stdout)

	// Swarm masters: -H points at the swarm port.
	swarm := m.startDaemon()
	m.create("master", url, "--swarm-master", "--swarm-discovery", "token://x", "--swarm-host", "tcp://0.0.0.0:"+strconv.Itoa(swarm.port))
	out := m.ok("config", "--swarm", "master").stdout
	assert.True(t, strings.HasSuffix(out, "\n-H="+swarm.url+"\n"), out)
	out = m.ok("env", "--swarm", "master").stdout
	assert.Contains(t, out, "export DOCKER_HOST=\""+swarm.url+"\"\n")

	// The swarm port is dead but the engine answers.
	_, deadPort := deadURL(t)
	m.create("nomanager", url, "--swarm-master", "--swarm-discovery", "token://x", "--swarm-host", "tcp://0.0.0.0:"+strconv.Itoa(deadPort))
	assert.Equal(t, "Error running connection boilerplate: Connection to Swarm cannot be checked but the certs are valid. Maybe swarm is not started",
		m.fails("config", "--swarm", "nomanager"))

	assert.Contains(t, m.fails("config", "--swarm", "dev"), "is not a swarm master")
	assert.Contains(t, m.fails("config", "a", "b"), "Expected one machine name")
}

// A none machine whose --url is a command substitution: env cannot reach
// it, so it fails with nothing on stdout, and evaluating it as the README
// says runs nothing. (What env prints for such values is checked shell by
// shell, in real shells, by the commands package's tests.)
func TestEnvHostileURLRunsNothing(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	canary := filepath.Join(t.TempDir(), "canary")
	url := "$(touch " + canary + ")`touch " + canary + "`"
	m.create("m", url)

	stdout, line, _ := m.failsHinting(opts{}, "env", "m")
	assert.Empty(t, stdout)
	assert.True(t, strings.HasPrefix(line, "Error checking TLS connection: "), line)

	bash, err := exec.LookPath("bash")
	require.NoError(t, err)
	cmd := m.command(opts{}, "env", "m")
	cmd.Path, cmd.Args = bash, []string{"bash", "-c", `eval "$("$0" env m)"; printf %s "${DOCKER_HOST-unset}"`, dm}
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "unset", string(out))
	_, err = os.Stat(canary)
	assert.True(t, os.IsNotExist(err), "evaluating env output ran the URL")
}
