// Package check decides whether a machine's Docker daemon answers the way
// `env` and `config` are about to tell the docker CLI to reach it: the URL
// from the driver, the certificates on disk, then one mutual TLS handshake
// with the daemon. It is the original's connection check, with the local
// certificate checks in front so a broken certificate gets a precise
// message without a network round trip.
package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/query"
)

// DefaultTimeout bounds the TCP connect and the TLS handshake together.
// The original waited up to 20 s for the connect alone; a client asking
// "is this machine up?" (GitLab Runner's `config`) wants its answer fast,
// and a loopback or LAN handshake takes milliseconds.
const DefaultTimeout = 5 * time.Second

// ErrSwarmNotStarted is the original's answer when the swarm port fails
// but the engine port validates.
var ErrSwarmNotStarted = errors.New("Connection to Swarm cannot be checked but the certs are valid. Maybe swarm is not started")

// CertError is a failed certificate check or handshake with the daemon at
// Host (host:port). Its first line is the original's text; the rest are
// hints.
type CertError struct {
	Host    string
	Machine string
	Err     error
}

func (e *CertError) Error() string {
	return fmt.Sprintf("There was an error validating certificates for host %q: %v\n"+
		"You can attempt to regenerate them using 'docker-machine regenerate-certs %s'.\n"+
		"Be advised that this will trigger a Docker daemon restart which might stop running containers.",
		e.Host, e.Err, e.Machine)
}

func (e *CertError) Unwrap() error { return e.Err }

// Options tune Connection.
type Options struct {
	// Swarm checks the swarm master's port instead of the engine's.
	Swarm bool
	// CertDir holds ca.pem, cert.pem and key.pem: the files the docker
	// CLI will use (DOCKER_CERT_PATH).
	CertDir string
	// Timeout bounds the handshake; 0 means DefaultTimeout.
	Timeout time.Duration
	// SessionFile, when set, keeps the daemon's TLS session ticket, so
	// the next check resumes the session (no signatures on either side,
	// no private key to parse) instead of a full handshake.
	SessionFile string
}

// Connection returns the URL the docker CLI should use for h once the
// daemon there completed a TLS handshake with the client certificate in
// o.CertDir and presented a server certificate for the URL's host that
// chains to the CA in o.CertDir.
func Connection(ctx context.Context, h *host.Host, o Options) (string, error) {
	engineURL, err := h.Driver.GetURL(ctx)
	if err != nil {
		return "", err
	}
	if engineURL == "" {
		return "", errors.New("the machine has no address yet; is it running?")
	}
	target := engineURL
	if o.Swarm {
		so := h.HostOptions.SwarmOptions
		if so == nil || !so.Master {
			return "", fmt.Errorf("%q is not a swarm master. The --swarm flag is intended for use with swarm masters", h.Name)
		}
		target = query.SwarmURL(engineURL, so.Host)
	}
	err = verify(ctx, h, target, o)
	if err == nil {
		return target, nil
	}
	if o.Swarm && verify(ctx, h, engineURL, o) == nil {
		return "", ErrSwarmNotStarted
	}
	return "", fmt.Errorf("Error checking and/or regenerating the certs: %w", err)
}

func verify(ctx context.Context, h *host.Host, rawURL string, o Options) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("Error parsing URL: %w", err)
	}
	addr := u.Host
	fail := func(err error) error { return &CertError{Host: addr, Machine: h.Name, Err: err} }
	m := cert.Material{
		CACert:     filepath.Join(o.CertDir, "ca.pem"),
		ClientCert: filepath.Join(o.CertDir, "cert.pem"),
		ClientKey:  filepath.Join(o.CertDir, "key.pem"),
	}
	if h.HostOptions.AuthOptions != nil {
		m.ServerCert = h.HostOptions.AuthOptions.ServerCertPath
	}
	var cache *cert.SessionCache
	if o.SessionFile != "" {
		cache = sessionCache(o.SessionFile, cert.DaemonAddr(u), m)
	}
	cfg, err := cert.ValidClientTLS(m, addr, time.Now(), cache != nil && cache.Has())
	if err != nil {
		return fail(err)
	}
	if cache != nil {
		cfg.ClientSessionCache = cache
	}
	if u.Scheme != "tcp" && u.Scheme != "https" || u.Hostname() == "" {
		return fail(fmt.Errorf("cannot check a TLS connection to %q: not a tcp://HOST:PORT URL", rawURL))
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := cert.Dial(ctx, cfg, u)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("no TLS handshake with %s within %s: %w", cert.DaemonAddr(u), timeout, err)
		}
		return fail(err)
	}
	defer conn.Close()
	resumed := conn.ConnectionState().DidResume
	if cache != nil && !resumed {
		// TLS 1.3 session tickets arrive after the handshake: read them
		// with the answer to a ping, briefly; the handshake already
		// decided the check.
		ping(conn, u.Host)
	}
	log.Debugf("timing: tls-check %s (resumed session: %t)", log.Duration(time.Since(start)), resumed)
	return nil
}

// sessionCache is the session file for this address and exactly this
// CA, client certificate and key.
func sessionCache(path, addr string, m cert.Material) *cert.SessionCache {
	var material [][]byte
	for _, f := range []string{m.CACert, m.ClientCert, m.ClientKey} {
		b, err := os.ReadFile(f)
		if err != nil {
			// The local check reports it.
			return nil
		}
		material = append(material, b)
	}
	return cert.NewSessionCache(path, addr, material...)
}

// pingTimeout bounds the wait for the ticket-carrying answer.
const pingTimeout = time.Second

func ping(conn *tls.Conn, host string) {
	conn.SetDeadline(time.Now().Add(pingTimeout))
	if _, err := io.WriteString(conn, "GET /_ping HTTP/1.1\r\nHost: "+host+"\r\nUser-Agent: docker-machine\r\nConnection: close\r\n\r\n"); err != nil {
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		log.Debugf("tls: no answer to /_ping from %s: %v", host, err)
		return
	}
	resp.Body.Close()
	log.Debugf("tls: GET /_ping on %s: %s", host, resp.Status)
}
