package provision

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/log"
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

// prepareCerts (provision) copies the client material into the machine
// directory, keeps the server certificate while it is usable (or
// generates one) and reads the remote certificate files.
func (s *session) prepareCerts() error { return s.certs(false) }

// renewCerts (regenerate-certs) does what prepareCerts does, with a new
// server certificate whatever the old one is.
func (s *session) renewCerts() error { return s.certs(true) }

func (s *session) certs(always bool) error {
	if err := s.copyClientCerts(); err != nil {
		return err
	}
	if err := s.serverCert(always); err != nil {
		return err
	}
	return s.readCertFiles()
}

// copyClientCerts copies the client material into the machine directory.
func (s *session) copyClientCerts() error {
	log.Infof("Copying certs to the local machine directory...")
	dir, err := s.machineDir()
	if err != nil {
		return err
	}
	return cert.CopyClientMaterial(s.ao, dir)
}

// serverCert keeps or generates the server certificate; always forces a
// new one.
func (s *session) serverCert(always bool) error {
	sans := serverSANs(s.ao, s.ip)
	master := s.isSwarmMaster()
	why := "regenerate-certs"
	if !always {
		why = serverCertUsable(s.ao, sans, master, time.Now())
	}
	if why == "" {
		return nil
	}
	log.Debugf("provision: new server certificate for %s (%s)", s.h.Name, why)
	if err := generateServerCert(s.ao, s.h.Name, sans, master); err != nil {
		return err
	}
	s.res.NewServerCert = true
	return nil
}

// readCertFiles sets the remote certificate paths of the OS and reads
// the three certificate files into certFiles.
func (s *session) readCertFiles() error {
	od := s.d.OptionsDir()
	s.ao.CaCertRemotePath = path.Join(od, "ca.pem")
	s.ao.ServerCertRemotePath = path.Join(od, "server.pem")
	s.ao.ServerKeyRemotePath = path.Join(od, "server-key.pem")
	s.certFiles = nil
	for _, f := range []struct{ local, remote, mode string }{
		{s.ao.CaCertPath, s.ao.CaCertRemotePath, "0644"},
		{s.ao.ServerCertPath, s.ao.ServerCertRemotePath, "0644"},
		{s.ao.ServerKeyPath, s.ao.ServerKeyRemotePath, "0600"},
	} {
		b, err := os.ReadFile(f.local)
		if err != nil {
			return err
		}
		s.certFiles = append(s.certFiles, remoteFile{Path: f.remote, Mode: f.mode, Content: b})
	}
	return nil
}

// uploadCerts (regenerate-certs) writes the certificates and restarts
// the daemon, whether or not they changed.
func (s *session) uploadCerts() error {
	log.Infof("Copying certs to the remote machine...")
	return s.apply(s.certFiles, true, false)
}
