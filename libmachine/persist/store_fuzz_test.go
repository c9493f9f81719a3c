package persist_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/persist"
)

// fuzzStore lays out base/sentinel (a sibling of the store that nothing
// may touch) and base/store with certs/ and one machine, "keep". One
// store serves all inputs of a fuzz worker: Save syncs to disk, which is
// slow on a loaded machine.
func fuzzStore(t testing.TB) (base string, s *persist.Store) {
	t.Helper()
	base = t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(base, "sentinel", "machines", "x"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(base, "sentinel", "machines", "x", "config.json"), []byte("{}"), 0o600))
	s = persist.New(filepath.Join(base, "store"))
	require.NoError(t, os.MkdirAll(s.CertsDir(), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.CertsDir(), "ca.pem"), []byte("not a cert"), 0o600))
	require.NoError(t, s.Save(newHost(s, "keep", "tcp://127.0.0.1:2376")))
	return base, s
}

// outsideMachines is the part of a tree state that no operation on a
// machine name may change: everything except the entries of machines/
// (lock, staging and trash files come and go there), with the machine
// "keep" kept in full.
func outsideMachines(state map[string]string) map[string]string {
	out := map[string]string{}
	prefix := filepath.Join("store", "machines") + string(filepath.Separator)
	keep := prefix + "keep"
	for k, v := range state {
		if k == filepath.Join("store", "machines") {
			continue
		}
		if strings.HasPrefix(k, prefix) && k != keep && !strings.HasPrefix(k, keep+string(filepath.Separator)) {
			continue
		}
		out[k] = v
	}
	return out
}

// newEntries lists the entries of machines/ that are not "keep".
func newEntries(t *testing.T, s *persist.Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.MachinesDir())
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if e.Name() != "keep" {
			out = append(out, e.Name())
		}
	}
	return out
}

// FuzzStoreNames gives every name to Exists, Load and Lock: none may
// create or change anything outside machines/ nor the other machine,
// and nothing may be left in machines/ but hidden (dot) entries. A name
// ValidateName accepts (the length cap included) round-trips
// save → load → remove.
func FuzzStoreNames(f *testing.F) {
	for _, s := range []string{"keep", "new", "a.b-c", "", ".", "..", "../sentinel", "../../x", "..\\sentinel", "a/b", "/abs",
		"sentinel/../..", "x\x00y", ".keep.lock", "keep/config.json", "../store/certs", "...", "-rf", "~", "$HOME",
		strings.Repeat("n", host.MaxNameLength), strings.Repeat("n", host.MaxNameLength+1), strings.Repeat("n", 256), strings.Repeat("../", 20) + "tmp"} {
		f.Add(s)
	}
	base, s := fuzzStore(f)
	f.Fuzz(func(t *testing.T, name string) {
		before := outsideMachines(testutil.TreeState(t, base))

		ok, err := s.Exists(name)
		if name == "keep" {
			assert.True(t, ok)
			assert.NoError(t, err)
		} else if err == nil && ok {
			t.Fatalf("Exists(%q) = true for a machine the store does not have", name)
		}
		h, err := s.Load(name)
		if name == "keep" {
			require.NoError(t, err)
			assert.Equal(t, "keep", h.Name)
		} else {
			require.Error(t, err, "Load(%q)", name)
			assert.Nil(t, h)
		}
		if l, err := s.Lock(name); err == nil {
			require.NoError(t, l.Unlock())
		}
		require.Equal(t, before, outsideMachines(testutil.TreeState(t, base)), "name %q changed something outside machines/", name)
		for _, e := range newEntries(t, s) {
			assert.True(t, strings.HasPrefix(e, "."), "name %q left %q in machines/", name, e)
		}

		if host.ValidateName(name) != nil || name == "keep" {
			return
		}
		l, err := s.Lock(name)
		require.NoError(t, err, "Lock(%q)", name)
		defer l.Unlock()
		require.NoError(t, s.Save(newHost(s, name, "tcp://127.0.0.1:2376")), "Save(%q)", name)
		ok, err = s.Exists(name)
		require.NoError(t, err)
		require.True(t, ok)
		h, err = s.Load(name)
		require.NoError(t, err, "Load(%q)", name)
		assert.Equal(t, name, h.Name)
		assert.Equal(t, "none", h.DriverName)
		names, err := s.List()
		require.NoError(t, err)
		assert.Equal(t, []string{"keep", name}, sortedPair(names))
		require.NoError(t, s.Remove(name))
		ok, err = s.Exists(name)
		require.NoError(t, err)
		assert.False(t, ok)
		require.Equal(t, before, outsideMachines(testutil.TreeState(t, base)), "name %q changed something outside machines/", name)
	})
}

// sortedPair returns names with "keep" first (List sorts, and a fuzzed
// name may sort before it).
func sortedPair(names []string) []string {
	out := []string{}
	for _, n := range names {
		if n == "keep" {
			out = append([]string{n}, out...)
		} else {
			out = append(out, n)
		}
	}
	return out
}

// FuzzStoreLoadBytes stores arbitrary bytes as a machine's config.json:
// Load and LoadAll must never panic and never write anything.
func FuzzStoreLoadBytes(f *testing.F) {
	for _, name := range []string{"v0-none.json", "v0-virtualbox.json", "v1-generic.json", "v1-none.json", "v2-none.json",
		"v2-virtualbox.json", "v3-none.json", "v3-virtualbox.json", "v4-none.json", "garbage.json", "truncated.json"} {
		b, err := os.ReadFile(filepath.Join("..", "host", "testdata", name))
		require.NoError(f, err)
		f.Add(b)
	}
	for _, s := range []string{"", "{}", "null", `{"ConfigVersion": 3, "DriverName": "no-such-driver", "Driver": {}, "HostOptions": {}}`,
		`{"ConfigVersion": 3, "DriverName": "none", "Driver": [], "HostOptions": {}}`,
		`{"ConfigVersion": 3, "DriverName": "generic", "Driver": {"IPAddress": 1}, "HostOptions": {}}`,
		`{"ConfigVersion": 3, "DriverName": "../../x", "Driver": null, "HostOptions": {}}`} {
		f.Add([]byte(s))
	}
	base, s := fuzzStore(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := s.MachineDir("fz")
		require.NoError(t, os.Mkdir(dir, 0o700))
		defer os.RemoveAll(dir)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600))
		before := testutil.TreeState(t, base)
		h, err := s.Load("fz")
		if err == nil {
			assert.Equal(t, "fz", h.Name)
			assert.Equal(t, host.ConfigVersion, h.ConfigVersion)
			assert.NotNil(t, h.Driver)
		} else {
			assert.Nil(t, h)
			assert.NotEmpty(t, err.Error())
		}
		all, err := s.LoadAll()
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.NoError(t, all[1].Err, "keep still loads")
		require.Equal(t, before, testutil.TreeState(t, base), "loading wrote to the store")
	})
}
