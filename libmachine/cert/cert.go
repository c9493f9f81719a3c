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
	return writePair(certPath, keyPath, der, key)
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
	return writePair(o.CertPath, o.KeyPath, der, key)
}

func writePair(certPath, keyPath string, der []byte, key *rsa.PrivateKey) error {
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := fsutil.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(certPath, certPEM, 0o644)
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
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return c, nil
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
