// Package auth holds the TLS material locations recorded for a machine.
package auth

// Options are the certificate paths of one machine. JSON names match the
// original's config.json.
type Options struct {
	CertDir              string
	CaCertPath           string
	CaPrivateKeyPath     string
	CaCertRemotePath     string
	ServerCertPath       string
	ServerKeyPath        string
	ClientKeyPath        string
	ServerCertRemotePath string
	ServerKeyRemotePath  string
	ClientCertPath       string
	ServerCertSANs       []string
	StorePath            string
}
