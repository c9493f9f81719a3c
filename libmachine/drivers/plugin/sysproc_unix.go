//go:build unix

package plugin

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the plugin in a process group of its own: a Ctrl-C at
// the terminal reaches docker-machine only, which then rolls back
// through the still running plugin and closes it, instead of the plugin
// dying in the middle of an operation.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
