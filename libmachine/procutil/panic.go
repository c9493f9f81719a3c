package procutil

import (
	"runtime"
	"sync/atomic"
)

// PanicHook is called with a panic's value and the stack of the
// goroutine that panicked (program counters), before the panic goes on.
type PanicHook func(v any, stack []uintptr)

var panicHook atomic.Pointer[PanicHook]

// SetPanicHook installs the hook Guard calls (the command layer's crash
// report); nil removes it.
func SetPanicHook(h PanicHook) {
	if h == nil {
		panicHook.Store(nil)
		return
	}
	panicHook.Store(&h)
}

// Guard is deferred first in every goroutine the libraries start for a
// command (the query pool, the store's loaders): a panic there is handed
// to the hook, then goes on and ends the process as before. Without it, a
// panic off the command's own goroutine would end the process unseen by
// the command layer.
func Guard() {
	if v := recover(); v != nil {
		repanic(v)
	}
}

// GuardDone is Guard for a goroutine a sync.WaitGroup waits for, deferred
// in place of both `defer wg.Done()` and `defer Guard()`: done runs when
// the goroutine returns, never when it panics. With wg.Done deferred, the
// waiter would go on while the panic is reported, return, and the process
// could exit with the command's status (0) before the panic ends it with 2.
func GuardDone(done func()) {
	if v := recover(); v != nil {
		repanic(v)
	}
	done()
}

// repanic hands a recovered panic to the hook and raises it again.
func repanic(v any) {
	if h := panicHook.Load(); h != nil {
		pcs := make([]uintptr, 64)
		(*h)(v, pcs[:runtime.Callers(3, pcs)])
	}
	panic(v)
}
