package none

import (
	"context"
	"testing"

	"github.com/docker-machine-ng/machine/libmachine/drivers"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func urlOnly(u string) drivers.Options { return drivers.Options{"url": u} }

// Every non-empty --url is accepted, as by the original; IPAddress is
// what the original stored (host:port of the URL), which Ansible reads
// from inspect.
func TestURLValues(t *testing.T) {
	for _, tt := range []struct{ url, ipAddress, ip string }{
		{"tcp://192.168.1.10:2376", "192.168.1.10:2376", "192.168.1.10"},
		{"tcp://[fd00::5]:2376", "[fd00::5]:2376", "fd00::5"},
		{"tcp://docker.example.com:2376", "docker.example.com:2376", "docker.example.com"},
		{"tcp://10.0.0.1", "10.0.0.1", "10.0.0.1"},
		{"unix:///var/run/docker.sock", "", ""},
		{"10.0.0.5:2376", "10.0.0.5:2376", "10.0.0.5"},
		{"myhost:2376", "myhost:2376", "myhost"},
		{"url1", "", ""},
		{"none", "", ""},
	} {
		d := New("m", "/store")
		require.NoError(t, d.SetConfigFromFlags(urlOnly(tt.url)), tt.url)
		assert.Equal(t, tt.url, d.URL)
		assert.Equal(t, tt.ipAddress, d.IPAddress, tt.url)
		ip, err := d.GetIP(context.Background())
		require.NoError(t, err)
		assert.Equal(t, tt.ip, ip, tt.url)
		u, err := d.GetURL(context.Background())
		require.NoError(t, err)
		assert.Equal(t, tt.url, u)
	}
	err := New("m", "/store").SetConfigFromFlags(urlOnly(""))
	assert.EqualError(t, err, "--url option is required when no driver is selected")
}

// A machine recorded without IPAddress (by an earlier version of ours)
// still answers ip from its URL.
func TestIPWithoutRecordedAddress(t *testing.T) {
	d := New("m", "/store")
	d.URL = "tcp://127.0.0.1:2376"
	ip, err := d.GetIP(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", ip)
}
