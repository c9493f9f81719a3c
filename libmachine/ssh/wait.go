package ssh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// Backoff bounds of WaitForSSH.
const (
	waitBackoffStart = 100 * time.Millisecond
	waitBackoffMax   = 2 * time.Second
)

// WaitForSSH polls t until an SSH connection authenticates and `exit 0`
// succeeds, with exponential backoff (100ms doubling to 2s), for at most
// timeout (timeout <= 0: bounded by ctx only). It always uses the native
// dialer, whatever client the caller will use, and honours
// t.HostKeyPolicy: in HostKeyRecord mode the first successful handshake
// pins the key. Host key refusals are returned at once (they do not heal
// by waiting). On timeout the error wraps the last real SSH error:
//
//	timed out after 30s waiting for SSH on 127.0.0.5:22: <last error>
func WaitForSSH(ctx context.Context, t Target, timeout time.Duration) error {
	signers, err := loadSigners(t.KeyPaths)
	if err != nil {
		return err
	}
	return poll(ctx, t, timeout, func(ctx context.Context) error { return probeSSH(ctx, t, signers) })
}

// WaitForClient is WaitForSSH through an existing client: it polls
// c.Output("exit 0") until it succeeds, so the connection that answers is
// the one the caller goes on using (one connection per command
// invocation). t only names the target in errors.
func WaitForClient(ctx context.Context, c Client, t Target, timeout time.Duration) error {
	return poll(ctx, t, timeout, func(context.Context) error {
		_, err := c.Output("exit 0")
		return err
	})
}

// poll runs probe with exponential backoff until it succeeds, a host key
// is refused, or the time is up.
func poll(ctx context.Context, t Target, timeout time.Duration, probe func(context.Context) error) error {
	parent := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	backoff := waitBackoffStart
	var last error
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrHostKeyChanged) || errors.Is(err, ErrHostKeyUnknown) ||
			errors.Is(err, ErrNoKnownHostsFile) {
			return err
		}
		// An attempt cut short by the deadline or cancellation says less
		// than the failure before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return waitError(parent, ctx, t, timeout, last)
		case <-timer.C:
		}
		backoff *= 2
		if backoff > waitBackoffMax {
			backoff = waitBackoffMax
		}
		if ctx.Err() != nil {
			return waitError(parent, ctx, t, timeout, last)
		}
	}
}

func waitError(parent, ctx context.Context, t Target, timeout time.Duration, last error) error {
	// Our own timeout expired (not the caller's context): report it with
	// the last real SSH failure.
	if timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("timed out after %s waiting for SSH on %s: %w", timeout, t.addr(), last)
	}
	return fmt.Errorf("waiting for SSH on %s: %w (last error: %v)", t.addr(), ctx.Err(), last)
}

// probeSSH dials once and runs `exit 0`.
func probeSSH(ctx context.Context, t Target, signers []ssh.Signer) error {
	conn, err := dialNative(ctx, t, signers)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s, err := conn.NewSession()
	if err != nil {
		return fmt.Errorf("opening session: %w", err)
	}
	defer s.Close()
	if err := s.Run("exit 0"); err != nil {
		return fmt.Errorf("running \"exit 0\": %w", err)
	}
	return nil
}
