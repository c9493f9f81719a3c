package fakecloud

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaultsAreUsedUp(t *testing.T) {
	var fs Faults
	fs.Add(Fault{Action: "A", Status: 500})
	fs.Add(Fault{Action: "B", Status: 429, Times: 2})
	fs.Add(Fault{Status: 503, Times: -1})
	assert.Equal(t, 500, fs.Take("A").Status)
	assert.Equal(t, 503, fs.Take("A").Status, "the catch-all answers once A's fault is used up")
	assert.Equal(t, 429, fs.Take("B").Status)
	assert.Equal(t, 429, fs.Take("B").Status)
	assert.Equal(t, 503, fs.Take("B").Status)
	assert.Equal(t, 1, fs.Pending())
	fs.Clear()
	assert.Nil(t, fs.Take("A"))
}

func TestJournal(t *testing.T) {
	var j Journal
	j.Add(Entry{Action: "X"})
	j.Add(Entry{Action: "Y"})
	j.Add(Entry{Action: "X"})
	assert.Equal(t, []string{"X", "Y", "X"}, Actions(j.Entries()))
	assert.Equal(t, 2, Count(j.Entries(), "X"))
	assert.Equal(t, []string{"X"}, Actions(j.Since(2)))
	assert.Equal(t, 3, j.Entries()[2].Seq)
}

// TestFleetLifecycle: the state machine on loopback addresses, the
// refusals of operations in the wrong state, Quiesce and the leak list.
func TestFleetLifecycle(t *testing.T) {
	f := &Fleet{}
	t.Cleanup(f.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vm := f.Launch("i-1", BootSpec{Name: "a"}, true)
	require.NoError(t, f.Quiesce(ctx))
	st := vm.State()
	assert.Equal(t, Running, st.Power)
	assert.True(t, strings.HasPrefix(st.PublicIP, "127.100."), st.PublicIP)
	assert.True(t, strings.HasPrefix(st.PrivateIP, "127.101."), st.PrivateIP)
	assert.ErrorIs(t, f.Start(vm), ErrBusy, "start of a running instance")
	require.NoError(t, f.Stop(vm, false))
	require.NoError(t, f.Quiesce(ctx))
	assert.Equal(t, Stopped, vm.State().Power)
	require.NoError(t, f.Start(vm))
	require.NoError(t, f.Quiesce(ctx))
	require.NoError(t, f.Reboot(vm))
	require.NoError(t, f.Quiesce(ctx))
	assert.Equal(t, Running, vm.State().Power)
	assert.Equal(t, []string{"i-1 (running)"}, f.Leaks())

	hang := f.Launch("i-2", BootSpec{Hang: true}, false)
	require.NoError(t, f.Quiesce(ctx), "an instance that never boots does not hold Quiesce")
	assert.Equal(t, Pending, hang.State().Power)
	assert.Empty(t, hang.State().PublicIP)
	assert.ErrorIs(t, f.Stop(hang, true), ErrBusy, "stop of an instance still booting")
	assert.True(t, f.Terminate(hang))
	assert.True(t, f.Terminate(vm))
	assert.False(t, f.Terminate(vm), "terminated already")
	require.NoError(t, f.Quiesce(ctx))
	assert.Empty(t, f.Leaks())

	pr := &Fleet{PrivateReachable: true}
	t.Cleanup(pr.Close)
	v := pr.Launch("i-3", BootSpec{}, true)
	require.NoError(t, pr.Quiesce(ctx))
	assert.NotEmpty(t, v.State().PrivateIP)
}
