package cert

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"strconv"

	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// DaemonAddr is the host:port a Docker URL dials (tcp://IP[:PORT]).
func DaemonAddr(u *url.URL) string {
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), strconv.Itoa(engine.DefaultPort))
	}
	return u.Host
}

// Dial connects to the daemon at u and completes the mutual TLS
// handshake: the server must present a certificate for the URL's host
// (so IP SANs matter) that chains to cfg's roots, and cfg's client
// certificate is offered. The context bounds the dial and the handshake;
// its deadline stays on the connection.
func Dial(ctx context.Context, cfg *tls.Config, u *url.URL) (*tls.Conn, error) {
	var d net.Dialer
	addr := DaemonAddr(u)
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	conf := cfg.Clone()
	conf.ServerName = u.Hostname()
	if conf.CurvePreferences == nil {
		// Classic key exchange only: these connections carry a liveness
		// check or a version query, and the post-quantum hybrid's key
		// generation would be most of the client's handshake work.
		conf.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		log.Debugf("tls: handshake with %s failed: %v", addr, err)
		return nil, err
	}
	log.Debugf("tls: handshake with %s ok (%s)", addr, tls.VersionName(conn.ConnectionState().Version))
	return conn, nil
}
