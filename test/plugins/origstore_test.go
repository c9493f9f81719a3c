package plugins

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeOriginalRecord writes machines/NAME/config.json as docker-machine
// 0.16.2 writes it for a machine of a third-party driver (the none
// driver's JSON under the plugin's name, the original's field order).
func writeOriginalRecord(t *testing.T, s *store, name, driver string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "cli", "testdata", "original", "none-options.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := strings.ReplaceAll(string(b), "@STORE@", s.root)
	rec = strings.Replace(rec, `"DriverName": "none"`, `"DriverName": "`+driver+`"`, 1)
	rec = strings.ReplaceAll(rec, `"MachineName": "m"`, `"MachineName": "`+name+`"`)
	rec = strings.ReplaceAll(rec, `"Name": "m"`, `"Name": "`+name+`"`)
	rec = strings.ReplaceAll(rec, "/machines/m", "/machines/"+name)
	dir := filepath.Join(s.root, "machines", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A store the original wrote, with machines of a third-party driver:
// they load, list, answer through their plugin and are removed, the
// records stay byte for byte what the original wrote until then, and
// commands that only read records start no plugin at all.
func TestStoreWrittenByTheOriginal(t *testing.T) {
	s := newStore(t)
	var paths []string
	for _, n := range []string{"o1", "o2", "o3"} {
		paths = append(paths, writeOriginalRecord(t, s, n, "xnone"))
	}
	before := map[string]string{}
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		before[p] = string(b)
	}

	// Reading records needs no plugin process.
	r := s.ok("-D", "ls", "-q")
	equal(t, "o1\no2\no3\n", r.stdout)
	if strings.Contains(r.stderr, "Launching plugin server") {
		t.Errorf("ls -q started a plugin:\n%s", r.stderr)
	}
	r = s.ok("-D", "inspect", "o1")
	if strings.Contains(r.stderr, "Launching plugin server") {
		t.Errorf("inspect started a plugin:\n%s", r.stderr)
	}
	var rec struct {
		DriverName string
		Driver     struct{ URL, IPAddress string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
		t.Fatalf("inspect: %v\n%s", err, r.stdout)
	}
	equal(t, "xnone", rec.DriverName)
	equal(t, dockerURL, rec.Driver.URL)
	equal(t, "127.0.0.1:2376", rec.Driver.IPAddress)

	// Commands that ask the driver start its plugin.
	r = s.ok("-D", "url", "o2")
	equal(t, dockerURL+"\n", r.stdout)
	contains(t, r.stderr, "Launching plugin server for driver xnone")
	equal(t, "Running\n", s.ok("status", "o3").stdout)
	ls := s.ok("ls", "--format", "{{.Name}} {{.DriverName}} {{.State}} {{.URL}}").stdout
	equal(t, "o1 xnone Running "+dockerURL+"\no2 xnone Running "+dockerURL+"\no3 xnone Running "+dockerURL+"\n", ls)

	for _, p := range paths {
		b, _ := os.ReadFile(p)
		if string(b) != before[p] {
			t.Errorf("%s changed by read-only commands:\n%s", p, b)
		}
	}

	s.ok("rm", "-y", "o1", "o2")
	equal(t, "o3\n", s.ok("ls", "-q").stdout)
}
