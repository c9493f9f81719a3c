package commands

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
)

func TestParseForward(t *testing.T) {
	for in, want := range map[string]drivers.Forward{
		"8080":                {GuestPort: 8080},
		"18080:80":            {HostPort: 18080, GuestPort: 80},
		"127.0.0.1:18080:80":  {HostIP: "127.0.0.1", HostPort: 18080, GuestPort: 80},
		"53/udp":              {Proto: "udp", GuestPort: 53},
		"0.0.0.0:5353:53/udp": {Proto: "udp", HostIP: "0.0.0.0", HostPort: 5353, GuestPort: 53},
		"65535:1/tcp":         {Proto: "tcp", HostPort: 65535, GuestPort: 1},
	} {
		got, err := parseForward(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, why := range map[string]string{
		"":           `guest port "" is not a port`,
		"0":          `guest port "0" is not a port`,
		"65536":      `guest port "65536" is not a port`,
		"x:80":       `host port "x" is not a port`,
		":80":        `host port "" is not a port`,
		"80/icmp":    "the protocol is tcp or udp",
		"a:1:2":      `host address "a" is not an IPv4 address`,
		"::1:1:2":    "too many colons",
		"1:2:3:4":    "too many colons",
		"80/tcp/udp": "the protocol is tcp or udp",
	} {
		_, err := parseForward(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), why, in)
		assert.Contains(t, err.Error(), "expected [[HOST_IP:]HOST_PORT:]GUEST_PORT[/udp]", in)
	}
	assert.Equal(t, "8080/tcp -> 127.0.0.5:8080", formatForward(drivers.Forward{Proto: "tcp", HostIP: "127.0.0.5", HostPort: 8080, GuestPort: 8080}))
}

func TestDescribeResize(t *testing.T) {
	assert.Equal(t, "4 CPUs (was 2), 1024 MB memory, 30000 MB disk (was 20000)",
		describeResize(drivers.Resources{CPUs: 2, MemoryMB: 1024, DiskMB: 20000}, drivers.Resources{CPUs: 4, MemoryMB: 1024, DiskMB: 30000}))
}
