package ssh

import (
	"fmt"
	"os"
	"path/filepath"
)

// NoConfig is the -F argument that makes OpenSSH read no configuration
// file: "none" (OpenSSH's own word for it; /dev/null is a Unix path).
const NoConfig = "none"

// connectionSharing: the Win32 port of OpenSSH has no ControlMaster
// (there is no descriptor passing over its sockets), so every command
// connects on its own.
const connectionSharing = false

// windowsClients are where the Windows OpenSSH client is installed: the
// optional feature of Windows 10 and later (in PATH by default), then the
// MSI of the Win32-OpenSSH releases.
func windowsClients() []string {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	progs := os.Getenv("ProgramFiles")
	if progs == "" {
		progs = `C:\Program Files`
	}
	return []string{
		filepath.Join(root, "System32", "OpenSSH", "ssh.exe"),
		filepath.Join(progs, "OpenSSH", "ssh.exe"),
	}
}

// ExternalBinary finds the Windows OpenSSH client. An ssh.exe earlier in
// PATH (Git for Windows', MSYS2's, Cygwin's) is not taken: those
// understand Unix paths and sockets, and the arguments made here are for
// the Windows port. Without the Windows client the native one is used.
func ExternalBinary() (string, error) {
	for _, p := range windowsClients() {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("ssh: the Windows OpenSSH client is not installed (looked for %s; Settings > Optional features > OpenSSH Client), use the native client", windowsClients()[0])
}
