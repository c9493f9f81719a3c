package cert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/fsutil"
)

// ClientTLS is the client side of a machine's mutual TLS: the CA as the
// only root and the client certificate. Callers set ServerName when they
// dial by something other than the URL host.
func ClientTLS(ao *auth.Options) (*tls.Config, error) {
	caPEM, err := os.ReadFile(ao.CaCertPath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no PEM certificate", ao.CaCertPath)
	}
	pair, err := tls.LoadX509KeyPair(ao.ClientCertPath, ao.ClientKeyPath)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// CopyClientMaterial copies the CA and client certificate into a machine
// directory as ca.pem, cert.pem and key.pem — the names the docker CLI
// expects in DOCKER_CERT_PATH. Identical files are not rewritten. The
// client pair is installed as a pair (both written to temporary files
// first, then renamed), so an interrupted copy leaves a mismatched pair
// only in the moment between two renames; the next copy completes it.
func CopyClientMaterial(ao *auth.Options, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	read := func(src, name string) ([]byte, bool, error) {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, false, fmt.Errorf("copying certificates to the machine directory: %w", err)
		}
		old, err := os.ReadFile(filepath.Join(dir, name))
		return data, err == nil && bytes.Equal(old, data), nil
	}
	ca, caSame, err := read(ao.CaCertPath, "ca.pem")
	if err != nil {
		return err
	}
	certPEM, certSame, err := read(ao.ClientCertPath, "cert.pem")
	if err != nil {
		return err
	}
	keyPEM, keySame, err := read(ao.ClientKeyPath, "key.pem")
	if err != nil {
		return err
	}
	if !caSame {
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
			return fmt.Errorf("copying certificates to the machine directory: %w", err)
		}
	}
	if !certSame || !keySame {
		if err := installPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), certPEM, keyPEM, nil); err != nil {
			return fmt.Errorf("copying certificates to the machine directory: %w", err)
		}
	}
	return nil
}
