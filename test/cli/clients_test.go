package cli_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// machinesDirEntries lists <store>/machines as GitLab Runner's List does
// it (it reads the directory itself), but returns every entry.
func machinesDirEntries(t *testing.T, m *machine) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(m.root, "machines"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			name += " (file)"
		}
		out = append(out, name)
	}
	return out
}

// GitLab Runner's docker+machine executor, call by call
// (helpers/docker/machine_command.go): the global --bugsnag-api-token
// first, create with options as --key=value, Exist (stat of config.json,
// then inspect), CanConnect (config, exit status only), Credentials (url,
// inspect -f StorePath), a docker client built from those credentials,
// then stop, rm -y, and rm -f for a machine that cannot be removed.
func TestGitLabRunnerCallSequence(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	d := m.startDaemon()
	dm := func(args ...string) result {
		t.Helper()
		return m.run(append([]string{"--bugsnag-api-token=no-report"}, args...)...)
	}
	name := "runner-abc123-auto-scale-1733068800-d8a1b2c3"
	r := dm("create", "--driver", "none", "--url="+d.url, "--engine-label=gitlab=runner", "--engine-opt=log-level=warn", name)
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "To see how to connect your Docker Client")

	// List: directories of machines/ not starting with ".".
	assert.Equal(t, []string{name}, machinesDirEntries(t, m), "only the machine's directory")
	// Exist.
	assert.FileExists(t, filepath.Join(m.machineDir(name), "config.json"))
	require.Equal(t, 0, dm("inspect", name).code)
	// CanConnect.
	r = dm("config", name)
	require.Equal(t, 0, r.code, r)
	// Credentials.
	r = dm("url", name)
	require.Equal(t, 0, r.code, r)
	host := strings.TrimSpace(r.stdout)
	assert.Equal(t, d.url, host)
	r = dm("inspect", name, "-f", "{{.HostOptions.AuthOptions.StorePath}}")
	require.Equal(t, 0, r.code, r)
	certPath := strings.TrimSpace(r.stdout)
	assert.Equal(t, m.machineDir(name), certPath)
	assert.Equal(t, "27.1.0", dockerVersionWith(t, host, certPath), "a docker client configured as Runner does reaches the daemon")

	// The daemon dies: CanConnect must say so.
	dead, _ := deadURL(t)
	r = dm("create", "--driver", "none", "--url="+dead, name+"-dead")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, 1, dm("config", name+"-dead").code, "config fails for a machine whose daemon does not answer")

	// Stop (the none driver cannot), then remove.
	r = dm("stop", name)
	assert.Equal(t, 1, r.code, r)
	r = dm("rm", "-y", name)
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "Successfully removed "+name)
	r = dm("rm", "-f", name+"-dead")
	require.Equal(t, 0, r.code, r)
	// A machine that is already gone: rm -f still exits 0.
	r = dm("rm", "-f", name)
	assert.Equal(t, 0, r.code, r)
	assert.Empty(t, machinesDirEntries(t, m), "nothing is left in machines/")
}

// dockerVersionWith asks GET /version the way the docker client does with
// DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH=certPath.
func dockerVersionWith(t *testing.T, host, certPath string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(certPath, "cert.pem"), filepath.Join(certPath, "key.pem"))
	require.NoError(t, err)
	caPEM, err := os.ReadFile(filepath.Join(certPath, "ca.pem"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	resp, err := c.Get("https://" + strings.TrimPrefix(host, "tcp://") + "/version")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	v := string(b)
	v = v[strings.Index(v, `"Version":"`)+len(`"Version":"`):]
	return v[:strings.Index(v, `"`)]
}

// Autoscalers create and remove machines all day; after 200 cycles, some
// of them failing in every way a create can fail before or after the
// machine is recorded, machines/ holds nothing but machine directories —
// no lock files, no temp or staging entries.
func TestCreateRmCyclesLeaveNothing(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url := m.startDaemon().url
	m.create("keep", url)
	closed := strconv.Itoa(closedPort(t))
	const cycles, workers = 200, 4
	var wg sync.WaitGroup
	errs := make(chan string, cycles)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < cycles; i += workers {
				name := fmt.Sprintf("m%d", i)
				var create []string
				switch i % 10 {
				case 3: // driver not found
					create = []string{"create", "-d", "nope", name}
				case 5: // flag error
					create = []string{"create", "-d", "none", "--url=" + url, "--bogus", name}
				case 7: // name taken
					create = []string{"create", "-d", "none", "--url", url, "keep"}
				case 9: // invalid name
					create = []string{"create", "-d", "none", "--url", url, name + "_x"}
				default:
					create = []string{"create", "-d", "none", "--url", url, name}
				}
				if i%50 == 1 {
					// Fails after the machine was recorded (no SSH), so
					// the rollback runs.
					create = []string{"--ssh-timeout", "1s", "create", "-d", "generic", "--generic-ip-address", "127.0.0.1", "--generic-ssh-port", closed, name}
				}
				cr := m.run(create...)
				want := 0
				if i%10 == 3 || i%10 == 5 || i%10 == 7 || i%10 == 9 || i%50 == 1 {
					want = 1
				}
				if cr.code != want {
					errs <- fmt.Sprintf("%v: %s", create, cr)
					continue
				}
				if want == 0 {
					if rr := m.run("rm", "-y", name); rr.code != 0 {
						errs <- fmt.Sprintf("rm %s: %s", name, rr)
					}
				} else if rr := m.run("rm", "-y", name); rr.code != 1 || !strings.Contains(rr.stderr, "does not exist") {
					errs <- fmt.Sprintf("rm of a machine that failed to create: %s", rr)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	assert.Equal(t, []string{"keep"}, machinesDirEntries(t, m))
	m.ok("rm", "-y", "keep")
	assert.Empty(t, machinesDirEntries(t, m))
}

// The original's error texts for a machine that is not running, as the
// first line of stderr (spec 1.7, 3.4, 3.15, 3.18, 3.20): a generic
// machine whose host does not answer counts as Stopped.
func TestOriginalErrorTextsForAStoppedMachine(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	port := strconv.Itoa(closedPort(t))
	m.failsPrinting(opts{}, "--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port, "g")
	assert.Equal(t, "Stopped\n", m.ok("status", "g").stdout)
	assert.Equal(t, "Host is not running", m.fails("url", "g"))
	assert.Equal(t, "Error checking TLS connection: Host is not running", m.fails("env", "g"))
	assert.Equal(t, "Error running connection boilerplate: Host is not running", m.fails("config", "g"))
	assert.Equal(t, `Error: Cannot run SSH command: Host "g" is not running`, m.fails("ssh", "g", "true"))
	assert.Equal(t, `Machine "g" is already stopped.`, m.fails("stop", "g"))
	assert.Equal(t, `Machine "g" is already stopped.`, m.fails("kill", "g"))
	assert.Equal(t, "127.0.0.1\n", m.ok("ip", "g").stdout)
	m.ok("rm", "-y", "g")
	assert.Empty(t, machinesDirEntries(t, m))
}

// A failed pre-create check: the original's text and exit code 3, and
// nothing recorded.
func TestPreCreateCheckFails(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	missing := filepath.Join(t.TempDir(), "nokey")
	r := m.run("create", "-d", "generic", "--generic-ip-address", "127.0.0.1", "--generic-ssh-key", missing, "pc")
	assert.Equal(t, 3, r.code, r)
	assert.Equal(t, `Error with pre-create check: "SSH key does not exist: \"`+missing+`\""`+"\n", r.stderr)
	assert.Contains(t, r.stdout, "Running pre-create checks...")
	assert.Empty(t, machinesDirEntries(t, m))
}

// Machine names that would reach outside machines/ are no machines: a
// config.json next to the store stays untouched, the store stays.
func TestNamesOutsideTheStore(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url := m.startDaemon().url
	m.create("a", url)
	victim := filepath.Join(m.home, "victim")
	require.NoError(t, os.MkdirAll(victim, 0o700))
	cfg := []byte(m.readFile("machines/a/config.json"))
	require.NoError(t, os.WriteFile(filepath.Join(victim, "config.json"), cfg, 0o600))
	before := m.hashStore()
	for _, args := range [][]string{{"stop", "../../victim"}, {"inspect", "../../victim"}, {"rm", "-y", ".."}, {"env", "../victim"}} {
		r := m.run(args...)
		assert.Equal(t, 1, r.code, "%v\n%s", args, r)
		assert.Contains(t, r.stderr, "does not exist", args)
	}
	r := m.run("rm", "-f", "..")
	assert.Equal(t, 0, r.code, "rm -f exits 0 as the original did\n%s", r)
	assert.Contains(t, r.stderr, `Docker machine ".." does not exist`)
	got, err := os.ReadFile(filepath.Join(victim, "config.json"))
	require.NoError(t, err)
	assert.Equal(t, cfg, got)
	assert.Equal(t, before, m.hashStore())
	assert.Equal(t, "a\n", m.ok("ls", "-q").stdout)
}

// scp and rsync get the user's paths after "--": a path starting with
// "-" is copied, not taken as an option.
func TestScpPathsAfterDoubleDash(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	port := strconv.Itoa(closedPort(t))
	m.failsPrinting(opts{}, "--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port, "g")
	bin := t.TempDir()
	record := filepath.Join(t.TempDir(), "argv")
	for _, tool := range []string{"scp", "rsync"} {
		script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + record + "." + tool + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(bin, tool), []byte(script), 0o755))
	}
	path := map[string]string{"PATH": bin + ":/usr/bin:/bin"}
	r := m.runWith(opts{env: path}, "scp", "--", "-oProxyCommand=evil", "g:/tmp/x")
	require.Equal(t, 0, r.code, r)
	r = m.runWith(opts{env: path}, "scp", "--delta", "--", "-e=evil", "g:/tmp/x")
	require.Equal(t, 0, r.code, r)
	for _, tool := range []string{"scp", "rsync"} {
		b, err := os.ReadFile(record + "." + tool)
		require.NoError(t, err, tool)
		argv := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		require.GreaterOrEqual(t, len(argv), 3, tool)
		assert.Equal(t, "--", argv[len(argv)-3], "%s %q", tool, argv)
		assert.Equal(t, "root@127.0.0.1:/tmp/x", argv[len(argv)-1], tool)
	}
}

// A stop that fails (the none driver cannot stop) leaves the machine's
// config.json byte for byte as it was, even one of an older version.
func TestFailedStopLeavesConfigAlone(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	m.create("n", "tcp://127.0.0.1:2376")
	p := filepath.Join(m.machineDir("n"), "config.json")
	// An older ConfigVersion with a field this build does not know.
	old := strings.Replace(m.readFile("machines/n/config.json"), `"ConfigVersion": 3`, `"ConfigVersion": 2`, 1)
	old = strings.Replace(old, `"URL": "tcp://127.0.0.1:2376"`, `"URL": "tcp://127.0.0.1:2376", "FutureField": 7`, 1)
	require.NoError(t, os.WriteFile(p, []byte(old), 0o600))
	before := m.contentHash()
	r := m.run("stop", "n")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "hosts without a driver cannot be stopped")
	assert.Equal(t, old, m.readFile("machines/n/config.json"))
	assert.Equal(t, before, m.contentHash(), "no backup, no migration")
}
