// Package mcnflag declares the create flags a driver offers, independent of
// the CLI library that renders them.
//
// A flag whose value is a secret (a password, an API token) is marked by
// its Secret field or recognised by its name (IsSecret): crash reports
// mask its value wherever it appears.
package mcnflag

import (
	"fmt"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/redact"
)

// Flag is one create flag of a driver. Names carry the driver prefix
// (for example "generic-ip-address").
type Flag interface {
	fmt.Stringer
	Default() any
	EnvName() string
	HelpText() string
}

// StringFlag is a flag taking one string.
type StringFlag struct {
	Name   string
	Usage  string
	EnvVar string
	Value  string
	// Secret marks a value that must never be shown or reported, for a
	// flag whose name IsSecretName does not recognise. The field is new
	// to the plugin protocol's flag type: the original's clients and
	// plugins ignore it, and flags from them read as not marked.
	Secret bool
}

// StringSliceFlag is a repeatable flag.
type StringSliceFlag struct {
	Name   string
	Usage  string
	EnvVar string
	Value  []string
	// Secret: as StringFlag's.
	Secret bool
}

// IntFlag is a flag taking an integer.
type IntFlag struct {
	Name   string
	Usage  string
	EnvVar string
	Value  int
}

// BoolFlag is a switch; its default is always false.
type BoolFlag struct {
	Name   string
	Usage  string
	EnvVar string
}

func (f StringFlag) String() string      { return f.Name }
func (f StringFlag) Default() any        { return f.Value }
func (f StringFlag) EnvName() string     { return f.EnvVar }
func (f StringFlag) HelpText() string    { return f.Usage }
func (f StringSliceFlag) String() string { return f.Name }
func (f StringSliceFlag) Default() any   { return f.Value }
func (f StringSliceFlag) EnvName() string {
	return f.EnvVar
}
func (f StringSliceFlag) HelpText() string { return f.Usage }
func (f IntFlag) String() string           { return f.Name }
func (f IntFlag) Default() any             { return f.Value }
func (f IntFlag) EnvName() string          { return f.EnvVar }
func (f IntFlag) HelpText() string         { return f.Usage }
func (f BoolFlag) String() string          { return f.Name }
func (f BoolFlag) Default() any            { return false }
func (f BoolFlag) EnvName() string         { return f.EnvVar }
func (f BoolFlag) HelpText() string        { return f.Usage }

// secretNames are flags of known drivers whose values are secrets but
// whose names IsSecretName's rules do not recognise.
var secretNames = map[string]bool{
	"linode-root-pass":    true,
	"ovh-application-key": true,
	"ovh-consumer-key":    true,
}

// IsSecretName reports whether a flag of this name holds a secret: the
// names redact.SecretKey recognises (…-password, …-token, …-secret…,
// …-api-key, …-access-key, …-private-key, …-credential…, but not the
// names of files and paths such as …-private-key-file or …-ssh-key-path),
// names ending in -pass, and a few known flags of other drivers
// (secretNames).
func IsSecretName(name string) bool {
	name = strings.TrimLeft(name, "-")
	return redact.SecretKey(name) || strings.HasSuffix(name, "-pass") || secretNames[name]
}

// IsSecret reports whether f's value is a secret: marked as one, or
// named like one.
func IsSecret(f Flag) bool {
	switch fl := f.(type) {
	case StringFlag:
		if fl.Secret {
			return true
		}
	case StringSliceFlag:
		if fl.Secret {
			return true
		}
	}
	return IsSecretName(f.String())
}
