package procutil

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGuardHandsThePanicOnAndRepanics(t *testing.T) {
	var got any
	var frames int
	SetPanicHook(func(v any, stack []uintptr) { got, frames = v, len(stack) })
	defer SetPanicHook(nil)
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		defer Guard()
		panic("boom")
	}()
	assert.Equal(t, "boom", <-done, "the panic goes on after the hook")
	assert.Equal(t, "boom", got)
	assert.Positive(t, frames)

	// No panic: nothing happens.
	got = nil
	func() { defer Guard() }()
	assert.Nil(t, got)
}

func TestGuardDoneIsNotDoneWhenThePanicGoesOn(t *testing.T) {
	var got any
	var top string
	SetPanicHook(func(v any, stack []uintptr) {
		got = v
		f, _ := runtime.CallersFrames(stack).Next()
		top = f.Function
	})
	defer SetPanicHook(nil)
	var doneCalls int
	result := make(chan any, 1)
	go func() {
		defer func() { result <- recover() }()
		defer GuardDone(func() { doneCalls++ })
		panic("boom")
	}()
	assert.Equal(t, "boom", <-result, "the panic goes on after the hook")
	assert.Equal(t, "boom", got)
	assert.Zero(t, doneCalls, "a waiter must not go on while the panic ends the process")
	// The stack starts where the panic was raised, as Guard's does.
	assert.Equal(t, "runtime.gopanic", top)

	// No panic: done, once.
	func() { defer GuardDone(func() { doneCalls++ }) }()
	assert.Equal(t, 1, doneCalls)
}
