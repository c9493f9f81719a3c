// Package cert creates and checks the TLS material of a store: one CA and
// client certificate per store, one server certificate per machine.
package cert

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
)

// Validity of every certificate, as the original: 1080 days.
const Validity = 1080 * 24 * time.Hour

// DefaultBits is the RSA key size.
const DefaultBits = 2048

// Organization returns the user name used as certificate organization.
func Organization() string {
	v := "USER"
	if runtime.GOOS == "windows" {
		v = "USERNAME"
	}
	if u := os.Getenv(v); u != "" {
		return u
	}
	return "unknown"
}

func template(org string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	notBefore := time.Now().Truncate(time.Minute).Add(-5 * time.Minute)
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{org}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(Validity),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		BasicConstraintsValid: true,
	}, nil
}

// GenerateCA writes a new CA certificate and key. It refuses to replace an
// existing key.
func GenerateCA(certPath, keyPath, org string, bits int) error {
	if _, err := os.Stat(keyPath); err == nil {
		return errors.New("certificate authority key already exists")
	}
	return generateCA(certPath, keyPath, org, bits, nil)
}

// generateCA writes a new CA pair over whatever is there. With backups
// non-nil, existing files are kept as .bak copies first, whose names are
// appended to it (see installPair).
func generateCA(certPath, keyPath, org string, bits int, backups *[]string) error {
	t, err := template(org)
	if err != nil {
		return err
	}
	t.IsCA = true
	t.KeyUsage |= x509.KeyUsageCertSign
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("creating CA certificate: %w", err)
	}
	return writePair(certPath, keyPath, der, key, backups)
}

// Options describe a certificate signed by the store CA.
type Options struct {
	CertPath, KeyPath     string
	CACertPath, CAKeyPath string
	Org                   string
	Bits                  int
	// Hosts become SANs: IP addresses as IP SANs, everything else DNS.
	Hosts []string
	// Server makes a server certificate; ClientToo also allows client
	// authentication (swarm masters connect to agents).
	Server, ClientToo bool
}

// Generate writes a certificate and key signed by the CA.
func Generate(o Options) error {
	return generate(o, nil)
}

func generate(o Options, backups *[]string) error {
	ca, caKey, err := LoadCA(o.CACertPath, o.CAKeyPath)
	if err != nil {
		return err
	}
	t, err := template(o.Org)
	if err != nil {
		return err
	}
	if o.Server {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if o.ClientToo {
			t.ExtKeyUsage = append(t.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		}
		for _, h := range o.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				t.IPAddresses = append(t.IPAddresses, ip)
			} else {
				t.DNSNames = append(t.DNSNames, h)
			}
		}
	} else {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		t.KeyUsage = x509.KeyUsageDigitalSignature
	}
	bits := o.Bits
	if bits == 0 {
		bits = DefaultBits
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, t, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("signing certificate: %w", err)
	}
	return writePair(o.CertPath, o.KeyPath, der, key, backups)
}

func writePair(certPath, keyPath string, der []byte, key *rsa.PrivateKey, backups *[]string) error {
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return installPair(certPath, keyPath, certPEM, keyPEM, backups)
}

// pairTmpInfix marks the temporary files of a pair being written:
// ".<name>.pair-tmp-<random>" next to <name>. Bootstrap completes or
// removes what an interrupted write left (sweepPair).
const pairTmpInfix = ".pair-tmp-"

func pairTmpPrefix(path string) string { return "." + filepath.Base(path) + pairTmpInfix }

// Test hooks: writeTemp writes a temporary file's content (a test makes
// it fail as a full disk does); afterKeyRename runs between the two
// renames (a test makes it fail as a crash there would).
var (
	writeTemp      = func(f *os.File, data []byte) (int, error) { return f.Write(data) }
	afterKeyRename = func() error { return nil }
)

// installPair puts a certificate and its key into place so that no
// failure loses the pair that was there:
//
//  1. both are written to temporary files next to their destinations and
//     fsynced; a failure here (ENOSPC) removes them and changes nothing;
//  2. with backups non-nil, every existing destination is kept as
//     <path>.bak-<timestamp> (a hard link: no space needed), and the
//     backups' names are appended to it;
//  3. the key is renamed into place, then the certificate.
//
// A crash between the two renames leaves the new key with the old (or no)
// certificate — a pair that does not match, which readers treat as
// incomplete — and the new certificate in its temporary file, from which
// the next Bootstrap completes the pair.
func installPair(certPath, keyPath string, certPEM, keyPEM []byte, backups *[]string) error {
	keyTmp, err := writeTempFile(keyPath, keyPEM, 0o600)
	if err != nil {
		return err
	}
	certTmp, err := writeTempFile(certPath, certPEM, 0o644)
	if err != nil {
		os.Remove(keyTmp)
		return err
	}
	if backups != nil {
		for _, p := range []string{keyPath, certPath} {
			name, err := backupFile(p)
			if err != nil {
				os.Remove(keyTmp)
				os.Remove(certTmp)
				return err
			}
			if name != "" {
				*backups = append(*backups, name)
			}
		}
	}
	if err := os.Rename(keyTmp, keyPath); err != nil {
		os.Remove(keyTmp)
		os.Remove(certTmp)
		return err
	}
	// From here on the temporary certificate is kept on failure: it
	// completes the pair at the next Bootstrap.
	if err := afterKeyRename(); err != nil {
		return err
	}
	if err := os.Rename(certTmp, certPath); err != nil {
		return err
	}
	if err := fsutil.SyncDir(filepath.Dir(keyPath)); err != nil {
		return err
	}
	if filepath.Dir(certPath) != filepath.Dir(keyPath) {
		return fsutil.SyncDir(filepath.Dir(certPath))
	}
	return nil
}

// writeTempFile writes data to a new temporary file next to path, with
// perm, fsynced, and returns its name.
func writeTempFile(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), pairTmpPrefix(path)+"*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		if _, err = writeTemp(f, data); err != nil {
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("syncing %s: %w", path, err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", path, cerr)
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// backupFile keeps the file at path as <path>.bak-<UTC timestamp> (with a
// counter when that name is taken) and returns the backup's name, or ""
// when there is no file. It hard-links, so the original stays in place
// and no space is needed; where links are not supported it copies.
func backupFile(path string) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	base := path + ".bak-" + time.Now().UTC().Format("20060102T150405Z")
	for i := 0; ; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return "", fmt.Errorf("keeping a copy of %s: %w", path, rerr)
		}
		f, cerr := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(cerr, fs.ErrExist) {
			continue
		}
		if cerr != nil {
			return "", fmt.Errorf("keeping a copy of %s: %w", path, cerr)
		}
		_, werr := f.Write(data)
		if werr == nil {
			werr = f.Sync()
		}
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			os.Remove(name)
			return "", fmt.Errorf("keeping a copy of %s: %w", path, werr)
		}
		return name, nil
	}
}

// LoadCA reads the CA certificate and its key.
func LoadCA(certPath, keyPath string) (*x509.Certificate, any, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA (%s): %w", certPath, err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the CA (%s): %w", certPath, err)
	}
	return ca, pair.PrivateKey, nil
}

// ReadCert parses the first certificate of a PEM file.
func ReadCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCert(path, data)
}

// Expired reports whether the certificate at path is past its NotAfter.
func Expired(path string, now time.Time) (bool, error) {
	c, err := ReadCert(path)
	if err != nil {
		return false, err
	}
	return now.After(c.NotAfter), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
