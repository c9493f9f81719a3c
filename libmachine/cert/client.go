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
// expects in DOCKER_CERT_PATH. Identical files are not rewritten.
func CopyClientMaterial(ao *auth.Options, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, c := range []struct {
		src, name string
		mode      os.FileMode
	}{
		{ao.CaCertPath, "ca.pem", 0o644},
		{ao.ClientCertPath, "cert.pem", 0o644},
		{ao.ClientKeyPath, "key.pem", 0o600},
	} {
		src, err := os.ReadFile(c.src)
		if err != nil {
			return fmt.Errorf("copying certificates to the machine directory: %w", err)
		}
		dst := filepath.Join(dir, c.name)
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, src) {
			continue
		}
		if err := fsutil.WriteFileAtomic(dst, src, c.mode); err != nil {
			return fmt.Errorf("copying certificates to the machine directory: %w", err)
		}
	}
	return nil
}
