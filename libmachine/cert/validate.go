package cert

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Material names the files a client uses to reach one machine.
type Material struct {
	CACert, ClientCert, ClientKey string
	// ServerCert is optional: machines without provisioning (the none
	// driver) have none.
	ServerCert string
}

// Validate checks a machine's certificates locally, without dialing: the
// client certificate and the server certificate must chain to the CA, be
// within their validity, and the server certificate must name host (the
// address the client will dial).
func Validate(m Material, host string, now time.Time) error {
	_, err := ValidClientTLS(m, host, now, false)
	return err
}

// ValidClientTLS is Validate returning the client side of the mutual TLS
// it checked (the CA as the only root, the client certificate), so a
// caller that goes on to dial parses the files once.
//
// keyKnown skips parsing the private key (RSA key parsing is the costly
// part of the check) when the caller knows this exact key already worked:
// a TLS session obtained with it is about to be resumed. The key is then
// parsed only if the server asks for the client certificate after all.
func ValidClientTLS(m Material, host string, now time.Time, keyKnown bool) (*tls.Config, error) {
	cfg, err := validate(m, host, now, keyKnown)
	result := "ok"
	if err != nil {
		result = "failed: " + err.Error()
	}
	log.Debugf("cert: checked %s for %s: %s", m.checked(), host, result)
	return cfg, err
}

// checked names the files Validate looks at.
func (m Material) checked() string {
	s := fmt.Sprintf("CA %s, client certificate %s (key %s)", m.CACert, m.ClientCert, m.ClientKey)
	switch _, err := os.Stat(m.ServerCert); {
	case m.ServerCert == "":
		return s + ", no server certificate"
	case errors.Is(err, os.ErrNotExist):
		return s + ", server certificate " + m.ServerCert + " (absent, not checked)"
	}
	return s + ", server certificate " + m.ServerCert
}

// validate is ValidClientTLS without its trace line.
func validate(m Material, host string, now time.Time, keyKnown bool) (*tls.Config, error) {
	ca, err := ReadCert(m.CACert)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if now.After(ca.NotAfter) {
		return nil, fmt.Errorf("the CA certificate %s expired on %s", m.CACert, ca.NotAfter.Format(time.DateOnly))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	var client *x509.Certificate
	if keyKnown {
		if client, err = ReadCert(m.ClientCert); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			pair, err := tls.LoadX509KeyPair(m.ClientCert, m.ClientKey)
			return &pair, err
		}
	} else {
		pair, err := tls.LoadX509KeyPair(m.ClientCert, m.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		if client, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("client certificate %s: %w", m.ClientCert, err)
	}
	if m.ServerCert == "" {
		return cfg, nil
	}
	if _, err := os.Stat(m.ServerCert); errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	server, err := ReadCert(m.ServerCert)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	_, err = server.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return nil, fmt.Errorf("server certificate %s: %w", m.ServerCert, err)
	}
	return cfg, nil
}
