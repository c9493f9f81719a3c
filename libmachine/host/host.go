// Package host is the machine record: the driver plus the options that
// were given at create time, stored as config.json.
package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// ConfigVersion is the config.json version this code writes.
const ConfigVersion = 3

// Host is one machine. The JSON field order matches the original.
type Host struct {
	ConfigVersion int
	Driver        drivers.Driver
	DriverName    string
	HostOptions   *Options
	Name          string

	// RawDriver is the driver JSON as read from disk.
	RawDriver []byte `json:"-"`
	// Migrated holds the original bytes when Load migrated an older
	// config; the first save keeps them as config.json.bak.
	Migrated []byte `json:"-"`
}

// Options are the create-time options of a machine.
type Options struct {
	Driver        string
	Memory        int
	Disk          int
	EngineOptions *engine.Options
	SwarmOptions  *swarm.Options
	AuthOptions   *auth.Options
}

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9\-\.]*$`) })

// ErrInvalidHostname is the original's message for a bad machine name.
var ErrInvalidHostname = errors.New("Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -")

// ValidateName checks a machine name; names become directory names and
// hostnames, so only letters, digits, dots and dashes are allowed.
func ValidateName(name string) error {
	if !validName().MatchString(name) || name == "." || name == ".." {
		return ErrInvalidHostname
	}
	if len(name) > MaxNameLength {
		return &NameTooLongError{Len: len(name)}
	}
	return nil
}

// MaxNameLength caps machine names. A name becomes file names in the
// store (the machine's directory, its lock file ".NAME.lock", its TLS
// session cache), which file systems limit to 255 bytes; the cap leaves
// room for every one of them, so a machine that can be created can always
// be removed.
const MaxNameLength = 200

// NameTooLongError refuses a name over MaxNameLength.
type NameTooLongError struct{ Len int }

func (e *NameTooLongError) Error() string {
	return fmt.Sprintf("Invalid hostname specified. The name is %d characters long; machine names may have at most %d", e.Len, MaxNameLength)
}

// Marshal renders the config.json bytes (4-space indentation).
func (h *Host) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(h, "", "    ")
	if err != nil {
		return nil, fmt.Errorf("encoding machine %q: %w", h.Name, err)
	}
	return b, nil
}
