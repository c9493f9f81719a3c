// Package builtin links every built-in driver into a binary: importing it
// registers them all (their init functions call registry.Register). A new
// driver is added here, and nowhere else.
package builtin

import (
	_ "github.com/docker-machine-ng/machine/drivers/amazonec2"
	_ "github.com/docker-machine-ng/machine/drivers/digitalocean"
	_ "github.com/docker-machine-ng/machine/drivers/generic"
	_ "github.com/docker-machine-ng/machine/drivers/none"
	_ "github.com/docker-machine-ng/machine/drivers/qemu"
	_ "github.com/docker-machine-ng/machine/drivers/virtualbox"
)
