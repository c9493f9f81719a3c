//go:build linux

package testhost

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestInteractiveHost boots one host and keeps it until SIGINT/SIGTERM; it runs only from
// scripts/testhost/run-host.sh (TESTHOST_INTERACTIVE=KIND:FLAVOUR).
func TestInteractiveHost(t *testing.T) {
	spec := os.Getenv("TESTHOST_INTERACTIVE")
	if spec == "" {
		t.Skip("manual helper: scripts/testhost/run-host.sh")
	}
	kind, flavour, _ := strings.Cut(spec, ":")
	opts := Options{Flavour: Flavour(flavour)}
	var h *Host
	if kind == "qemu" {
		h = StartQEMU(t, opts)
	} else {
		h = StartNspawn(t, opts)
	}
	fmt.Printf("\n%s host %s (%s) is up after %s.\n  ssh %s\n  console: %s\n  fingerprints: %s\nCtrl-C stops it.\n",
		h.Kind, h.Name, h.Flavour, h.BootTime, strings.Join(h.SSHArgs(), " "), h.console, strings.Join(h.HostKeyFingerprints, " "))
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
