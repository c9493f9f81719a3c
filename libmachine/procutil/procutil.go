// Package procutil prepares the process for starting children that
// outlive it.
//
// A process inherits every descriptor its parent left without
// close-on-exec: a test runner's fd 3, the write end of the pipe behind a
// shell's out=$(docker-machine start m). Go opens its own descriptors with
// O_CLOEXEC, and os/exec gives a child only its stdin, stdout, stderr and
// ExtraFiles, but it does not close what was inherited: such descriptors
// pass on to every child. A child that outlives the command — the
// daemonized qemu of a VM, an OpenSSH control master kept by
// ControlPersist, a plugin server — then holds them after docker-machine
// has exited, and a caller waiting for EOF on that pipe waits forever.
//
// CloseInheritedOnExec marks every descriptor above 2 close-on-exec. The
// running process keeps all of them: the flag only takes effect at exec,
// and the Go runtime sets it on everything it opens anyway. Descriptors
// handed to a child on purpose still arrive: the child side of fork
// dup2s exec.Cmd's stdio and ExtraFiles onto their numbers (dup2 clears
// the flag on the copy, and os/exec clears it explicitly for a file that
// already has its target number).
package procutil

import (
	"sync"
)

var (
	once    sync.Once
	onceErr error
)

// CloseInheritedOnExec marks every open descriptor above 2 close-on-exec,
// so that no child started afterwards inherits what this process
// inherited. It does the work once per process (descriptors are
// inherited only at start; everything Go opens later is close-on-exec
// already) and returns the same result on every call, so callers may
// invoke it before each long-lived child. An error means some descriptor
// could not be marked; the others are marked anyway.
//
// On Linux it is one close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) call
// (Linux 5.11); older kernels fall back to setting FD_CLOEXEC with
// fcntl on each descriptor listed in /proc/self/fd. Other Unix systems
// list /dev/fd. On systems without either it does nothing.
func CloseInheritedOnExec() error {
	once.Do(func() { onceErr = markInherited() })
	return onceErr
}
