package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const originalStore = "/home/olduser/.docker/machine"

// installOriginal copies testdata/original-store into m's store: its paths
// moved to the temporary store, 127.0.0.1:2376 replaced by addr, and the
// store certificates copied into each machine directory as provisioning
// did.
func (m *machine) installOriginal(addr string) []string {
	m.t.Helper()
	src := filepath.Join("testdata", "original-store", "machines")
	entries, err := os.ReadDir(src)
	require.NoError(m.t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		b, err := os.ReadFile(filepath.Join(src, e.Name(), "config.json"))
		require.NoError(m.t, err)
		b = bytes.ReplaceAll(b, []byte(originalStore), []byte(m.root))
		b = bytes.ReplaceAll(b, []byte("127.0.0.1:2376"), []byte(addr))
		dir := m.machineDir(e.Name())
		require.NoError(m.t, os.MkdirAll(dir, 0o700))
		require.NoError(m.t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
		for _, f := range []struct {
			name string
			mode os.FileMode
		}{{"ca.pem", 0o644}, {"cert.pem", 0o644}, {"key.pem", 0o600}} {
			c, err := os.ReadFile(filepath.Join(m.certsDir(), f.name))
			require.NoError(m.t, err)
			require.NoError(m.t, os.WriteFile(filepath.Join(dir, f.name), c, f.mode))
		}
	}
	return names
}

// A store written by the original (config versions 0 to 3, and a
// virtualbox machine on a host without VirtualBox) works, and read-only
// commands leave every byte of it as it was.
func TestOriginalStore(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	m.bootstrapCA()
	d := m.startDaemon()
	addr := strings.TrimPrefix(d.url, "tcp://")
	names := m.installOriginal(addr)
	require.Equal(t, []string{"old0", "old1", "old2", "old3", "vbox"}, names)
	before := m.hashStore()

	ls := m.ok("ls").stdout
	rows := lines(ls)
	require.Len(t, rows, 6, ls)
	assert.Regexp(t, `^NAME +ACTIVE +DRIVER +STATE +URL +SWARM +DOCKER +ERRORS$`, rows[0])
	for i, n := range []string{"old0", "old1", "old2", "old3"} {
		assert.Regexp(t, `^`+n+` +- +none +Running +`+d.url+` +v27\.1\.0 +$`, rows[i+1])
	}
	assert.Regexp(t, `^vbox +- +virtualbox +Error +VBoxManage not found\. Make sure VirtualBox is installed and VBoxManage is in the path$`, rows[5])
	assert.Equal(t, "old0\nold1\nold2\nold3\nvbox\n", m.ok("ls", "-q").stdout)
	assert.Equal(t, "old0\nold1\nold2\nold3\n", m.ok("ls", "-q", "--filter", "driver=none").stdout)
	assert.Equal(t, "old1\n", m.ok("ls", "-q", "--filter", "label=env=prod").stdout)
	assert.Equal(t, "old0\nold1\nold2\nold3\n", m.ok("ls", "-q", "--filter", "state=Running").stdout)

	for _, n := range []string{"old0", "old1", "old2", "old3"} {
		dir := m.machineDir(n)
		assert.Equal(t, d.url+"\n", m.ok("url", n).stdout, n)
		assert.Equal(t, "127.0.0.1\n", m.ok("ip", n).stdout, n)
		assert.Equal(t, "Running\n", m.ok("status", n).stdout, n)
		assert.Equal(t, "27.1.0\n", m.ok("version", n).stdout, n)
		assert.Equal(t, "export DOCKER_TLS_VERIFY=\"1\"\n"+
			"export DOCKER_HOST=\""+d.url+"\"\n"+
			"export DOCKER_CERT_PATH=\""+dir+"\"\n"+
			"export DOCKER_MACHINE_NAME=\""+n+"\"\n"+
			"# Run this command to configure your shell: \n"+
			"# eval $("+dm+" env "+n+")\n", m.ok("env", n).stdout, n)
		assert.Contains(t, m.ok("config", n).stdout, "-H="+d.url+"\n", n)

		// inspect shows the migrated (version 3) host.
		var h struct {
			ConfigVersion int
			Driver        map[string]any
			DriverName    string
			HostOptions   struct {
				AuthOptions struct {
					CertDir, CaCertPath, CaPrivateKeyPath, ClientCertPath, ClientKeyPath, ServerCertPath, StorePath string
				}
				EngineOptions struct {
					TLSVerify  bool `json:"TlsVerify"`
					InstallURL string
				}
			}
			Name string
		}
		require.NoError(t, json.Unmarshal([]byte(m.ok("inspect", n).stdout), &h), n)
		assert.Equal(t, 3, h.ConfigVersion, n)
		assert.Equal(t, "none", h.DriverName, n)
		assert.Equal(t, n, h.Name, n)
		assert.Equal(t, m.root, h.Driver["StorePath"], n)
		assert.Equal(t, d.url, h.Driver["URL"], n)
		a := h.HostOptions.AuthOptions
		assert.Equal(t, m.root+"/certs", a.CertDir, n)
		assert.Equal(t, m.root+"/certs/ca.pem", a.CaCertPath, n)
		assert.Equal(t, m.root+"/certs/ca-key.pem", a.CaPrivateKeyPath, n)
		assert.Equal(t, m.root+"/certs/cert.pem", a.ClientCertPath, n)
		assert.Equal(t, m.root+"/certs/key.pem", a.ClientKeyPath, n)
		assert.Equal(t, dir+"/server.pem", a.ServerCertPath, n)
		assert.Equal(t, dir, a.StorePath, n)
		assert.True(t, h.HostOptions.EngineOptions.TLSVerify, n)
		assert.Equal(t, "https://get.docker.com", h.HostOptions.EngineOptions.InstallURL, n)
	}
	assert.Equal(t, "vbox 1024 41235\n", m.ok("inspect", "-f", "{{.Name}} {{.Driver.Memory}} {{.Driver.SSHPort}}", "vbox").stdout)
	assert.Contains(t, m.fails("url", "vbox"), `VBoxManage not found`)
	assert.ElementsMatch(t, []string{"127.0.0.1", "127.0.0.1"}, lines(m.ok("ip", "old0", "old3").stdout))

	r := m.runWith(opts{env: map[string]string{"DOCKER_HOST": d.url}}, "active")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "old0\n", r.stdout)

	assert.Equal(t, before, m.hashStore(), "read-only commands wrote to the store")
	for p := range m.hashStore() {
		assert.False(t, strings.HasSuffix(p, ".bak"), p)
	}

	// The virtualbox machine cannot be removed without -f (VirtualBox is
	// missing), and is removed with it; the others are unaffected.
	_, line, hints := m.failsHinting(opts{}, "rm", "-y", "vbox")
	assert.Equal(t, `Error removing host "vbox": VBoxManage not found. Make sure VirtualBox is installed and VBoxManage is in the path`, line)
	assert.Equal(t, "Use 'docker-machine rm -f vbox' to remove the local configuration anyway.", hints)
	assert.DirExists(t, m.machineDir("vbox"))
	r = m.run("rm", "-f", "vbox")
	assert.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "Successfully removed vbox\n")
	assert.Contains(t, r.stderr, "VBoxManage not found. Make sure VirtualBox is installed and VBoxManage is in the path (local configuration removed)", "rm -f says why the VM was left alone")
	assert.NoDirExists(t, m.machineDir("vbox"))
	assert.Equal(t, "old0\nold1\nold2\nold3\n", m.ok("ls", "-q").stdout)

	// Removing a migrated machine works too.
	m.ok("rm", "-y", "old1")
	assert.Equal(t, "old0\nold2\nold3\n", m.ok("ls", "-q").stdout)
}

// Machines with an empty, corrupt, missing or future config.json are
// listed with their error and never stop commands on other machines.
func TestBrokenMachines(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, port := deadURL(t)
	m.create("good", url)
	write := func(name string, data []byte) {
		require.NoError(t, os.MkdirAll(m.machineDir(name), 0o700))
		if data != nil {
			require.NoError(t, os.WriteFile(filepath.Join(m.machineDir(name), "config.json"), data, 0o600))
		}
	}
	write("empty", []byte{})
	write("corrupt", []byte(`{"ConfigVersion": 3, "Driver": {"URL": "tcp://1`))
	write("noconfig", nil)
	good, err := os.ReadFile(filepath.Join(m.machineDir("good"), "config.json"))
	require.NoError(t, err)
	write("future", bytes.Replace(good, []byte(`"ConfigVersion": 3`), []byte(`"ConfigVersion": 4`), 1))
	// Lock files and interrupted removals are not machines.
	require.NoError(t, os.WriteFile(filepath.Join(m.root, "machines", ".good.lock"), nil, 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(m.root, "machines", ".removing-old-123", "old"), 0o700))
	before := m.hashStore()

	ls := m.ok("ls").stdout
	rows := lines(ls)
	require.Len(t, rows, 6, ls)
	assert.Regexp(t, `^NAME +ACTIVE +DRIVER +STATE +URL +SWARM +DOCKER +ERRORS$`, rows[0])
	assert.Regexp(t, `^corrupt +not found +Error +config\.json is corrupt`, rows[1])
	assert.Regexp(t, `^empty +not found +Error +config\.json is empty.*rm -f`, rows[2])
	assert.Regexp(t, `^future +not found +Error +config version is from the future -- you should upgrade your Docker Machine client$`, rows[3])
	assert.Regexp(t, `^good +- +none +Running +`+url+` +Unknown +`+strings.NewReplacer(".", `\.`, `"`, `"`).Replace(refused(port))+`$`, rows[4])
	assert.Regexp(t, `^noconfig +not found +Error +.*config\.json`, rows[5])
	for _, row := range rows {
		assert.NotContains(t, row, "removing")
	}

	assert.Equal(t, "corrupt\nempty\nfuture\ngood\nnoconfig\n", m.ok("ls", "-q").stdout)
	assert.Equal(t, "good\n", m.ok("ls", "-q", "--filter", "driver=none").stdout)
	assert.Equal(t, "corrupt\nempty\nfuture\nnoconfig\n", m.ok("ls", "-q", "--filter", "state=Error").stdout)
	assert.Equal(t, "corrupt\n", m.ok("ls", "-q", "--filter", "name=^co").stdout)
	assert.Equal(t, "good\n", m.ok("ls", "-q", "--filter", "state=Running").stdout)

	// Healthy machines are unaffected.
	assert.Equal(t, url+"\n", m.ok("url", "good").stdout)
	assert.Equal(t, "Error checking TLS connection: Error checking and/or regenerating the certs: There was an error validating certificates for host \"127.0.0.1:"+strconv.Itoa(port)+"\": dial tcp 127.0.0.1:"+strconv.Itoa(port)+": connect: connection refused",
		m.fails("env", "good"), "nothing listens at the machine's URL")
	assert.Equal(t, "good\n", m.ok("inspect", "-f", "{{.Name}}", "good").stdout)
	assert.Equal(t, "127.0.0.1\n", m.ok("ip", "good").stdout)
	r := m.runWith(opts{env: map[string]string{"DOCKER_HOST": url}}, "active")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "good\n", r.stdout)

	// Commands on a broken machine fail with one line.
	assert.Contains(t, m.fails("url", "empty"), "config.json is empty")
	assert.Contains(t, m.fails("inspect", "corrupt"), "corrupt")
	assert.Contains(t, m.fails("env", "future"), "config version is from the future")
	assert.Contains(t, m.fails("ip", "good", "noconfig"), "noconfig")
	assert.Equal(t, before, m.hashStore(), "read-only commands wrote to the store")

	// rm without -f refuses with a hint; -f removes.
	for _, n := range []string{"empty", "corrupt", "noconfig", "future"} {
		_, line, hints := m.failsHinting(opts{}, "rm", "-y", n)
		assert.Contains(t, line, `Error removing host "`+n+`"`)
		assert.Contains(t, line+hints, "rm -f", n)
		assert.DirExists(t, m.machineDir(n))
	}
	r = m.run("rm", "-f", "empty", "corrupt", "noconfig", "future")
	assert.Equal(t, 0, r.code, r)
	for _, n := range []string{"empty", "corrupt", "noconfig", "future"} {
		assert.Contains(t, r.stdout, "Successfully removed "+n+"\n")
		assert.NoDirExists(t, m.machineDir(n))
	}
	assert.Equal(t, "good\n", m.ok("ls", "-q").stdout)
}
