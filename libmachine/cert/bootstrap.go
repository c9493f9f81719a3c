package cert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Bootstrap makes sure the CA and client certificate of a.CertDir exist,
// form complete pairs and have not expired, creating them when needed.
// renew forces new ones (the `regenerate-certs --client-certs` case).
// Concurrent processes are serialized by a lock file in the certificate
// directory.
//
// Each pair is checked: the certificate parses, the key parses and fits
// it, the CA is a CA, the client certificate is signed by the CA and
// allows client authentication. A pair that fails (a key without its
// certificate after an interrupted write, garbage in a file) is made anew
// when its files are the store's own (in a.CertDir); files given with
// --tls-* elsewhere are the user's, and an unusable pair of them is an
// error. Except under renew, every file Bootstrap replaces is kept first
// as <file>.bak-<timestamp>. What an interrupted write left behind is
// completed or removed first (recoverPair).
func Bootstrap(a *auth.Options, renew bool) error {
	if err := os.MkdirAll(a.CertDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", a.CertDir, err)
	}
	lock, err := fsutil.LockFile(filepath.Join(a.CertDir, ".lock"))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	org := Organization()
	now := time.Now()

	caPair := pair{what: "CA certificate", certPath: a.CaCertPath, keyPath: a.CaPrivateKeyPath}
	recoverPair(a, caPair, now, checkCA)
	caNew := renew
	if !renew {
		st, err := inspect(caPair, now, checkCA)
		if err != nil {
			return fmt.Errorf("reading the CA certificate: %w", err)
		}
		if caNew, err = mustRenew(a, caPair, st, "CA certificate", "CA", "CA"); err != nil {
			return err
		}
	}
	if caNew {
		log.Infof("Creating CA: %s", a.CaCertPath)
		kept := keepOld(renew)
		if err := generateCA(a.CaCertPath, a.CaPrivateKeyPath, org, DefaultBits, kept); err != nil {
			return fmt.Errorf("generating CA certificate: %w", err)
		}
		reportKept("CA", kept)
		log.Debugf("cert: created CA %s (key %s)", a.CaCertPath, a.CaPrivateKeyPath)
	}

	ca, err := ReadCert(a.CaCertPath)
	if err != nil {
		return fmt.Errorf("reading the CA certificate: %w", err)
	}
	checkClient := func(c *x509.Certificate) string { return checkClientOf(ca, a.CaCertPath, a.ClientCertPath, c) }
	clientPair := pair{what: "client certificate", certPath: a.ClientCertPath, keyPath: a.ClientKeyPath}
	recoverPair(a, clientPair, now, checkClient)
	clientNew := caNew
	if !clientNew {
		st, err := inspect(clientPair, now, checkClient)
		if err != nil {
			return fmt.Errorf("reading the client certificate: %w", err)
		}
		if clientNew, err = mustRenew(a, clientPair, st, "Client certificate", "Client certificate", "client certificate"); err != nil {
			return err
		}
	}
	if clientNew {
		log.Infof("Creating client certificate: %s", a.ClientCertPath)
		kept := keepOld(renew)
		err := generate(Options{
			CertPath: a.ClientCertPath, KeyPath: a.ClientKeyPath,
			CACertPath: a.CaCertPath, CAKeyPath: a.CaPrivateKeyPath,
			Org: org + ".<bootstrap>",
		}, kept)
		if err != nil {
			return fmt.Errorf("generating client certificate: %w", err)
		}
		reportKept("client certificate", kept)
		log.Debugf("cert: created client certificate %s (key %s), signed by %s", a.ClientCertPath, a.ClientKeyPath, a.CaCertPath)
	}
	return nil
}

// pair is a certificate and its key as Bootstrap finds them.
type pair struct {
	what              string
	certPath, keyPath string
}

// pairState is what inspect found: nothing, an expired certificate, a
// pair that cannot be used (broken says why), or a usable pair.
type pairState struct {
	missing, expired bool
	broken           string
	// parseErr is set with broken when the certificate does not parse.
	parseErr error
}

// inspect reads a pair and checks it; check adds what this kind of pair
// needs (a CA, a client certificate of the CA) and returns why not. Only
// a file that exists but cannot be read is an error.
func inspect(p pair, now time.Time, check func(*x509.Certificate) string) (pairState, error) {
	certPEM, certErr := os.ReadFile(p.certPath)
	keyPEM, keyErr := os.ReadFile(p.keyPath)
	certGone, keyGone := errors.Is(certErr, fs.ErrNotExist), errors.Is(keyErr, fs.ErrNotExist)
	switch {
	case certGone && keyGone:
		return pairState{missing: true}, nil
	case certErr != nil && !certGone:
		return pairState{}, certErr
	case keyErr != nil && !keyGone:
		return pairState{}, keyErr
	case certGone:
		return pairState{broken: fmt.Sprintf("the key %s has no certificate %s", p.keyPath, p.certPath)}, nil
	case keyGone:
		return pairState{broken: fmt.Sprintf("the certificate %s has no key %s", p.certPath, p.keyPath)}, nil
	}
	c, err := parseCert(p.certPath, certPEM)
	if err != nil {
		return pairState{broken: err.Error(), parseErr: err}, nil
	}
	if now.After(c.NotAfter) {
		return pairState{expired: true}, nil
	}
	if why := pairMismatch(certPEM, keyPEM); why != "" {
		return pairState{broken: fmt.Sprintf("the key %s does not fit the certificate %s: %s", p.keyPath, p.certPath, why)}, nil
	}
	if why := check(c); why != "" {
		return pairState{broken: why}, nil
	}
	return pairState{}, nil
}

// mustRenew decides from a pair's state whether it is made anew, and
// says why: outdated and unusable pairs are announced (the original's
// "<outdated> is outdated and needs to be regenerated"), a broken pair the
// store does not own is refused. The names are those of the messages.
func mustRenew(a *auth.Options, p pair, st pairState, outdated, unusableName, traced string) (bool, error) {
	switch {
	case st.missing:
		return true, nil
	case st.expired:
		log.Infof("%s is outdated and needs to be regenerated", outdated)
		return true, nil
	case st.broken != "":
		if !owned(a, p) {
			return false, unusable(p, st)
		}
		log.Infof("%s is unusable and needs to be regenerated: %s", unusableName, st.broken)
		return true, nil
	}
	log.Debugf("cert: %s %s exists and has not expired", traced, p.certPath)
	return false, nil
}

// parseCert is ReadCert on data read from path, with its errors.
func parseCert(path string, data []byte) (*x509.Certificate, error) {
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

// pairMismatch says why a key does not belong to a certificate, or "".
func pairMismatch(certPEM, keyPEM []byte) string {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return strings.TrimPrefix(err.Error(), "tls: ")
	}
	return ""
}

func checkCA(c *x509.Certificate) string {
	if !c.IsCA {
		return "the CA certificate is not a CA"
	}
	return ""
}

func checkClientOf(ca *x509.Certificate, caPath, certPath string, c *x509.Certificate) string {
	if err := c.CheckSignatureFrom(ca); err != nil {
		return fmt.Sprintf("%s is not signed by the CA %s", certPath, caPath)
	}
	if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return fmt.Sprintf("%s does not allow client authentication", certPath)
	}
	return ""
}

// owned reports whether both files of a pair are the store's own, in
// CertDir, rather than files the user named with --tls-*.
func owned(a *auth.Options, p pair) bool {
	dir := filepath.Clean(a.CertDir)
	return filepath.Dir(p.certPath) == dir && filepath.Dir(p.keyPath) == dir
}

func unusable(p pair, st pairState) error {
	if st.parseErr != nil {
		return fmt.Errorf("reading the %s: %w", p.what, st.parseErr)
	}
	why := st.broken
	return fmt.Errorf("reading the %s: %s (key %s) cannot be used: %s; fix or remove these files (the next create makes new ones)", p.what, p.certPath, p.keyPath, why)
}

// keepOld returns where installPair records the .bak copies it makes, or
// nil when nothing is kept (renew: the user asked for the replacement).
func keepOld(renew bool) *[]string {
	if renew {
		return nil
	}
	return &[]string{}
}

func reportKept(what string, kept *[]string) {
	if kept != nil && len(*kept) > 0 {
		log.Infof("The previous %s files are kept as %s", what, strings.Join(*kept, ", "))
	}
}

// recoverPair deals with what an interrupted installPair left next to a
// pair: when the key in place has no fitting certificate but a finished
// temporary certificate fits it (a crash between the two renames), that
// certificate is renamed into place, completing the pair. Every other
// temporary file of the pair is removed. In CertDir, which the lock
// protects, leftovers of fsutil.WriteFileAtomic from older versions are
// removed too.
func recoverPair(a *auth.Options, p pair, now time.Time, check func(*x509.Certificate) string) {
	certTmps := leftovers(p.certPath, pairTmpPrefix(p.certPath))
	if st, err := inspect(p, now, check); err == nil && !st.missing && (st.broken != "" || st.expired) {
		if keyPEM, err := os.ReadFile(p.keyPath); err == nil {
			for _, t := range certTmps {
				certPEM, err := os.ReadFile(t)
				if err != nil || pairMismatch(certPEM, keyPEM) != "" {
					continue
				}
				c, err := parseCert(t, certPEM)
				if err != nil || now.After(c.NotAfter) || check(c) != "" {
					continue
				}
				if err := os.Rename(t, p.certPath); err != nil {
					continue
				}
				fsutil.SyncDir(filepath.Dir(p.certPath))
				log.Debugf("cert: completed %s %s from the interrupted write %s", p.what, p.certPath, t)
				break
			}
		}
	}
	var stale []string
	for _, path := range []string{p.certPath, p.keyPath} {
		stale = append(stale, leftovers(path, pairTmpPrefix(path))...)
		if filepath.Dir(path) == filepath.Clean(a.CertDir) {
			stale = append(stale, leftovers(path, "."+filepath.Base(path)+".tmp")...)
		}
	}
	for _, t := range stale {
		if err := os.Remove(t); err == nil {
			log.Debugf("cert: removed %s, left by an interrupted write", t)
		}
	}
}

// leftovers lists the files next to path whose names start with prefix.
func leftovers(path, prefix string) []string {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
