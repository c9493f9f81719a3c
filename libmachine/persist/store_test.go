package persist_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/docker-machine-ng/machine/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/drivers/none"
	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/persist"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// The fixtures of the host package were written for this store root.
const oldStore = "/home/olduser/.docker/machine"

// Environment of the helper process used by TestLockAcrossProcesses.
const (
	helperEnv      = "PERSIST_TEST_LOCK_HELPER"
	helperRootEnv  = "PERSIST_TEST_ROOT"
	helperIterEnv  = "PERSIST_TEST_ITERATIONS"
	helperCountEnv = "PERSIST_TEST_COUNTER"
	helperLogEnv   = "PERSIST_TEST_LOG"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(lockHelper())
	}
	if os.Getenv(holdEnv) != "" {
		os.Exit(holdHelper())
	}
	os.Exit(m.Run())
}

// lockHelper runs in a child process: it increments a counter file under
// the machine lock, logging the start and end of each critical section.
func lockHelper() int {
	s := persist.New(os.Getenv(helperRootEnv))
	n, _ := strconv.Atoi(os.Getenv(helperIterEnv))
	pid := os.Getpid()
	for i := range n {
		l, err := s.Lock("shared")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := appendLine(os.Getenv(helperLogEnv), fmt.Sprintf("B %d", pid)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		b, _ := os.ReadFile(os.Getenv(helperCountEnv))
		c, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		runtime.Gosched()
		if err := os.WriteFile(os.Getenv(helperCountEnv), []byte(strconv.Itoa(c+1)), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := appendLine(os.Getenv(helperLogEnv), fmt.Sprintf("E %d", pid)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		// Half of the releases delete the lock file, as rm does.
		if i%2 == 0 {
			err = l.Unlock()
		} else {
			err = l.Unlock()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	return 0
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newStore(t *testing.T) *persist.Store {
	t.Helper()
	return persist.New(t.TempDir())
}

// newHost builds a none machine as create does.
func newHost(s *persist.Store, name, url string) *host.Host {
	d := none.New(name, s.Root)
	d.URL = url
	dir := s.MachineDir(name)
	return &host.Host{
		ConfigVersion: host.ConfigVersion,
		Driver:        d,
		DriverName:    none.Name,
		Name:          name,
		HostOptions: &host.Options{
			EngineOptions: &engine.Options{
				ArbitraryFlags: []string{}, Env: []string{}, InsecureRegistry: []string{},
				Labels: []string{"env=test", "tier=db"}, RegistryMirror: []string{},
				TLSVerify: true, InstallURL: engine.DefaultInstallURL,
			},
			SwarmOptions: &swarm.Options{
				Host: swarm.DefaultHost, Image: swarm.DefaultImage, Strategy: swarm.DefaultStrategy,
				ArbitraryFlags: []string{}, ArbitraryJoinFlags: []string{},
			},
			AuthOptions: &auth.Options{
				CertDir:          s.CertsDir(),
				CaCertPath:       filepath.Join(s.CertsDir(), "ca.pem"),
				CaPrivateKeyPath: filepath.Join(s.CertsDir(), "ca-key.pem"),
				ClientCertPath:   filepath.Join(s.CertsDir(), "cert.pem"),
				ClientKeyPath:    filepath.Join(s.CertsDir(), "key.pem"),
				ServerCertPath:   filepath.Join(dir, "server.pem"),
				ServerKeyPath:    filepath.Join(dir, "server-key.pem"),
				ServerCertSANs:   []string{},
				StorePath:        dir,
			},
		},
	}
}

// createMachine records a machine as create does: directory, then save.
func createMachine(t *testing.T, s *persist.Store, name, url string) *host.Host {
	t.Helper()
	h := newHost(s, name, url)
	require.NoError(t, s.CreateDir(name))
	require.NoError(t, s.Save(h))
	return h
}

// installFixture writes a host package fixture as machines/<name>/config.json,
// its paths moved from the original's store to s.
func installFixture(t *testing.T, s *persist.Store, fixture, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "host", "testdata", fixture))
	require.NoError(t, err)
	b = bytes.ReplaceAll(b, []byte(oldStore), []byte(s.Root))
	require.NoError(t, os.MkdirAll(s.MachineDir(name), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir(name), "config.json"), b, 0o600))
	return b
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// snapshot records every path under root: mode, content and mtime.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	return testutil.TreeState(t, root)
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := newStore(t)
	h := createMachine(t, s, "m1", "tcp://10.1.2.3:2376")

	got, err := s.Load("m1")
	require.NoError(t, err)
	assert.Equal(t, "m1", got.Name)
	assert.Equal(t, "none", got.DriverName)
	assert.Equal(t, host.ConfigVersion, got.ConfigVersion)
	assert.Nil(t, got.Migrated, "a current config is not migrated")
	assert.Equal(t, h.HostOptions, got.HostOptions)
	d, ok := got.Driver.(*none.Driver)
	require.True(t, ok, "driver is %T", got.Driver)
	assert.Equal(t, "tcp://10.1.2.3:2376", d.URL)
	assert.Equal(t, "m1", d.GetMachineName())
	assert.Equal(t, s.Root, d.StorePath)

	// Saving what was loaded writes the same bytes.
	before, err := os.ReadFile(filepath.Join(s.MachineDir("m1"), "config.json"))
	require.NoError(t, err)
	require.NoError(t, s.Save(got))
	after, err := os.ReadFile(filepath.Join(s.MachineDir("m1"), "config.json"))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))

	// 4-space indentation and the original's top-level field order.
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(after))
	_, err = dec.Token()
	require.NoError(t, err)
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	assert.Equal(t, []string{"ConfigVersion", "Driver", "DriverName", "HostOptions", "Name"}, keys)
	assert.True(t, strings.HasPrefix(string(after), "{\n    \"ConfigVersion\": 3,\n    \"Driver\": {\n        \"IPAddress\""), string(after))
}

// A config.json written by the original (version 3) is written back
// byte for byte: field names, order and indentation are the original's.
func TestSaveKeepsOriginalV3Bytes(t *testing.T) {
	s := newStore(t)
	orig := installFixture(t, s, "v3-none.json", "old3")
	h, err := s.Load("old3")
	require.NoError(t, err)
	require.NoError(t, s.Save(h))
	got, err := os.ReadFile(filepath.Join(s.MachineDir("old3"), "config.json"))
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(orig)), strings.TrimSpace(string(got)))
	assert.NoFileExists(t, filepath.Join(s.MachineDir("old3"), "config.json.bak"))
}

func TestSaveIsAtomicAndPrivate(t *testing.T) {
	s := newStore(t)
	h := createMachine(t, s, "m1", "tcp://10.1.2.3:2376")
	for range 3 {
		require.NoError(t, s.Save(h))
	}
	// No temp files are left behind.
	assert.Equal(t, []string{"config.json"}, dirNames(t, s.MachineDir("m1")))
	assert.Equal(t, []string{"m1"}, dirNames(t, s.MachinesDir()))

	for _, c := range []struct {
		path string
		mode fs.FileMode
	}{
		{s.MachinesDir(), 0o700 | fs.ModeDir},
		{s.MachineDir("m1"), 0o700 | fs.ModeDir},
		{filepath.Join(s.MachineDir("m1"), "config.json"), 0o600},
	} {
		info, err := os.Stat(c.path)
		require.NoError(t, err)
		assert.Equal(t, c.mode, info.Mode(), c.path)
	}
}

func TestListSkipsDotEntriesAndFiles(t *testing.T) {
	s := newStore(t)
	names, err := s.List()
	require.NoError(t, err, "a store without machines/ lists nothing")
	assert.Empty(t, names)

	for _, d := range []string{"b", "a", "m10", "m2", ".hidden", ".removing-x-123/x"} {
		require.NoError(t, os.MkdirAll(filepath.Join(s.MachinesDir(), d), 0o700))
	}
	for _, f := range []string{".a.lock", ".b.lock", "stray.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(s.MachinesDir(), f), nil, 0o600))
	}
	names, err = s.List()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "m10", "m2"}, names)
}

func TestExists(t *testing.T) {
	s := newStore(t)
	ok, err := s.Exists("m1")
	require.NoError(t, err)
	assert.False(t, ok)
	createMachine(t, s, "m1", "tcp://10.1.2.3:2376")
	ok, err = s.Exists("m1")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestRemove(t *testing.T) {
	s := newStore(t)
	createMachine(t, s, "m1", "tcp://10.1.2.3:2376")
	createMachine(t, s, "m2", "tcp://10.1.2.4:2376")
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("m1"), "key.pem"), []byte("k"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(s.MachineDir("m1"), "m1", "Logs"), 0o700))

	require.NoError(t, s.Remove("m1"))
	ok, err := s.Exists("m1")
	require.NoError(t, err)
	assert.False(t, ok)
	// Nothing of m1 is left, no .removing-* directory either.
	assert.Equal(t, []string{"m2"}, dirNames(t, s.MachinesDir()))

	err = s.Remove("m1")
	var ne *persist.ErrNotExist
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, "m1", ne.Name)
}

func TestLoadErrors(t *testing.T) {
	s := newStore(t)
	_, err := s.Load("nope")
	var ne *persist.ErrNotExist
	require.ErrorAs(t, err, &ne)
	assert.EqualError(t, err, `Docker machine "nope" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.`)

	require.NoError(t, os.MkdirAll(s.MachineDir("noconfig"), 0o700))
	_, err = s.Load("noconfig")
	require.Error(t, err)
	assert.NotErrorAs(t, err, &ne)
	assert.Contains(t, err.Error(), "rm -f noconfig")

	require.NoError(t, os.MkdirAll(s.MachineDir("empty"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("empty"), "config.json"), nil, 0o600))
	_, err = s.Load("empty")
	assert.ErrorIs(t, err, host.ErrEmptyConfig)

	require.NoError(t, os.MkdirAll(s.MachineDir("corrupt"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("corrupt"), "config.json"), []byte("{\"ConfigVersion\": 3, \"Dri"), 0o600))
	_, err = s.Load("corrupt")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "corrupt")
}

// A machine whose driver is not compiled in still loads, keeps its driver
// JSON when saved, and fails driver calls with a clear error.
func TestLoadUnknownDriver(t *testing.T) {
	s := newStore(t)
	installFixture(t, s, "v3-virtualbox.json", "default")
	h, err := s.Load("default")
	require.NoError(t, err)
	assert.Equal(t, "virtualbox", h.DriverName)
	m, ok := h.Driver.(*registry.Missing)
	require.True(t, ok, "driver is %T", h.Driver)
	_, err = m.GetURL(context.Background())
	assert.ErrorContains(t, err, `Driver "virtualbox" not found`)

	var want map[string]any
	require.NoError(t, json.Unmarshal(h.RawDriver, &want))
	require.NoError(t, s.Save(h))
	again, err := s.Load("default")
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(again.RawDriver, &got))
	assert.Equal(t, want, got)
	assert.EqualValues(t, 41235, got["SSHPort"])
}

// Loading an old config migrates it in memory only; the first save writes
// config.json.bak with the original bytes, once.
func TestMigratedSaveWritesBackupOnce(t *testing.T) {
	for _, fixture := range []string{"v0-none.json", "v1-none.json", "v2-none.json", "v1-generic.json"} {
		t.Run(fixture, func(t *testing.T) {
			s := newStore(t)
			orig := installFixture(t, s, fixture, "old")
			before := snapshot(t, s.Root)

			h, err := s.Load("old")
			require.NoError(t, err)
			require.Equal(t, orig, h.Migrated)
			assert.Equal(t, before, snapshot(t, s.Root), "Load must not write")

			require.NoError(t, s.Save(h))
			bak := filepath.Join(s.MachineDir("old"), "config.json.bak")
			b, err := os.ReadFile(bak)
			require.NoError(t, err)
			assert.Equal(t, orig, b, "the backup holds the original bytes")
			info, err := os.Stat(bak)
			require.NoError(t, err)
			assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
			assert.Nil(t, h.Migrated)

			cfg, err := os.ReadFile(filepath.Join(s.MachineDir("old"), "config.json"))
			require.NoError(t, err)
			var meta struct{ ConfigVersion int }
			require.NoError(t, json.Unmarshal(cfg, &meta))
			assert.Equal(t, 3, meta.ConfigVersion)

			// Loaded again: current, and a second save keeps the backup.
			h2, err := s.Load("old")
			require.NoError(t, err)
			assert.Nil(t, h2.Migrated)
			assert.Equal(t, h.HostOptions, h2.HostOptions)
			require.NoError(t, s.Save(h2))
			b, err = os.ReadFile(bak)
			require.NoError(t, err)
			assert.Equal(t, orig, b)
			assert.ElementsMatch(t, []string{"config.json", "config.json.bak"}, dirNames(t, s.MachineDir("old")))
		})
	}
}

// An existing backup (from an earlier migration) is never overwritten.
func TestMigratedSaveKeepsExistingBackup(t *testing.T) {
	s := newStore(t)
	installFixture(t, s, "v1-none.json", "old")
	bak := filepath.Join(s.MachineDir("old"), "config.json.bak")
	require.NoError(t, os.WriteFile(bak, []byte("older"), 0o600))
	h, err := s.Load("old")
	require.NoError(t, err)
	require.NoError(t, s.Save(h))
	b, err := os.ReadFile(bak)
	require.NoError(t, err)
	assert.Equal(t, "older", string(b))
}

func TestLoadAll(t *testing.T) {
	s := newStore(t)
	for _, n := range []string{"c", "a", "e"} {
		createMachine(t, s, n, "tcp://10.0.0.1:2376")
	}
	require.NoError(t, os.MkdirAll(s.MachineDir("b"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("b"), "config.json"), nil, 0o600))
	require.NoError(t, os.MkdirAll(s.MachineDir("d"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("d"), "config.json"), []byte("garbage"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(s.MachinesDir(), ".a.lock"), nil, 0o600))

	res, err := s.LoadAll()
	require.NoError(t, err)
	require.Len(t, res, 5)
	for i, want := range []struct {
		name   string
		broken bool
	}{{"a", false}, {"b", true}, {"c", false}, {"d", true}, {"e", false}} {
		assert.Equal(t, want.name, res[i].Name)
		if want.broken {
			assert.Error(t, res[i].Err, want.name)
			assert.Nil(t, res[i].Host)
		} else {
			assert.NoError(t, res[i].Err, want.name)
			require.NotNil(t, res[i].Host)
			assert.Equal(t, want.name, res[i].Host.Name)
		}
	}
	assert.ErrorIs(t, res[1].Err, host.ErrEmptyConfig)

	empty, err := newStore(t).LoadAll()
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func TestCreateDirExactlyOnce(t *testing.T) {
	s := newStore(t)
	const n = 16
	var wins atomic.Int32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateDir("same")
			if errs[i] == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, wins.Load())
	for _, err := range errs {
		if err != nil {
			var ee *persist.ErrExists
			assert.ErrorAs(t, err, &ee)
			assert.EqualError(t, err, `Docker machine "same" already exists`)
		}
	}
}

// runLocked has workers take the machine lock repeatedly and counts how
// often two were inside at once.
func runLocked(t *testing.T, s *persist.Store, workers, iterations int) (overlaps, total int32) {
	t.Helper()
	var inside, overlap, count atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range iterations {
				l, err := s.Lock("shared")
				if err != nil {
					errs <- err
					return
				}
				if inside.Add(1) != 1 {
					overlap.Add(1)
				}
				for range 3 {
					runtime.Gosched()
				}
				count.Add(1)
				inside.Add(-1)
				if err = l.Unlock(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return overlap.Load(), count.Load()
}

// Every release deletes the lock file; waiters that wake up on a deleted
// file must not lock it while a newcomer locks the new one.
func TestLockSerializesGoroutines(t *testing.T) {
	s := newStore(t)
	overlaps, total := runLocked(t, s, 8, 100)
	assert.Zero(t, overlaps, "two holders of one machine lock at once")
	assert.EqualValues(t, 8*100, total)
	entries, err := os.ReadDir(s.MachinesDir())
	require.NoError(t, err)
	assert.Empty(t, entries, "no lock file is left once nobody holds it")
}

func TestLockAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	s := newStore(t)
	dir := t.TempDir()
	counter := filepath.Join(dir, "counter")
	logPath := filepath.Join(dir, "log")
	const procs, iterations = 4, 40
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for i := range cmds {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(),
			helperEnv+"=1", helperRootEnv+"="+s.Root, helperIterEnv+"="+strconv.Itoa(iterations),
			helperCountEnv+"="+counter, helperLogEnv+"="+logPath)
		outs[i] = &bytes.Buffer{}
		c.Stdout, c.Stderr = outs[i], outs[i]
		require.NoError(t, c.Start())
		cmds[i] = c
	}
	for i, c := range cmds {
		require.NoError(t, c.Wait(), outs[i].String())
	}
	b, err := os.ReadFile(counter)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(procs*iterations), string(b), "lost updates: the lock did not serialize processes")

	// Critical sections never interleave: B and E of one pid alternate.
	logData, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(logData)), "\n")
	require.Len(t, lines, 2*procs*iterations)
	for i := 0; i < len(lines); i += 2 {
		b, e := lines[i], lines[i+1]
		require.True(t, strings.HasPrefix(b, "B "), "line %d: %q", i, b)
		require.Equal(t, "E "+strings.TrimPrefix(b, "B "), e, "line %d: sections overlap", i+1)
	}
	pids := map[string]bool{}
	for _, l := range lines {
		pids[strings.Fields(l)[1]] = true
	}
	assert.Len(t, pids, procs)
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&persist.ErrExists{Name: "x"}, `Docker machine "x" already exists`},
		{&persist.ErrNotExist{Name: "x"}, `Docker machine "x" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.`},
	}
	for _, tt := range tests {
		assert.EqualError(t, tt.err, tt.want)
	}
}

func TestStorePaths(t *testing.T) {
	s := persist.New("/r")
	got := []string{s.MachinesDir(), s.CertsDir(), s.MachineDir("m")}
	want := []string{"/r/machines", "/r/certs", "/r/machines/m"}
	assert.Equal(t, want, got)
}

// Names that are not a plain entry of machines/ never reach outside it.
func TestNamesOutsideTheStoreDoNotExist(t *testing.T) {
	s := newStore(t)
	victim := filepath.Join(filepath.Dir(s.Root), "victim")
	require.NoError(t, os.MkdirAll(victim, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(victim, "config.json"), []byte(`{"ConfigVersion":3}`), 0o600))
	for _, name := range []string{"", ".", "..", "../victim", "../../victim", "a/b", `a\b`, "a\x00b"} {
		ok, err := s.Exists(name)
		assert.NoError(t, err, "%q", name)
		assert.False(t, ok, "%q", name)
		var ne *persist.ErrNotExist
		_, err = s.Load(name)
		assert.ErrorAs(t, err, &ne, "%q", name)
		_, err = s.Lock(name)
		assert.ErrorAs(t, err, &ne, "%q", name)
		assert.ErrorAs(t, s.Remove(name), &ne, "%q", name)
		assert.ErrorAs(t, s.CreateDir(name), &ne, "%q", name)
	}
	assert.FileExists(t, filepath.Join(victim, "config.json"))
	assert.DirExists(t, s.Root)
}

// A lock file replaced by a symlink is refused, not followed.
func TestLockRefusesSymlink(t *testing.T) {
	s := newStore(t)
	require.NoError(t, os.MkdirAll(s.MachinesDir(), 0o700))
	target := filepath.Join(t.TempDir(), "elsewhere")
	require.NoError(t, os.Symlink(target, filepath.Join(s.MachinesDir(), ".m.lock")))
	_, err := s.Lock("m")
	require.Error(t, err)
	assert.NoFileExists(t, target)
}
