package none

import (
	"testing"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
)

func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		New: func(_ *testing.T, machine, store string) drivers.Driver { return New(machine, store) },
		Options: func(*testing.T, string) drivers.Options {
			return drivers.Options{"url": "tcp://127.0.0.1:2376"}
		},
	})
}
