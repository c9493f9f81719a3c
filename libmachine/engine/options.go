// Package engine holds the Docker daemon options given at create time.
package engine

// DefaultInstallURL is where the install script comes from unless overridden.
const DefaultInstallURL = "https://get.docker.com"

// DefaultPort is the TLS port dockerd listens on.
const DefaultPort = 2376

// Options configure the Docker daemon of a machine. JSON names match the
// original's config.json (note Dns and TlsVerify).
type Options struct {
	ArbitraryFlags   []string
	DNS              []string `json:"Dns"`
	GraphDir         string
	Env              []string
	Ipv6             bool
	InsecureRegistry []string
	Labels           []string
	LogLevel         string
	StorageDriver    string
	SelinuxEnabled   bool
	TLSVerify        bool `json:"TlsVerify"`
	RegistryMirror   []string
	InstallURL       string
	// InstallMethod is "script" (InstallURL), "package" (the distribution's
	// own packages) or "none". Empty means "script", as the original did.
	InstallMethod string `json:",omitempty"`
}
