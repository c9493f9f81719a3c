// Package security_test checks security properties of the built
// docker-machine binary from the outside: the modes of everything it
// writes under any umask, what it passes to the programs it runs (no
// secrets in argv or in --debug output), what the dockerd it configures
// accepts, and that a changed SSH host key stops every tool it drives.
package security_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

var dmBin string

func TestMain(m *testing.M) { testbin.Main(m, &dmBin, testhost.ReapIfAvailable) }

// store is one temporary machine store with its own HOME. umask, when
// set, is the process umask the binary runs under; path, when set, is put
// first on PATH (the recording wrappers).
type store struct {
	t     *testing.T
	dir   string
	path  string
	home  string
	umask string
	bin   string
}

func newStore(t *testing.T) *store {
	t.Helper()
	dir := t.TempDir()
	s := &store{t: t, dir: dir, path: filepath.Join(dir, "store")}
	s.home, _ = testbin.StoreEnv(t, dir, s.path, "security", "")
	return s
}

// env is the binary's environment, the recording wrappers first on PATH.
func (s *store) env() []string {
	_, env := testbin.StoreEnv(s.t, s.dir, s.path, "security", s.bin)
	return env
}

type result = testbin.Result

// dm runs the binary in this store, under s.umask when set (through sh,
// so the umask is the process's own from its first instruction).
func (s *store) dm(args ...string) result {
	s.t.Helper()
	argv := append([]string{dmBin}, args...)
	if s.umask != "" {
		argv = append([]string{"sh", "-c", "umask " + s.umask + ` && exec "$0" "$@"`}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = s.env()
	return testbin.Exec(s.t, cmd)
}

// mustDM runs the binary and fails the test unless it exits 0.
func (s *store) mustDM(args ...string) result {
	s.t.Helper()
	r := s.dm(args...)
	if r.Code != 0 {
		s.t.Fatalf("docker-machine %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// genericArgs are the create arguments of a generic machine on a kit host.
func genericArgs(h *testhost.Host, extra ...string) []string {
	return append([]string{"create", "-d", "generic",
		"--generic-ip-address", h.IP,
		"--generic-ssh-key", h.KeyPath,
		"--generic-ssh-user", h.User,
		"--generic-ssh-port", fmt.Sprint(h.SSHPort),
	}, extra...)
}

func requireKit(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("security: real hosts skipped in -short mode")
	}
	if err := testhost.Available(); err != nil {
		t.Skip(err.Error())
	}
}

// secrets returns what must never appear in an argv or a trace: for
// every private key file, its base64 encoding and 40-character pieces of
// the base64 lines of its PEM body. Pieces that are public anyway are
// left out: an OpenSSH private key embeds its public key, and a key's
// public half is in its certificate, so for each key its public key
// (ssh-keygen -y) and the certificates and .pub files next to it are
// public text.
func secrets(t *testing.T, keyFiles []string) map[string]string {
	t.Helper()
	var public strings.Builder
	dirs := map[string]bool{}
	for _, f := range keyFiles {
		if out, err := exec.Command("ssh-keygen", "-y", "-f", f).Output(); err == nil {
			public.Write(out)
		}
		dirs[filepath.Dir(f)] = true
	}
	for d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(e.Name(), ".pub") || bytes.Contains(b, []byte("-----BEGIN CERTIFICATE")) {
				public.WriteString(pemBody(b) + "\n" + string(b) + "\n")
			}
		}
	}
	pub := public.String()
	out := map[string]string{}
	add := func(piece, what string) {
		if !strings.Contains(pub, piece) {
			out[piece] = what
		}
	}
	for _, f := range keyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		whole := base64.StdEncoding.EncodeToString(b)
		for i := 0; i+40 <= len(whole); i += 40 {
			add(whole[i:i+40], f+" (base64 of the file)")
		}
		bs := pemBody(b)
		for i := 0; i+40 <= len(bs); i += 20 {
			add(bs[i:i+40], f)
		}
	}
	return out
}

// pemBody joins the base64 lines of PEM text (the lines between the
// ----- markers).
func pemBody(b []byte) string {
	var body strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "-----") {
			body.WriteString(strings.TrimSpace(l))
		}
	}
	return body.String()
}

// leak names the secret text contains, or "".
func leak(text string, secrets map[string]string) string {
	if i := strings.Index(text, "-----BEGIN"); i >= 0 {
		end := min(len(text), i+60)
		return fmt.Sprintf("a PEM block (%q)", text[i:end])
	}
	for piece, file := range secrets {
		if strings.Contains(text, piece) {
			return "material of " + file
		}
	}
	return ""
}

// privateKeyFiles lists the files under dirs that are a private key (PEM
// or OpenSSH), not files that merely hold one (a VM disk).
func privateKeyFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b = bytes.TrimSpace(b)
			if bytes.HasPrefix(b, []byte("-----BEGIN")) && bytes.Contains(b, []byte("PRIVATE KEY-----")) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
