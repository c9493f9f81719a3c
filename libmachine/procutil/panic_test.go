package procutil

import (
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
