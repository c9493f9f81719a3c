// Command docker-machine-driver-qemu is the qemu driver as a plugin
// binary of the original Docker Machine's protocol: put it on PATH and
// the original docker-machine, rancher-machine or GitLab's fork create
// qemu machines with `-d qemu` (docs/drivers.md, "Our drivers as plugin binaries"). It is started by
// those clients, not by hand.
package main

import (
	"github.com/docker-machine-ng/machine/drivers/qemu"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/plugin"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

func main() {
	// The VMs outlive the plugin: none of them may keep a descriptor the
	// client's process handed down (a caller's pipe would never close).
	_ = procutil.CloseInheritedOnExec()
	plugin.Serve(func(machine, store string) drivers.Driver { return qemu.New(machine, store) })
}
