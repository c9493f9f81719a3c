package cli_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func notExist(name string) string {
	return `Docker machine "` + name + `" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.`
}

func needsSSH(name string) string {
	return `Error: regenerate-certs needs SSH access to "` + name + `", and the none driver does not support SSH`
}

// `regenerate-certs --client-certs` replaces the store's CA, which breaks
// every machine that does not get new certificates. When no named machine
// can get them (it does not exist, or it has no SSH), nothing is replaced:
// the store stays as it was, to the modification times, and the command
// fails with the usual errors.
func TestRegenerateClientCertsReplacesNothingWithoutATarget(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("one", url)
	m.create("two", url)
	before := m.hashStore()
	for _, c := range []struct {
		args        []string
		line, hints string
	}{
		{args: []string{"nope"}, line: notExist("nope")},
		{args: []string{"one"}, line: needsSSH("one")},
		{args: []string{"one", "two"}, line: needsSSH("one"), hints: needsSSH("two")},
		// A load error stops everything, as for every multi-machine command.
		{args: []string{"one", "nope"}, line: notExist("nope")},
	} {
		args := append([]string{"regenerate-certs", "--client-certs", "-f"}, c.args...)
		stdout, line, hints := m.failsHinting(opts{}, args...)
		assert.Equal(t, "Regenerating TLS certificates\n", stdout, "%v", args)
		assert.Equal(t, c.line, line, "%v", args)
		assert.Equal(t, c.hints, hints, "%v", args)
		assert.Equal(t, before, m.hashStore(), "%v changed the store", args)
	}

	// No answer at all, or an empty line, fail as the original's Scanln
	// did (exit 1), changing nothing.
	for stdin, msg := range map[string]string{"": "EOF", "\n": "unexpected newline"} {
		r := m.runWith(opts{stdin: stdin}, "regenerate-certs", "--client-certs", "one")
		assert.Equal(t, result{stdout: "Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): ", stderr: msg + "\n", code: 1}, r, "stdin %q", stdin)
	}
	assert.Equal(t, before, m.hashStore())

	// The prompt: "n" changes nothing and exits 0; "y" goes on as -f.
	r := m.runWith(opts{stdin: "n\n"}, "regenerate-certs", "--client-certs", "one")
	assert.Equal(t, result{stdout: "Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): "}, r)
	stdout, line := m.failsPrinting(opts{stdin: "y\n"}, "regenerate-certs", "--client-certs", "one")
	assert.Equal(t, "Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): Regenerating TLS certificates\n", stdout)
	assert.Equal(t, needsSSH("one"), line)
	assert.Equal(t, before, m.hashStore())
}

// With one machine that offers SSH among the targets, the CA and client
// certificate are replaced (before its provisioning is attempted, which
// fails here: nothing listens on its SSH port).
func TestRegenerateClientCertsWithASSHTarget(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("none1", url)
	port := strconv.Itoa(closedPort(t))
	m.failsHinting(opts{}, "--ssh-timeout", "1s", "create", "-d", "generic", "--generic-ip-address", "127.0.0.1",
		"--generic-ssh-port", port, "--keep-on-failure", "gen")
	ca := m.readFile("certs/ca.pem")
	clientKey := m.readFile("certs/key.pem")

	stdout, line, hints := m.failsHinting(opts{}, "--ssh-timeout", "1s", "regenerate-certs", "--client-certs", "-f", "none1", "gen")
	assert.True(t, strings.HasPrefix(stdout, "Regenerating TLS certificates\nRegenerating local certificates\nCreating CA: "+filepath.Join(m.certsDir(), "ca.pem")+"\n"), stdout)
	assert.Equal(t, needsSSH("none1"), line)
	assert.NotEmpty(t, hints, "the generic machine's error")
	assert.NotEqual(t, ca, m.readFile("certs/ca.pem"))
	assert.NotEqual(t, clientKey, m.readFile("certs/key.pem"))
	assert.Empty(t, globBak(t, m), "--client-certs replaces without keeping copies")
}

func globBak(t *testing.T, m *machine) []string {
	t.Helper()
	baks, err := filepath.Glob(filepath.Join(m.certsDir(), "*.bak-*"))
	require.NoError(t, err)
	return baks
}

// A garbage certs/key.pem is not copied into the next machine: create
// makes a new client pair of the same CA and keeps the garbage as a .bak
// copy. Machines made before keep working, the new one works.
func TestCreateWithGarbageClientKey(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	d := m.startDaemon()
	m.create("old", d.url)
	ca := m.readFile("certs/ca.pem")
	keyPath := filepath.Join(m.certsDir(), "key.pem")
	require.NoError(t, os.WriteFile(keyPath, []byte("garbage\n"), 0o600))

	r := m.run("create", "-d", "none", "--url", d.url, "new")
	require.Equal(t, 0, r.code, "%s", r)
	require.Empty(t, r.stderr)
	certPath := filepath.Join(m.certsDir(), "cert.pem")
	baks := globBak(t, m)
	require.Len(t, baks, 2, "the key and its certificate")
	assert.Equal(t, certPath+".bak-", baks[0][:len(certPath)+5])
	assert.Equal(t, keyPath+".bak-", baks[1][:len(keyPath)+5])
	assert.Equal(t, "garbage\n", m.readFile("certs/"+filepath.Base(baks[1])))
	assert.Equal(t, m.readFile("machines/old/cert.pem"), m.readFile("certs/"+filepath.Base(baks[0])))
	assert.Contains(t, r.stdout, "Client certificate is unusable and needs to be regenerated: the key "+keyPath+
		" does not fit the certificate "+certPath+": failed to find any PEM data in key input\n"+
		"Creating client certificate: "+certPath+"\n"+
		"The previous client certificate files are kept as "+baks[1]+", "+baks[0]+"\n")

	assert.Equal(t, ca, m.readFile("certs/ca.pem"), "the CA is kept")
	assert.Equal(t, m.readFile("certs/key.pem"), m.readFile("machines/new/key.pem"))
	assert.NotEqual(t, "garbage\n", m.readFile("machines/new/key.pem"))
	for _, name := range []string{"old", "new"} {
		assert.Contains(t, m.ok("env", name).stdout, "export DOCKER_HOST=\""+d.url+"\"", name)
	}
}
