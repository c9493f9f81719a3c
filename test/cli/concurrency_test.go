package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyDir copies a machine directory (files only, one level).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o700))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		info, err := e.Info()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, info.Mode().Perm()))
	}
}

// 20 processes at once on one store with no CA yet: creators of distinct
// machines, pairs racing to create one name, and removers of existing
// machines. Nothing is lost, nothing is corrupt, the CA is made once.
// waitNotice matches the line a command prints after waiting a second
// for a lock another process holds.
var waitNotice = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^Waiting for docker-machine process \d+, which is using [^\n]*\.\.\.\n`)
})

func TestConcurrentProcesses(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)

	// Machines to remove, made in another store so that this one has
	// no CA yet (their directories carry the other store's certificates).
	other := newStore(t)
	var removed []string
	for i := range 4 {
		n := fmt.Sprintf("r%d", i)
		other.create(n, url)
		removed = append(removed, n)
	}
	for _, n := range removed {
		copyDir(t, other.machineDir(n), m.machineDir(n))
		cfg := filepath.Join(m.machineDir(n), "config.json")
		b, err := os.ReadFile(cfg)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(cfg, bytes.ReplaceAll(b, []byte(other.root), []byte(m.root)), 0o600))
	}
	require.NoFileExists(t, filepath.Join(m.certsDir(), "ca.pem"))

	type proc struct {
		name string
		args []string
		cmd  *exec.Cmd
		out  bytes.Buffer
		err  bytes.Buffer
	}
	var procs []*proc
	add := func(name string, args ...string) {
		p := &proc{name: name, args: args}
		p.cmd = m.command(opts{}, args...)
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
		procs = append(procs, p)
	}
	var unique []string
	for i := range 10 {
		n := fmt.Sprintf("c%d", i)
		unique = append(unique, n)
		add(n, "create", "-d", "none", "--url", url, n)
	}
	var raced []string
	for i := range 3 {
		n := fmt.Sprintf("p%d", i)
		raced = append(raced, n)
		add(n, "create", "-d", "none", "--url", url, n)
		add(n, "create", "-d", "none", "--url", url, n)
	}
	for _, n := range removed {
		add(n, "rm", "-y", n)
	}
	require.Len(t, procs, 20)

	for _, p := range procs {
		require.NoError(t, p.cmd.Start())
	}
	codes := map[*proc]int{}
	for _, p := range procs {
		err := p.cmd.Wait()
		codes[p] = 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			require.True(t, ok, "%v: %v", p.args, err)
			codes[p] = ee.ExitCode()
		}
	}

	caCreated := 0
	wins := map[string]int{}
	for _, p := range procs {
		report := fmt.Sprintf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", p.args, codes[p], p.out.String(), p.err.String())
		// A process that waited more than a second for a lock (a loaded
		// machine) says whom it waits for; nothing else may be there.
		stderr := waitNotice().ReplaceAllString(p.err.String(), "")
		caCreated += strings.Count(p.out.String(), "Creating CA:")
		switch {
		case p.args[0] == "rm":
			assert.Equal(t, 0, codes[p], report)
			assert.Contains(t, p.out.String(), "Successfully removed "+p.name+"\n", report)
		case strings.HasPrefix(p.name, "c"):
			assert.Equal(t, 0, codes[p], report)
			assert.Empty(t, stderr, report)
		default:
			if codes[p] == 0 {
				wins[p.name]++
				assert.Empty(t, stderr, report)
			} else {
				assert.Equal(t, 1, codes[p], report)
				assert.Equal(t, fmt.Sprintf("Docker machine %q already exists\n", p.name), stderr, report)
			}
		}
	}
	for _, n := range raced {
		assert.Equal(t, 1, wins[n], "exactly one create of %s succeeds", n)
	}
	assert.Equal(t, 1, caCreated, "the CA is created once")

	// The store holds exactly the expected machines, each complete.
	want := append(append([]string{}, unique...), raced...)
	sort.Strings(want)
	assert.Equal(t, strings.Join(want, "\n")+"\n", m.ok("ls", "-q").stdout)
	ca := m.readFile("certs/ca.pem")
	for _, n := range want {
		var cfg struct {
			ConfigVersion int
			Name          string
			Driver        struct{ URL string }
		}
		require.NoError(t, json.Unmarshal([]byte(m.readFile("machines/"+n+"/config.json")), &cfg), n)
		assert.Equal(t, 3, cfg.ConfigVersion, n)
		assert.Equal(t, n, cfg.Name, n)
		assert.Equal(t, url, cfg.Driver.URL, n)
		assert.Equal(t, ca, m.readFile("machines/"+n+"/ca.pem"), "%s has the store CA", n)
		assert.Equal(t, m.readFile("certs/cert.pem"), m.readFile("machines/"+n+"/cert.pem"), n)
	}

	// No temp files, no half-removed directories; only machines and
	// lock files in machines/.
	err := filepath.WalkDir(m.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		assert.NotContains(t, base, ".tmp", p)
		assert.False(t, strings.HasPrefix(base, ".removing"), p)
		if filepath.Dir(p) == filepath.Join(m.root, "machines") && strings.HasPrefix(base, ".") {
			assert.True(t, strings.HasSuffix(base, ".lock") && !d.IsDir(), p)
		}
		return nil
	})
	require.NoError(t, err)

	// And the store is fully usable afterwards.
	for _, n := range want {
		assert.Equal(t, url+"\n", m.ok("url", n).stdout)
	}
}
