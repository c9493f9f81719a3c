package e2e_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// TestUpgradeDistributionDocker upgrades a machine created with the
// default install method on a host whose Docker is Debian's docker.io
// (the kit's docker flavour; the host reaches deb.debian.org through the
// kit's NAT, get.docker.com it cannot reach): upgrade must go through apt
// for the package that owns dockerd, restart Docker, and leave it working
// over TLS.
func TestUpgradeDistributionDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	requireDockerCLI(t)
	h := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
	s := newStore(t)
	s.createGeneric("up", h) // default --engine-install-method: script

	// Record what upgrade runs: apt-get, and the tools the install-script
	// path downloads with, through wrappers first on root's PATH.
	_, err := h.Run(`set -e
for tool in apt-get curl wget; do
	cat > /usr/local/sbin/$tool <<EOF
#!/bin/sh
echo "$tool \$*" >> /var/log/e2e-upgrade.log
for real in /usr/bin/$tool /bin/$tool; do [ -x "\$real" ] && exec "\$real" "\$@"; done
echo "$tool: not installed" >&2; exit 127
EOF
	chmod 755 /usr/local/sbin/$tool
done
: > /var/log/e2e-upgrade.log`)
	require.NoError(t, err)
	pidBefore, err := h.Run("pidof dockerd")
	require.NoError(t, err)

	r := s.dm("upgrade", "up")
	require.Equal(t, 0, r.Code, r.String())
	out := r.Stdout + r.Stderr
	assert.Contains(t, out, "Upgrading docker...")
	assert.Contains(t, out, "Restarting docker...")
	assert.Less(t, strings.Index(out, "Upgrading docker..."), strings.Index(out, "Restarting docker..."))

	ran, err := h.Run("cat /var/log/e2e-upgrade.log")
	require.NoError(t, err)
	t.Logf("upgrade ran:\n%s", ran)
	lines := strings.Split(strings.TrimSpace(ran), "\n")
	require.Len(t, lines, 2, "apt-get update, then apt-get install; nothing else")
	assert.Equal(t, "apt-get update -q", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "apt-get install -y "), lines[1])
	assert.True(t, strings.HasSuffix(lines[1], " --only-upgrade docker.io"), "only the package that owns dockerd and docker: %s", lines[1])
	assert.NotContains(t, ran, "curl")
	assert.NotContains(t, ran, "get.docker.com")

	// Still Debian's Docker, restarted with docker-machine's configuration.
	status, err := h.Run(`dpkg-query -W -f '${Status}\n' docker.io
for p in docker-ce docker-ce-cli; do
	dpkg-query -W -f '${Status}' $p 2>/dev/null | grep -q ' installed$' && echo "$p installed"
done; true`)
	require.NoError(t, err)
	assert.Equal(t, "install ok installed\n", status)
	pidAfter, err := h.Run("pidof dockerd")
	require.NoError(t, err)
	assert.NotEqual(t, pidBefore, pidAfter, "Docker was restarted")

	r = s.bash(`eval "$($DM env up)"; docker version --format '{{.Server.Version}}'`)
	require.Equal(t, 0, r.Code, r.String())
	assert.NotEmpty(t, strings.TrimSpace(r.Stdout))
	s.mustDM("rm", "-y", "up")
}
