package provision

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
)

// renewBefore: a server certificate this close to expiry is replaced.
const renewBefore = 30 * 24 * time.Hour

// serverSANs are the wanted SANs, in the original's order: --tls-san
// values, the machine IP, localhost; duplicates dropped.
func serverSANs(ao *auth.Options, ip string) []string {
	var out []string
	for _, s := range append(append(slices.Clone(ao.ServerCertSANs), ip), "localhost") {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// serverCertUsable reports why the existing server certificate cannot be
// kept ("" = keep it): it must load with its key, chain to the current
// CA, be valid for at least renewBefore, carry ClientAuth when wanted,
// and name exactly the wanted SANs.
func serverCertUsable(ao *auth.Options, sans []string, clientToo bool, now time.Time) string {
	pair, err := tls.LoadX509KeyPair(ao.ServerCertPath, ao.ServerKeyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return "none yet"
	}
	if err != nil {
		return err.Error()
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err.Error()
	}
	ca, err := cert.ReadCert(ao.CaCertPath)
	if err != nil {
		return err.Error()
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: usages}); err != nil {
		return err.Error()
	}
	if now.Add(renewBefore).After(c.NotAfter) {
		return "expires on " + c.NotAfter.Format(time.DateOnly)
	}
	if clientToo && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return "no client usage"
	}
	var have []string
	for _, ip := range c.IPAddresses {
		have = append(have, ip.String())
	}
	have = append(have, c.DNSNames...)
	var want []string
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			s = ip.String()
		}
		want = append(want, s)
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		return fmt.Sprintf("SANs %v, want %v", have, want)
	}
	return ""
}

// generateServerCert writes a new server certificate and key.
func generateServerCert(ao *auth.Options, machine string, sans []string, clientToo bool) error {
	err := cert.Generate(cert.Options{
		CertPath:   ao.ServerCertPath,
		KeyPath:    ao.ServerKeyPath,
		CACertPath: ao.CaCertPath,
		CAKeyPath:  ao.CaPrivateKeyPath,
		Org:        cert.Organization() + "." + machine,
		Hosts:      sans,
		Server:     true,
		ClientToo:  clientToo,
	})
	if err != nil {
		return fmt.Errorf("error generating server cert: %w", err)
	}
	return nil
}
