// Package plugin runs third-party driver binaries
// (docker-machine-driver-NAME on PATH) and drives them over the original
// Docker Machine's plugin protocol: Go net/rpc over HTTP on a loopback
// address the plugin prints as its first line of stdout (docs/drivers.md).
//
// The wire types here carry the names the original registers with gob, so
// a plugin built with github.com/docker/machine's plugin package decodes
// them as its own.
package plugin

import (
	"encoding/gob"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
)

// Hand-shake environment and protocol constants, as in the original.
const (
	// EnvToken must equal TokenValue for a plugin binary to serve.
	EnvToken   = "MACHINE_PLUGIN_TOKEN"
	TokenValue = "42"
	// EnvDriverName tells the plugin which driver it serves.
	EnvDriverName = "MACHINE_PLUGIN_DRIVER_NAME"
	// APIVersion is the only plugin API version spoken.
	APIVersion = 1
	// BinaryPrefix + driver name is the binary looked up on PATH.
	BinaryPrefix = "docker-machine-driver-"

	serviceV1 = "RPCServerDriver"
	serviceV0 = "RpcServerDriver"
)

// RPCFlags carries create flag values to a plugin's SetConfigFromFlags.
// The field and gob name are those of the original's rpcdriver.RPCFlags.
type RPCFlags struct {
	Values map[string]any
}

// DriverOptions is the interface type the original's SetConfigFromFlags
// argument travels as (its drivers.DriverOptions, of the same name): gob
// sends the value behind it under its registered name. It is exported
// because net/rpc serves only methods with exported argument types.
type DriverOptions interface {
	String(key string) string
	StringSlice(key string) []string
	Int(key string) int
	Bool(key string) bool
}

// Options returns the values as driver options.
func (r RPCFlags) Options() drivers.Options { return drivers.Options(r.Values) }

func (r RPCFlags) get(key string) any { return r.Values[key] }

// String returns a string value ("" when absent or of another type).
func (r RPCFlags) String(key string) string { s, _ := r.get(key).(string); return s }

// StringSlice returns a string slice value.
func (r RPCFlags) StringSlice(key string) []string { s, _ := r.get(key).([]string); return s }

// Int returns an int value.
func (r RPCFlags) Int(key string) int { i, _ := r.get(key).(int); return i }

// Bool returns a bool value.
func (r RPCFlags) Bool(key string) bool { b, _ := r.get(key).(bool); return b }

// Gob names of the original: gob.Register of a pointer names it by
// reflect's String(), i.e. package name (not path) and type.
const (
	gobRPCFlags        = "*rpcdriver.RPCFlags"
	gobStringFlag      = "*mcnflag.StringFlag"
	gobIntFlag         = "*mcnflag.IntFlag"
	gobStringSliceFlag = "*mcnflag.StringSliceFlag"
	gobBoolFlag        = "*mcnflag.BoolFlag"
)

func init() {
	// Our mcnflag types have the original's field names and types, which
	// is all gob matches on.
	gob.RegisterName(gobRPCFlags, new(RPCFlags))
	gob.RegisterName(gobIntFlag, new(mcnflag.IntFlag))
	gob.RegisterName(gobStringFlag, new(mcnflag.StringFlag))
	gob.RegisterName(gobStringSliceFlag, new(mcnflag.StringSliceFlag))
	gob.RegisterName(gobBoolFlag, new(mcnflag.BoolFlag))
}

// valueFlags turns the pointers gob decodes into the value types the rest
// of the CLI switches on.
func valueFlags(in []mcnflag.Flag) []mcnflag.Flag {
	out := make([]mcnflag.Flag, 0, len(in))
	for _, f := range in {
		switch p := f.(type) {
		case *mcnflag.StringFlag:
			out = append(out, *p)
		case *mcnflag.IntFlag:
			out = append(out, *p)
		case *mcnflag.StringSliceFlag:
			out = append(out, *p)
		case *mcnflag.BoolFlag:
			out = append(out, *p)
		case nil:
		default:
			out = append(out, f)
		}
	}
	return out
}
