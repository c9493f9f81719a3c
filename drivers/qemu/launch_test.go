package qemu

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
)

func TestSSHBanner(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"))
			c.Close()
		}
	}()
	assert.True(t, sshBanner(context.Background(), l.Addr().String(), time.Minute, time.Minute))

	// slirp accepts before the guest listens, and then says nothing: the
	// end of ctx ends the wait for the banner.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	assert.False(t, sshBanner(ctx, testutil.HangingListener(t), time.Minute, time.Minute))
	assert.Less(t, time.Since(t0), time.Minute)
}

// TestWaitForSSHHonoursContext: the boot wait of Create and Start returns
// when its context ends.
func TestWaitForSSHHonoursContext(t *testing.T) {
	d := fakeDriver(t)
	fakeVM(t, d)
	host, port, err := net.SplitHostPort(testutil.HangingListener(t))
	require.NoError(t, err)
	d.IPAddress = host
	d.SSHPort, err = net.LookupPort("tcp", port)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err = d.waitForSSH(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "waiting for the VM to boot")
	assert.Less(t, time.Since(t0), time.Duration(d.BootTimeout)*time.Second)
}
