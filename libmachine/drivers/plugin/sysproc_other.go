//go:build !unix

package plugin

import "os/exec"

// ownGroup does nothing where there are no Unix process groups.
func ownGroup(*exec.Cmd) {}
