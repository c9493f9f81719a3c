package cli_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// driverJSON returns the Driver object of a machine's config.json as
// ordered key/value pairs (the order a reader of the raw file sees).
func driverJSON(t *testing.T, m *machine, name string) [][2]string {
	t.Helper()
	var top struct{ Driver json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(m.readFile("machines/"+name+"/config.json")), &top))
	dec := json.NewDecoder(strings.NewReader(string(top.Driver)))
	_, err := dec.Token()
	require.NoError(t, err)
	var out [][2]string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
		out = append(out, [2]string{k.(string), string(v)})
	}
	return out
}

// The Driver objects of none and generic machines hold the fields the
// original wrote, in its order and with its values (observed on
// docker-machine 0.16.2 for the same commands): readers such as Ansible's
// inventory take Driver.IPAddress from inspect.
func TestDriverFieldsAsTheOriginalWrote(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	store := strconv.Quote(m.root)
	m.create("n1", "tcp://127.0.0.1:2376")
	assert.Equal(t, [][2]string{
		{"IPAddress", `"127.0.0.1:2376"`}, {"MachineName", `"n1"`}, {"SSHUser", `""`}, {"SSHPort", "0"},
		{"SSHKeyPath", `""`}, {"StorePath", store}, {"SwarmMaster", "false"}, {"SwarmHost", `""`},
		{"SwarmDiscovery", `""`}, {"URL", `"tcp://127.0.0.1:2376"`},
	}, driverJSON(t, m, "n1"))
	assert.Equal(t, "127.0.0.1:2376\n", m.ok("inspect", "-f", "{{.Driver.IPAddress}}", "n1").stdout)

	// A generic machine whose host does not answer: kept so its record
	// can be read.
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "mykey_ed")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(block), 0o600))
	pub, err := ssh.NewPublicKey(priv.Public())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(key+".pub", ssh.MarshalAuthorizedKey(pub), 0o644))
	port := strconv.Itoa(closedPort(t))
	for _, c := range []struct{ name, key, keyPath string }{
		{"g1", key, filepath.Join(m.machineDir("g1"), "mykey_ed")},
		{"g2", "", ""},
	} {
		args := []string{"--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic",
			"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port}
		if c.key != "" {
			args = append(args, "--generic-ssh-key", c.key)
		}
		m.failsPrinting(opts{}, append(args, c.name)...)
		assert.Equal(t, [][2]string{
			{"IPAddress", `"127.0.0.1"`}, {"MachineName", strconv.Quote(c.name)}, {"SSHUser", `"root"`}, {"SSHPort", port},
			{"SSHKeyPath", strconv.Quote(c.keyPath)}, {"StorePath", store}, {"SwarmMaster", "false"}, {"SwarmHost", `""`},
			{"SwarmDiscovery", `""`}, {"EnginePort", "2376"}, {"SSHKey", strconv.Quote(c.key)},
		}, driverJSON(t, m, c.name), c.name)
	}
	// The imported key pair keeps its name, as the original's did.
	assert.FileExists(t, filepath.Join(m.machineDir("g1"), "mykey_ed"))
	assert.FileExists(t, filepath.Join(m.machineDir("g1"), "mykey_ed.pub"))
}

// config.json as a whole, byte for byte, against files docker-machine
// 0.16.2 wrote for the same commands (testdata/original; the store path
// and the SSH port replaced by placeholders).
func TestConfigJSONAsTheOriginalWrote(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	fixture := func(name string, repl ...string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "original", name))
		require.NoError(t, err)
		return strings.NewReplacer(append([]string{"@STORE@", m.root}, repl...)...).Replace(string(b))
	}
	m.ok("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "--engine-label", "a=b", "--engine-opt", "x=y", "--engine-env", "E=1",
		"--engine-insecure-registry", "r:5000", "--engine-registry-mirror", "http://m", "--swarm-discovery", "token://x", "--tls-san", "foo", "m")
	assert.Equal(t, fixture("none-options.json"), m.readFile("machines/m/config.json"))

	port := strconv.Itoa(closedPort(t))
	m.failsPrinting(opts{}, "--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port, "g2")
	assert.Equal(t, fixture("generic.json", "@PORT@", port), m.readFile("machines/g2/config.json"))
}
