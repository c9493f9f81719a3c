package provision

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/httplog"
)

// clientTLS is the client side of the machine's mutual TLS: the CA as
// the only root, the client certificate, and the dialed host as the name
// to verify (so IP SANs matter, as for the docker CLI).
func clientTLS(ao *auth.Options, host string) (*tls.Config, error) {
	cfg, err := cert.ClientTLS(ao)
	if err != nil {
		return nil, err
	}
	cfg.ServerName = host
	return cfg, nil
}

// pingDocker makes one attempt: TLS handshake (server certificate
// verified against the CA) and GET /_ping, which also proves the daemon
// accepted the client certificate (TLS 1.3 reports that only after the
// handshake).
func pingDocker(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{
		TLSClientConfig:   cfg,
		DisableKeepAlives: true,
		Proxy:             nil, // like the docker CLI for tcp:// hosts: dial directly
		DialContext:       (&net.Dialer{}).DialContext,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: httplog.Transport(tr)}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // drop the `Get "https://...":` prefix
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_ping: %s", resp.Status)
	}
	return nil
}

// waitDocker pings until the daemon answers over TLS or timeout passes,
// with backoff from 100 ms to 2 s. It returns the last error.
func waitDocker(ctx context.Context, addr string, cfg *tls.Config, timeout, attempt time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 100 * time.Millisecond
	var last error
	for {
		err := pingDocker(ctx, addr, cfg, attempt)
		if err == nil {
			return nil
		}
		// An attempt cut short by the overall deadline says less than
		// the one before it (connection refused, bad certificate...).
		if last == nil || ctx.Err() == nil {
			last = err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			return last
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}
