package provision

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProvisionInstall covers, per distribution family, the install
// command of each method.
func TestProvisionInstall(t *testing.T) {
	tests := []struct {
		name, fixture, method string
		tools                 []string
		url                   string
		want                  []string // substrings of the install script
		notWant               []string
		err                   string
	}{
		{name: "debian default is the script, curl present", fixture: "debian-12", tools: []string{"curl"},
			want:    []string{"curl -fsSL --show-error https://get.docker.com > \"$f\"", "sh \"$f\""},
			notWant: []string{"apt-get"}},
		{name: "debian script installs curl only when neither curl nor wget exists", fixture: "debian-12", method: MethodScript,
			want: []string{
				"if ! ls /var/lib/apt/lists 2>/dev/null | grep -q _Packages; then apt-get update -q; fi\n",
				"DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 curl || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 curl; }\n",
				"curl -fsSL --show-error https://get.docker.com",
			}},
		{name: "debian script uses wget when curl is missing", fixture: "debian-12", method: MethodScript, tools: []string{"wget"},
			want: []string{"wget -qO- https://get.docker.com > \"$f\""}, notWant: []string{"apt-get", "curl"}},
		{name: "custom install URL is shell-quoted", fixture: "ubuntu-22.04", tools: []string{"curl"}, url: "https://example.com/i.sh?a=1&b='x'",
			want: []string{`curl -fsSL --show-error 'https://example.com/i.sh?a=1&b='\''x'\''' > "$f"`}},
		{name: "debian package: docker.io, update only when lists are missing or the install fails", fixture: "debian-12", method: MethodPackage,
			want: []string{
				"if ! ls /var/lib/apt/lists 2>/dev/null | grep -q _Packages; then apt-get update -q; fi\n",
				"DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 docker.io || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 docker.io; }\n",
			}, notWant: []string{"curl", "sudo"}},
		{name: "ubuntu package", fixture: "ubuntu-24.04", method: MethodPackage, want: []string{"apt-get install -y -o DPkg::Lock::Timeout=300 docker.io"}},
		{name: "fedora package: moby-engine", fixture: "fedora-40", method: MethodPackage,
			want: []string{"dnf install -y moby-engine || { dnf makecache -y --refresh && dnf install -y moby-engine; }\n"}},
		{name: "fedora script", fixture: "fedora-40", tools: []string{"curl"}, want: []string{"curl -fsSL --show-error https://get.docker.com"}},
		{name: "rhel package is refused", fixture: "rhel-9", method: MethodPackage,
			err: "Error running provisioning: redhat has no distribution Docker package; use --engine-install-method script (get.docker.com) instead"},
		{name: "rocky script", fixture: "rocky-9", tools: []string{"curl"}, want: []string{"curl -fsSL --show-error https://get.docker.com"}},
		{name: "centos 7 script installs curl with yum", fixture: "centos-7",
			want: []string{"yum install -y curl || { yum makecache -y && yum install -y curl; }\n"}},
		{name: "alma package is refused", fixture: "almalinux-9", method: MethodPackage, err: "almalinux has no distribution Docker package"},
		{name: "amazon linux 2 default: yum docker", fixture: "amzn-2", want: []string{"yum install -y docker || "}},
		{name: "amazon linux 2023 default: dnf docker", fixture: "amzn-2023", want: []string{"dnf install -y docker || "}},
		{name: "arch default: pacman docker", fixture: "arch",
			want: []string{
				"if ! ls /var/lib/pacman/sync/*.db >/dev/null 2>&1; then pacman -Sy --noconfirm --noprogressbar; fi\n",
				"pacman -S --noconfirm --needed --noprogressbar docker || ",
			}},
		{name: "openSUSE default: zypper docker", fixture: "opensuse-leap-15.5",
			want: []string{"zypper -n install docker || { zypper -n refresh && zypper -n install docker; }\n"}, notWant: []string{"SUSEConnect"}},
		{name: "SLES registers the containers module before refreshing", fixture: "sles-15",
			want: []string{"{ SUSEConnect -p sle-module-containers/15.5/$(uname -m) || true; } && zypper -n refresh && zypper -n install docker"}},
		{name: "none refuses", fixture: "debian-12", method: MethodNone,
			err: `Error running provisioning: Docker is not installed on "m1" and the engine install method is "none": install Docker on the host first, or use --engine-install-method script or package`},
		{name: "flatcar never installs", fixture: "flatcar", method: MethodScript,
			err: "Error running provisioning: Docker is not installed, and on coreOS it is part of the OS image: docker-machine does not install it"},
		{name: "boot2docker never installs", fixture: "boot2docker",
			err: "Docker is not installed, and on boot2docker it is part of the OS image"},
		{name: "unknown method", fixture: "debian-12", method: "brew", err: `unknown engine install method "brew"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fixture(t, tt.fixture))
			e.fake.tools = append([]string{"systemctl", "base64", "sha256sum"}, tt.tools...)
			eo := e.h.HostOptions.EngineOptions
			eo.InstallMethod = tt.method
			if tt.url != "" {
				eo.InstallURL = tt.url
			}
			eo.Env = []string{"HTTP_PROXY=http://proxy:3128", "OTHER=x"}
			res, err := e.run(OpProvision)
			if tt.err != "" {
				requireStage(t, err, "provision: install docker")
				assert.Contains(t, err.Error(), tt.err)
				assert.Equal(t, 1, res.Commands, "nothing is attempted after the probe")
				return
			}
			require.NoError(t, err)
			installs := e.fake.scriptsMatching(dockerdMarker)
			require.Len(t, installs, 1)
			s := installs[0]
			for _, w := range tt.want {
				assert.Contains(t, s, w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, s, w)
			}
			assert.Contains(t, s, "export HTTP_PROXY=http://proxy:3128\n", "the engine proxy is used for downloads")
			assert.NotContains(t, s, "OTHER=x")
			assert.Contains(t, e.infoLines(), "Installing Docker...")
			assert.True(t, res.InstalledDocker)
			assert.Equal(t, 3, res.Commands, "probe, install, configure")
			assert.Contains(t, string(e.fake.files[dropInPath]), "ExecStart=/usr/bin/dockerd -H")
			assert.Equal(t, []string{"connect", "detect", "install", "certs", "docker-config", "tls-wait"}, phaseNames(res))
		})
	}
}

func TestProvisionInstallFailure(t *testing.T) {
	e := newEnv(t, fixture(t, "debian-12"))
	e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage
	e.fake.failInstall = "E: Unable to locate package docker.io"
	_, err := e.run(OpProvision)
	requireStage(t, err, "provision: install docker")
	assert.Equal(t, "Error running provisioning: error installing docker: ssh command error:\ncommand : install docker (package)\nerr     : Process exited with status 100\noutput  : E: Unable to locate package docker.io", err.Error())
}
