package commands

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two machines on different SSH ports: each port is in its end's
// scp:// URI and no -o Port= overrides them (it made scp dial the first
// machine's port for both). On one port the option names it.
func TestSCPArgsPorts(t *testing.T) {
	for _, c := range []struct {
		ports      [2]int
		wantPort   string
		src, dst   string
		noPortOpts bool
	}{
		{[2]int{22, 2222}, "", "scp://docker@127.0.0.1:22//tmp/a", "scp://docker@127.0.0.2:2222/b", true},
		{[2]int{2222, 2222}, "Port=2222", "docker@127.0.0.1:/tmp/a", "docker@127.0.0.2:b", false},
	} {
		src, dst := parseLocation("m1:/tmp/a"), parseLocation("m2:b")
		src.target = fuzzTarget(t, src, "127.0.0.1", c.ports[0])
		dst.target = fuzzTarget(t, dst, "127.0.0.2", c.ports[1])
		argv, cleanup, err := scpArgs(src, dst, false, true)
		require.NoError(t, err)
		cleanup()
		opts := strings.Join(argv[:len(argv)-3], " ")
		if c.noPortOpts {
			assert.NotContains(t, opts, "Port=", "%v", c.ports)
		} else {
			assert.True(t, slices.Contains(argv, c.wantPort), "%v: %q", c.ports, argv)
		}
		assert.Equal(t, []string{"--", c.src, c.dst}, argv[len(argv)-3:], "%v", c.ports)
		assert.Contains(t, argv, "-3")
	}
}
