// Command docker-machine creates and manages Docker hosts.
//
// GOMAXPROCS is the number of CPUs, without the container CPU quota
// lookup at start-up (a cgroup and mountinfo walk that cost most
// commands 7% of their run time); a CLI run is too short to be throttled.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/docker-machine-ng/machine/commands"
	_ "github.com/docker-machine-ng/machine/drivers/builtin"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

func main() {
	// A CLI run is short and allocates little: collect garbage only when
	// the heap gets large, instead of several times per command.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(256 << 20)
	// No child (VM, SSH control master, ssh/scp/rsync/sshfs) gets the
	// descriptors this process inherited beyond stdin, stdout and stderr:
	// one that outlives the command would hold a caller's pipe open.
	// Failures are reported by the drivers and the SSH client, which ask
	// again (for the same, cached result) before their long-lived children.
	_ = procutil.CloseInheritedOnExec()
	code := commands.Run(context.Background(), commands.Env{
		Args:   os.Args,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Interrupts: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return procutil.Interrupts(ctx, os.Stderr)
		},
	})
	os.Exit(code)
}
