// Command docker-machine-driver-virtualbox is the virtualbox driver as a
// plugin binary of the original Docker Machine's protocol: put it on
// PATH and the original docker-machine, rancher-machine or GitLab's fork
// create VirtualBox machines with `-d virtualbox` through it
// (docs/drivers/virtualbox.md). It is started by those clients, not by
// hand.
package main

import (
	"github.com/docker-machine-ng/machine/drivers/virtualbox"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/plugin"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

func main() {
	// The VMs outlive the plugin: none of their processes may keep a
	// descriptor the client's process handed down.
	_ = procutil.CloseInheritedOnExec()
	plugin.Serve(func(machine, store string) drivers.Driver { return virtualbox.New(machine, store) })
}
