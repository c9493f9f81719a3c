//go:build !windows

package commands

// processAncestors is used on Windows only: elsewhere $SHELL names the
// shell.
func processAncestors() []string { return nil }
