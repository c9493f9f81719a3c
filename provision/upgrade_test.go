package provision

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUpgrade(t *testing.T) {
	provisioned := func(t *testing.T, fx, dockerd string, owners ...string) *testEnv {
		e := newEnv(t, fixture(t, fx))
		e.fake.dockerd = dockerd
		e.fake.dockerdPkgs = owners
		e.fake.docker = "/usr/bin/docker"
		e.fake.active = "inactive"
		_, err := e.run(OpProvision)
		require.NoError(t, err)
		return e
	}
	const aptUpgrade = "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --only-upgrade $pkgs\n"
	// upgradeScriptRan returns the one upgrade script the host received.
	upgradeScriptRan := func(t *testing.T, e *testEnv) string {
		t.Helper()
		up := e.fake.scriptsMatching(dockerdMarker)
		require.Len(t, up, 1)
		return up[0]
	}
	requirePackageUpgrade := func(t *testing.T, script string) {
		t.Helper()
		assert.Contains(t, script, "owner() { dpkg-query -S \"$1\" | cut -d: -f1; }\n")
		assert.Contains(t, script, aptUpgrade)
		assert.NotContains(t, script, "get.docker.com")
		assert.NotContains(t, script, "curl")
	}

	// The default method is script on Debian, but a dockerd of Debian's
	// docker.io (machine-os, a host that had it preinstalled) came from
	// the package manager: get.docker.com would swap it for docker-ce.
	for _, method := range []string{MethodPackage, "", MethodScript} {
		t.Run(fmt.Sprintf("method %q, dockerd from docker.io: upgrade the owning packages, restart", method), func(t *testing.T) {
			e := provisioned(t, "debian-12", "/usr/sbin/dockerd", "docker.io")
			e.h.HostOptions.EngineOptions.InstallMethod = method
			e.fake.installPath = "/usr/sbin/dockerd"
			res, err := e.run(OpUpgrade)
			require.NoError(t, err)
			assert.Equal(t, []string{"Detecting the provisioner...", "Upgrading docker...", "Restarting docker..."}, e.infoLines())
			requirePackageUpgrade(t, upgradeScriptRan(t, e))
			assert.Equal(t, 3, res.Commands, "the ownership came with the probe")
			assert.True(t, res.UpgradedDocker)
			assert.True(t, res.Restarted)
			assert.Empty(t, res.Written, "same dockerd: the drop-in is unchanged")
			assert.Equal(t, 1, e.fake.restarts)
			assert.Equal(t, []string{"connect", "detect", "upgrade", "docker-config", "tls-wait"}, phaseNames(res))
		})
	}

	t.Run("ubuntu, docker.io: package manager", func(t *testing.T) {
		e := provisioned(t, "ubuntu-24.04", "/usr/sbin/dockerd", "docker.io")
		e.fake.installPath = "/usr/sbin/dockerd"
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		requirePackageUpgrade(t, upgradeScriptRan(t, e))
	})

	t.Run("fedora, moby-engine: package manager", func(t *testing.T) {
		e := provisioned(t, "fedora-40", "/usr/bin/dockerd", "moby-engine")
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		up := upgradeScriptRan(t, e)
		assert.Contains(t, up, "dnf upgrade -y --refresh $pkgs\n")
		assert.NotContains(t, up, "get.docker.com")
	})

	t.Run("docker-ce from the install script: rerun the script", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/bin/dockerd", "docker-ce")
		res, err := e.run(OpUpgrade)
		require.NoError(t, err)
		assert.Equal(t, []string{"Detecting the provisioner...", "Upgrading docker...", "Restarting docker..."}, e.infoLines())
		up := upgradeScriptRan(t, e)
		assert.Contains(t, up, "curl -fsSL --show-error https://get.docker.com")
		assert.NotContains(t, up, "--only-upgrade")
		assert.True(t, res.UpgradedDocker)
		assert.Empty(t, res.Written, "same dockerd: the drop-in is unchanged")
	})

	t.Run("docker-ce with the package method: upgrade docker-ce's packages", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/bin/dockerd", "docker-ce")
		e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		requirePackageUpgrade(t, upgradeScriptRan(t, e))
	})

	t.Run("no owning package: rerun the script; a moved dockerd rewrites the drop-in", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/local/bin/dockerd")
		e.fake.installPath = "/usr/bin/dockerd"
		res, err := e.run(OpUpgrade)
		require.NoError(t, err)
		assert.Contains(t, upgradeScriptRan(t, e), "curl -fsSL --show-error https://get.docker.com")
		assert.Equal(t, []string{dropInPath}, res.Written)
		assert.Contains(t, string(e.fake.files[dropInPath]), "ExecStart=/usr/bin/dockerd ")
		assert.Equal(t, 1, e.fake.reloads)
	})

	t.Run("fedora package method", func(t *testing.T) {
		e := provisioned(t, "fedora-40", "/usr/bin/dockerd")
		e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		up := upgradeScriptRan(t, e)
		assert.Contains(t, up, "dnf upgrade -y --refresh $pkgs\n")
		assert.Contains(t, up, `rpm -qf --qf '%{NAME}\n' "$1"`)
	})

	t.Run("none refuses, whoever owns dockerd", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/sbin/dockerd", "docker.io")
		e.h.HostOptions.EngineOptions.InstallMethod = MethodNone
		res, err := e.run(OpUpgrade)
		require.ErrorIs(t, err, ErrUpgradeNotSupported)
		requireStage(t, err, "upgrade: check upgrade")
		assert.Equal(t, 1, res.Commands)
	})

	for _, fx := range []string{"boot2docker", "flatcar"} {
		t.Run(fx+" refuses", func(t *testing.T) {
			e := newEnv(t, fixture(t, fx))
			e.fake.dockerd = "/usr/bin/dockerd"
			res, err := e.run(OpUpgrade)
			require.ErrorIs(t, err, ErrUpgradeNotSupported)
			requireStage(t, err, "upgrade: check upgrade")
			assert.Equal(t, 1, res.Commands)
		})
	}

	t.Run("not installed", func(t *testing.T) {
		e := newEnv(t, fixture(t, "debian-12"))
		_, err := e.run(OpUpgrade)
		require.EqualError(t, err, `Error upgrading Docker: Docker is not installed on "m1"; run "docker-machine provision m1" to install it`)
		requireStage(t, err, "upgrade: check upgrade")
	})
}

func TestUpgradeMethod(t *testing.T) {
	for _, tc := range []struct {
		fx, configured string
		owners         []string
		want           string
	}{
		{"debian-12", "", nil, MethodScript},
		{"debian-12", "", []string{"docker-ce"}, MethodScript},
		{"debian-12", "", []string{"docker.io"}, MethodPackage},
		{"debian-12", MethodScript, []string{"docker.io"}, MethodPackage},
		{"debian-12", MethodPackage, []string{"docker-ce"}, MethodPackage},
		{"debian-12", MethodNone, []string{"docker.io"}, MethodNone},
		{"ubuntu-24.04", "", []string{"docker.io"}, MethodPackage},
		{"fedora-40", "", []string{"moby-engine"}, MethodPackage},
		{"fedora-40", "", []string{"docker-ce"}, MethodScript},
		{"rhel-9", "", []string{"docker-ce"}, MethodScript}, // no distribution package
		{"arch", "", nil, MethodPackage},                    // package by default
		{"arch", MethodScript, []string{"docker"}, MethodPackage},
	} {
		d := mustDetect(t, fixture(t, tc.fx))
		got, err := d.upgradeMethod(tc.configured, tc.owners)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s, method %q, owners %q", tc.fx, tc.configured, tc.owners)
	}
	_, err := mustDetect(t, fixture(t, "debian-12")).upgradeMethod("snap", []string{"docker.io"})
	assert.ErrorContains(t, err, `unknown engine install method "snap"`)
}
