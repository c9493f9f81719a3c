package cert

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Bootstrap makes sure the CA and client certificate of a.CertDir exist and
// have not expired, creating them when needed. renew forces new ones (the
// `regenerate-certs --client-certs` case). Concurrent processes are
// serialized by a lock file in the certificate directory.
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

	caNew := renew
	if exists(a.CaCertPath) && !renew {
		expired, err := Expired(a.CaCertPath, now)
		if err != nil {
			return fmt.Errorf("reading the CA certificate: %w", err)
		}
		if expired {
			log.Infof("CA certificate is outdated and needs to be regenerated")
			caNew = true
		}
		if !expired {
			log.Debugf("cert: CA %s exists and has not expired", a.CaCertPath)
		}
	} else {
		caNew = true
	}
	if caNew {
		log.Infof("Creating CA: %s", a.CaCertPath)
		if renew || exists(a.CaCertPath) {
			os.Remove(a.CaPrivateKeyPath)
		}
		if err := GenerateCA(a.CaCertPath, a.CaPrivateKeyPath, org, DefaultBits); err != nil {
			return fmt.Errorf("generating CA certificate: %w", err)
		}
	}

	clientNew := caNew
	if !clientNew {
		if exists(a.ClientCertPath) {
			expired, err := Expired(a.ClientCertPath, now)
			if err != nil {
				return fmt.Errorf("reading the client certificate: %w", err)
			}
			if expired {
				log.Infof("Client certificate is outdated and needs to be regenerated")
				clientNew = true
			} else {
				log.Debugf("cert: client certificate %s exists and has not expired", a.ClientCertPath)
			}
		} else {
			clientNew = true
		}
	}
	if caNew {
		log.Debugf("cert: created CA %s (key %s)", a.CaCertPath, a.CaPrivateKeyPath)
	}
	if clientNew {
		log.Infof("Creating client certificate: %s", a.ClientCertPath)
		err := Generate(Options{
			CertPath: a.ClientCertPath, KeyPath: a.ClientKeyPath,
			CACertPath: a.CaCertPath, CAKeyPath: a.CaPrivateKeyPath,
			Org: org + ".<bootstrap>",
		})
		if err != nil {
			return fmt.Errorf("generating client certificate: %w", err)
		}
		log.Debugf("cert: created client certificate %s (key %s), signed by %s", a.ClientCertPath, a.ClientKeyPath, a.CaCertPath)
	}
	return nil
}
