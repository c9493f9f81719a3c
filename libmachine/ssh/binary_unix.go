//go:build !windows

package ssh

import (
	"fmt"
	"os/exec"
)

// NoConfig is the -F argument that makes OpenSSH read no configuration
// file.
const NoConfig = "/dev/null"

// connectionSharing: OpenSSH multiplexes sessions over a control master.
const connectionSharing = true

// ExternalBinary finds the OpenSSH client: ssh in PATH.
func ExternalBinary() (string, error) {
	bin, err := exec.LookPath("ssh")
	if err != nil {
		return "", fmt.Errorf("ssh: no ssh binary found in PATH (use the native client): %w", err)
	}
	return bin, nil
}
