package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// ErrFutureVersion is returned for configs newer than this binary.
var ErrFutureVersion = errors.New("config version is from the future -- you should upgrade your Docker Machine client")

// ErrEmptyConfig is returned for a zero-length config.json.
var ErrEmptyConfig = errors.New("config.json is empty (a write was interrupted); remove the machine with \"docker-machine rm -f\"")

// Stored is config.json decoded with the driver left raw.
type Stored struct {
	ConfigVersion int
	Driver        json.RawMessage
	DriverName    string
	HostOptions   *Options
	Name          string
}

// v0: everything flat at the top level.
type hostV0 struct {
	Name           string
	Driver         json.RawMessage
	DriverName     string
	StorePath      string
	CaCertPath     string
	PrivateKeyPath string
	ServerCertPath string
	ServerKeyPath  string
	ClientCertPath string
	ClientKeyPath  string
	SwarmHost      string
	SwarmMaster    bool
	SwarmDiscovery string
}

type authV1 struct {
	StorePath            string
	CaCertPath           string
	CaCertRemotePath     string
	ServerCertPath       string
	ServerKeyPath        string
	ClientKeyPath        string
	ServerCertRemotePath string
	ServerKeyRemotePath  string
	PrivateKeyPath       string
	ClientCertPath       string
	CertDir              string
	CaPrivateKeyPath     string
	ServerCertSANs       []string
}

// v1 and v2 share a shape; v1 keeps StorePath (the machine directory) at
// the top level and calls the CA key PrivateKeyPath.
type hostV12 struct {
	ConfigVersion int
	Driver        json.RawMessage
	DriverName    string
	HostOptions   *struct {
		Driver        string
		Memory        int
		Disk          int
		EngineOptions *engine.Options
		SwarmOptions  *swarm.Options
		AuthOptions   *authV1
	}
	StorePath string
	Name      string
}

// Decode parses config.json bytes of any version (0–3) into the current
// shape. migrated reports whether the version was older. machineDir is the
// directory the file came from; its base name is the machine name.
func Decode(data []byte, machineDir string) (s *Stored, migrated bool, err error) {
	if len(data) == 0 {
		return nil, false, ErrEmptyConfig
	}
	// One pass for the common case (a current config): decode the full
	// shape and look at its version. Only when that fails is the version
	// read alone, to tell a corrupt file from one of another version.
	s = &Stored{}
	version := 0
	if fullErr := json.Unmarshal(data, s); fullErr == nil {
		version = s.ConfigVersion
	} else {
		var meta struct{ ConfigVersion int }
		if err := json.Unmarshal(data, &meta); err != nil {
			return nil, false, fmt.Errorf("config.json is corrupt: %w", err)
		}
		if meta.ConfigVersion == ConfigVersion {
			return nil, false, fmt.Errorf("config.json is corrupt: %w", fullErr)
		}
		version = meta.ConfigVersion
	}
	switch {
	case version > ConfigVersion:
		return nil, false, ErrFutureVersion
	case version == ConfigVersion:
	default:
		s, err = migrate(data, version, machineDir)
		if err != nil {
			return nil, false, err
		}
		migrated = true
	}
	s.Name = filepath.Base(machineDir)
	if s.HostOptions == nil {
		return nil, false, errors.New("config.json is corrupt: HostOptions missing")
	}
	fillDefaults(s.HostOptions)
	return s, migrated, nil
}

func fillDefaults(o *Options) {
	if o.EngineOptions == nil {
		o.EngineOptions = &engine.Options{TLSVerify: true, InstallURL: engine.DefaultInstallURL}
	}
	if o.SwarmOptions == nil {
		o.SwarmOptions = &swarm.Options{}
	}
	if o.AuthOptions == nil {
		o.AuthOptions = &auth.Options{}
	}
}

func migrate(data []byte, version int, machineDir string) (*Stored, error) {
	var h hostV12
	if version == 0 {
		var v0 hostV0
		if err := json.Unmarshal(data, &v0); err != nil {
			return nil, fmt.Errorf("config.json (version 0) is corrupt: %w", err)
		}
		h = v0ToV1(v0, machineDir)
	} else if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("config.json (version %d) is corrupt: %w", version, err)
	}
	if h.HostOptions == nil || h.HostOptions.AuthOptions == nil {
		return nil, fmt.Errorf("config.json (version %d) is corrupt: HostOptions.AuthOptions missing", version)
	}
	a := h.HostOptions.AuthOptions
	if version <= 1 {
		// v1 -> v2: rename the CA key, move StorePath, add CertDir.
		if a.CaPrivateKeyPath == "" {
			a.CaPrivateKeyPath = a.PrivateKeyPath
		}
		if h.StorePath != "" {
			a.StorePath = h.StorePath
		}
	}
	if a.StorePath == "" {
		a.StorePath = machineDir
	}
	global := filepath.Dir(filepath.Dir(a.StorePath))
	if a.CertDir == "" {
		a.CertDir = filepath.Join(global, "certs")
	}
	// v2 -> v3: the driver carries the global store path.
	drv, err := injectStorePath(h.Driver, global)
	if err != nil {
		return nil, err
	}
	s := &Stored{
		ConfigVersion: ConfigVersion,
		Driver:        drv,
		DriverName:    h.DriverName,
		HostOptions: &Options{
			Driver:        h.HostOptions.Driver,
			Memory:        h.HostOptions.Memory,
			Disk:          h.HostOptions.Disk,
			EngineOptions: h.HostOptions.EngineOptions,
			SwarmOptions:  h.HostOptions.SwarmOptions,
			AuthOptions: &auth.Options{
				CertDir:              a.CertDir,
				CaCertPath:           a.CaCertPath,
				CaPrivateKeyPath:     a.CaPrivateKeyPath,
				CaCertRemotePath:     a.CaCertRemotePath,
				ServerCertPath:       a.ServerCertPath,
				ServerKeyPath:        a.ServerKeyPath,
				ClientKeyPath:        a.ClientKeyPath,
				ServerCertRemotePath: a.ServerCertRemotePath,
				ServerKeyRemotePath:  a.ServerKeyRemotePath,
				ClientCertPath:       a.ClientCertPath,
				ServerCertSANs:       a.ServerCertSANs,
				StorePath:            a.StorePath,
			},
		},
	}
	return s, nil
}

func v0ToV1(v0 hostV0, machineDir string) hostV12 {
	var h hostV12
	h.ConfigVersion = 1
	h.Driver = v0.Driver
	h.DriverName = v0.DriverName
	h.Name = v0.Name
	h.StorePath = v0.StorePath
	if h.StorePath == "" {
		h.StorePath = machineDir
	}
	h.HostOptions = &struct {
		Driver        string
		Memory        int
		Disk          int
		EngineOptions *engine.Options
		SwarmOptions  *swarm.Options
		AuthOptions   *authV1
	}{
		EngineOptions: &engine.Options{TLSVerify: true, InstallURL: engine.DefaultInstallURL},
		SwarmOptions: &swarm.Options{
			IsSwarm:   v0.SwarmMaster || v0.SwarmDiscovery != "",
			Master:    v0.SwarmMaster,
			Host:      v0.SwarmHost,
			Discovery: v0.SwarmDiscovery,
		},
		AuthOptions: &authV1{
			StorePath:      h.StorePath,
			CaCertPath:     v0.CaCertPath,
			PrivateKeyPath: v0.PrivateKeyPath,
			ServerCertPath: v0.ServerCertPath,
			ServerKeyPath:  v0.ServerKeyPath,
			ClientCertPath: v0.ClientCertPath,
			ClientKeyPath:  v0.ClientKeyPath,
		},
	}
	return h
}

// injectStorePath sets "StorePath" in the driver object to the global
// store, as the original's v2 -> v3 migration did (a value recorded by an
// older version is replaced), keeping every other field and number exactly
// as stored.
func injectStorePath(raw json.RawMessage, global string) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return raw, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("driver configuration is corrupt: %w", err)
	}
	if cur, has := m["StorePath"]; has {
		var s string
		if json.Unmarshal(cur, &s) == nil && s == global {
			return raw, nil
		}
	}
	v, _ := json.Marshal(global)
	m["StorePath"] = v
	return json.Marshal(m)
}
