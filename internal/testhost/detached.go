package testhost

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
)

// Detached is a testing.TB for driving the kit outside a test: fake
// clouds and the fake VirtualBox start hosts from their own goroutines,
// or from a process that is not a test at all. Fatal and Skip end the
// goroutine of Do with an error instead of a test; the cleanups run at
// Close. Methods the kit does not use are not provided (the embedded nil
// interface makes them panic).
type Detached struct {
	testing.TB
	name string
	logf func(string, ...any)

	mu       sync.Mutex
	cleanups []func()
	err      error
	tmp      []string
}

// NewDetached returns a Detached named name whose logs go to logf
// (nil: dropped).
func NewDetached(name string, logf func(string, ...any)) *Detached {
	return &Detached{name: name, logf: logf}
}

// Do runs fn in a goroutine of its own and returns the failures it
// reported.
func (t *Detached) Do(fn func()) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Close runs the cleanups, newest first, then removes the temporary
// directories.
func (t *Detached) Close() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			break
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		f()
	}
	dirs := t.tmp
	t.tmp = nil
	t.mu.Unlock()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

func (t *Detached) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = errors.Join(t.err, err)
}

func (t *Detached) Helper()      {}
func (t *Detached) Name() string { return t.name }
func (t *Detached) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *Detached) TempDir() string {
	d, err := os.MkdirTemp("", t.name)
	if err != nil {
		t.Fatal(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tmp = append(t.tmp, d)
	return d
}
func (t *Detached) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err != nil
}
func (t *Detached) Logf(format string, args ...any) {
	if t.logf != nil {
		t.logf(format, args...)
	}
}
func (t *Detached) Log(args ...any)                   { t.Logf("%s", fmt.Sprint(args...)) }
func (t *Detached) Errorf(format string, args ...any) { t.fail(fmt.Errorf(format, args...)) }
func (t *Detached) Error(args ...any)                 { t.fail(errors.New(fmt.Sprint(args...))) }
func (t *Detached) Fail()                             { t.fail(errors.New("failed")) }
func (t *Detached) FailNow()                          { t.Fail(); runtime.Goexit() }
func (t *Detached) Fatal(args ...any)                 { t.Error(args...); runtime.Goexit() }
func (t *Detached) Fatalf(format string, args ...any) { t.Errorf(format, args...); runtime.Goexit() }
func (t *Detached) Skip(args ...any)                  { t.Error(args...); runtime.Goexit() }
func (t *Detached) Skipf(format string, args ...any)  { t.Errorf(format, args...); runtime.Goexit() }
func (t *Detached) SkipNow()                          { t.Fail(); runtime.Goexit() }
func (t *Detached) Skipped() bool                     { return false }
