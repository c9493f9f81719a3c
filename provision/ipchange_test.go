package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// dhcpDriver is a driver whose machine may get another address each
// time it starts, as a VM behind DHCP does (the original's most reported
// bug, #531): Start moves it to the next lease.
type dhcpDriver struct {
	*fakeDriver
	leases  []string
	next    int
	running bool
	port    int
}

func (d *dhcpDriver) GetURL(context.Context) (string, error) {
	return "tcp://" + net.JoinHostPort(d.IPAddress, fmt.Sprint(d.port)), nil
}

func (d *dhcpDriver) GetState(context.Context) (state.State, error) {
	if d.running {
		return state.Running, nil
	}
	return state.Stopped, nil
}

func (d *dhcpDriver) Stop(context.Context) error { d.running = false; return nil }

func (d *dhcpDriver) Start(context.Context) error {
	if d.running {
		return errors.New("already running")
	}
	if d.next >= len(d.leases) {
		return errors.New("no lease left")
	}
	d.IPAddress = d.leases[d.next]
	d.next++
	d.running = true
	return nil
}

// forward relays TCP connections from ip:port to target and counts
// them: the fake daemon listens on 127.0.0.1 only, the machine's new
// address is another loopback address (same port, as Docker's stays).
func forward(t *testing.T, ip string, port int, target string) *atomic.Int32 {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	conns := &atomic.Int32{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, u)
			}()
		}
	}()
	return conns
}

func certIPs(t *testing.T, path string) []string {
	t.Helper()
	c, err := cert.ReadCert(path)
	require.NoError(t, err)
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	return ips
}

// TestStartWithNewAddressRenewsServerCert runs what start does once the
// driver has started the machine (commands: start → waitReady →
// Runner.Provision) for a machine whose address changed between stop and
// start: the server certificate is made anew for the new address (and no
// longer names the old one), uploaded, Docker restarted, and the wait
// for Docker verifies the new certificate at the new address. A start
// that keeps the address changes nothing.
func TestStartWithNewAddressRenewsServerCert(t *testing.T) {
	e := debianWithDocker(t)
	fakeAddr := e.fake.ln.Addr().String()
	relayed := forward(t, "127.0.0.2", e.fake.port, fakeAddr)
	d := &dhcpDriver{fakeDriver: e.driver, leases: []string{"127.0.0.1", "127.0.0.2", "127.0.0.2"}, port: e.fake.port}
	e.h.Driver = d
	ao := e.h.HostOptions.AuthOptions

	require.NoError(t, d.Start(context.Background()))
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1"}, certIPs(t, ao.ServerCertPath))
	first, err := os.ReadFile(ao.ServerCertPath)
	require.NoError(t, err)

	// Stop; the next start gets another address.
	require.NoError(t, d.Stop(context.Background()))
	require.NoError(t, d.Start(context.Background()))
	require.Equal(t, "127.0.0.2", d.IPAddress)
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.True(t, res.NewServerCert, "the old certificate names the old address")
	assert.Equal(t, []string{"127.0.0.2"}, certIPs(t, ao.ServerCertPath), "the new address, not the old one")
	renewed, err := os.ReadFile(ao.ServerCertPath)
	require.NoError(t, err)
	assert.NotEqual(t, string(first), string(renewed))
	assert.Equal(t, string(renewed), string(e.fake.files["/etc/docker/server.pem"]), "the daemon got the new certificate")
	assert.ElementsMatch(t, []string{"/etc/docker/server.pem", "/etc/docker/server-key.pem"}, res.Written, "only the certificate and key changed")
	assert.Equal(t, 1, e.fake.restarts)
	assert.True(t, res.Restarted)
	assert.Contains(t, phaseNames(res), "tls-wait")
	assert.NotZero(t, relayed.Load(), "the wait for Docker dialed the new address")
	assert.False(t, res.InstalledDocker)

	// The same address again: the renewed certificate is kept.
	require.NoError(t, d.Stop(context.Background()))
	require.NoError(t, d.Start(context.Background()))
	res, err = e.run(OpProvision)
	require.NoError(t, err)
	assert.False(t, res.NewServerCert)
	assert.False(t, res.Restarted)
	again, err := os.ReadFile(ao.ServerCertPath)
	require.NoError(t, err)
	assert.Equal(t, string(renewed), string(again))
}
