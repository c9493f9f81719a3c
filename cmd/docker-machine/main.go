// Command docker-machine creates and manages Docker hosts.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/docker-machine-ng/machine/commands"
	_ "github.com/docker-machine-ng/machine/drivers/none"
	_ "github.com/docker-machine-ng/machine/drivers/qemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := commands.Run(ctx, commands.Env{
		Args:   os.Args,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	stop()
	os.Exit(code)
}
