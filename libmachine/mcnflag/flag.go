// Package mcnflag declares the create flags a driver offers, independent of
// the CLI library that renders them.
package mcnflag

import "fmt"

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
}

// StringSliceFlag is a repeatable flag.
type StringSliceFlag struct {
	Name   string
	Usage  string
	EnvVar string
	Value  []string
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
