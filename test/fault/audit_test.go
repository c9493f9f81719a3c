package fault_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// audit is what one look at a store found.
type audit struct {
	// machines are the visible machines: real directories of machines/
	// with a config.json, sorted.
	machines []string
	// ca is certs/ca.pem (nil when the store has no CA yet).
	ca []byte
	// problems are broken invariants, one line each.
	problems []string
	// staleServer lists machines whose server.pem the store CA did not
	// sign (kept apart: see checkStaleServer).
	staleServer []string
}

func (a *audit) problem(format string, args ...any) {
	a.problems = append(a.problems, fmt.Sprintf(format, args...))
}

// err returns the problems as one error, or nil.
func (a *audit) err() error {
	if len(a.problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(a.problems, "\n"))
}

// leftover reports whether a file name is something a finished command
// must not leave behind: lock files, temporary files of atomic writes,
// create's staging directories and rm's renamed directories.
func leftover(name string) bool {
	return strings.HasSuffix(name, ".lock") || strings.Contains(name, ".tmp") ||
		strings.HasPrefix(name, ".staging-") || strings.HasPrefix(name, ".rm-") ||
		strings.HasPrefix(name, ".removing-")
}

// inspectStore checks the store's files against the invariants that hold
// after any run plus one sweeping command (a later create or rm):
//
//   - every entry of machines/ is a visible machine: a real directory (not
//     a staging symlink) whose config.json parses as a version 3 record,
//     with complete certificate pairs (each certificate's public key is
//     its key's) and a server.pem signed by the store CA;
//   - nothing else is in machines/ and nowhere in the store is a lock
//     file, a temporary file, a staging or a removal directory;
//   - certs/ holds either no CA or a matching ca.pem/ca-key.pem pair and
//     a cert.pem/key.pem pair signed by it.
//
// It does not run the binary; see (*store).check for ls and inspect.
func inspectStore(root string) *audit {
	a := &audit{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				a.problem("walking %s: %v", p, err)
			}
			return nil
		}
		if leftover(d.Name()) {
			rel, _ := filepath.Rel(root, p)
			a.problem("left over: %s", rel)
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})

	// certs/
	certs := filepath.Join(root, "certs")
	var caCert *x509.Certificate
	caPEM, caErr := os.ReadFile(filepath.Join(certs, "ca.pem"))
	_, caKeyErr := os.Stat(filepath.Join(certs, "ca-key.pem"))
	switch {
	case caErr == nil:
		a.ca = caPEM
		c, err := checkPair(filepath.Join(certs, "ca.pem"), filepath.Join(certs, "ca-key.pem"))
		if err != nil {
			a.problem("certs/ca.pem: %v", err)
		}
		caCert = c
		cl, err := checkPair(filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem"))
		if err != nil {
			a.problem("certs/cert.pem: %v", err)
		} else if caCert != nil {
			if err := cl.CheckSignatureFrom(caCert); err != nil {
				a.problem("certs/cert.pem is not signed by certs/ca.pem: %v", err)
			}
		}
	case errors.Is(caErr, fs.ErrNotExist) && caKeyErr == nil:
		a.problem("certs/ca-key.pem without certs/ca.pem (half a CA pair)")
	case !errors.Is(caErr, fs.ErrNotExist):
		a.problem("certs/ca.pem: %v", caErr)
	}
	if caErr != nil {
		for _, f := range []string{"cert.pem", "key.pem"} {
			if _, err := os.Stat(filepath.Join(certs, f)); err == nil {
				a.problem("certs/%s without a CA", f)
			}
		}
	}

	// machines/
	entries, err := os.ReadDir(filepath.Join(root, "machines"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.problem("reading machines/: %v", err)
	}
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(root, "machines", name)
		if strings.HasPrefix(name, ".") {
			if !leftover(name) { // those are reported by the walk
				a.problem("left over: machines/%s", name)
			}
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			a.problem("machines/%s: %v", name, err)
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			a.problem("machines/%s is a symlink to %s (a create's staging link)", name, target)
			continue
		}
		if !fi.IsDir() {
			a.problem("machines/%s is not a directory (%s)", name, fi.Mode())
			continue
		}
		b, err := os.ReadFile(filepath.Join(p, "config.json"))
		if err != nil {
			a.problem("machines/%s without a loadable config.json: %v", name, err)
			continue
		}
		a.machines = append(a.machines, name)
		var cfg struct {
			ConfigVersion int
			DriverName    string
			Driver        json.RawMessage
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			a.problem("machines/%s/config.json does not parse: %v (%d bytes)", name, err, len(b))
			continue
		}
		if cfg.ConfigVersion != 3 || cfg.DriverName == "" || len(cfg.Driver) == 0 {
			a.problem("machines/%s/config.json is incomplete: version %d, driver %q", name, cfg.ConfigVersion, cfg.DriverName)
		}
		for _, pair := range [][2]string{{"cert.pem", "key.pem"}, {"server.pem", "server-key.pem"}} {
			_, certErr := os.Stat(filepath.Join(p, pair[0]))
			_, keyErr := os.Stat(filepath.Join(p, pair[1]))
			if certErr != nil && keyErr != nil {
				continue
			}
			c, err := checkPair(filepath.Join(p, pair[0]), filepath.Join(p, pair[1]))
			if err != nil {
				a.problem("machines/%s/%s: %v", name, pair[0], err)
				continue
			}
			if pair[0] == "server.pem" && caCert != nil {
				if err := c.CheckSignatureFrom(caCert); err != nil {
					a.staleServer = append(a.staleServer, name)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(p, "ca.pem")); err == nil {
			if _, err := readCert(filepath.Join(p, "ca.pem")); err != nil {
				a.problem("machines/%s/ca.pem: %v", name, err)
			}
		}
	}
	sort.Strings(a.machines)
	return a
}

// checkStaleServer turns server certificates the store CA did not sign
// into problems. They are kept apart because one window cannot be closed
// by any order of writes: a regenerate-certs --client-certs killed after
// it installed the new CA and before it installed a machine's new server
// certificate. The next regenerate-certs of that machine repairs it.
func (a *audit) checkStaleServer() {
	for _, n := range a.staleServer {
		a.problem("machines/%s/server.pem is not signed by certs/ca.pem", n)
	}
	a.staleServer = nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate in %d bytes", len(b))
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%d bytes after the certificate", len(rest))
	}
	return x509.ParseCertificate(block.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("no PEM key in %d bytes", len(b))
	}
	var k any
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", block.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", k)
	}
	return s, nil
}

// checkPair loads a certificate and its key and checks that they belong
// together.
func checkPair(certPath, keyPath string) (*x509.Certificate, error) {
	c, err := readCert(certPath)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	k, err := readKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", filepath.Base(keyPath), err)
	}
	pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(k.Public()) {
		return nil, fmt.Errorf("%s does not belong to the certificate", filepath.Base(keyPath))
	}
	return c, nil
}

// check inspects the store and runs the binary on it: ls -q lists exactly
// the visible machines, and inspect loads those of them named in
// inspect ("*" for all).
func (s *store) check(inspect ...string) *audit {
	s.t.Helper()
	a := inspectStore(s.root)
	r := s.run("ls", "-q")
	if r.code != 0 {
		a.problem("ls -q failed: %s", r)
		return a
	}
	listed := strings.Fields(r.stdout)
	sort.Strings(listed)
	for _, n := range listed {
		if !slices.Contains(a.machines, n) {
			a.problem("ls -q lists %s, which is no complete machine directory", n)
		}
	}
	for _, n := range a.machines {
		if !slices.Contains(listed, n) {
			a.problem("ls -q does not list machine %s", n)
		}
	}
	for _, n := range listed {
		if !slices.Contains(inspect, "*") && !slices.Contains(inspect, n) {
			continue
		}
		if r := s.run("inspect", n); r.code != 0 {
			a.problem("ls lists %s but inspect fails: %s", n, r)
		} else if !strings.Contains(r.stdout, `"ConfigVersion": 3`) {
			a.problem("inspect %s prints no version 3 record:\n%s", n, r.stdout)
		}
	}
	return a
}

// visibleNow runs ls -q and, without sweeping, inspects those of the
// listed machines named in inspect ("*" for all): whatever ls shows, even
// right after a kill, must load. It returns the listed names.
func (s *store) visibleNow(inspect ...string) ([]string, []string) {
	s.t.Helper()
	var problems []string
	r := s.run("ls", "-q")
	if r.code != 0 {
		return nil, []string{"ls -q failed: " + r.String()}
	}
	names := strings.Fields(r.stdout)
	for _, n := range names {
		if !slices.Contains(inspect, "*") && !slices.Contains(inspect, n) {
			continue
		}
		if r := s.run("inspect", n); r.code != 0 {
			problems = append(problems, fmt.Sprintf("half-visible: ls lists %s, inspect fails: %s", n, r))
		}
	}
	return names, problems
}
