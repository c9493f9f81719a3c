package provision

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "os-release", name))
	require.NoError(t, err)
	return string(b)
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name string
		text string
		want map[string]string
	}{
		{"bare", "ID=debian\n", map[string]string{"ID": "debian"}},
		{"double quotes", `NAME="Debian GNU/Linux"`, map[string]string{"NAME": "Debian GNU/Linux"}},
		{"single quotes are stripped too", `OSTREE_VERSION='40.2024'`, map[string]string{"OSTREE_VERSION": "40.2024"}},
		{"single quotes keep backslashes and dollars", `X='a\b$c'`, map[string]string{"X": `a\b$c`}},
		{"escapes inside double quotes", `PRETTY_NAME="Rocky \"Blue\" \\ \$HOME \` + "`x`" + `"`, map[string]string{"PRETTY_NAME": "Rocky \"Blue\" \\ $HOME `x`"}},
		{"other backslashes inside double quotes stay", `X="a\nb"`, map[string]string{"X": `a\nb`}},
		{"= in a value (the original dropped the line)", `Q="a=b=c"`, map[string]string{"Q": "a=b=c"}},
		{"= in a bare value", "X=a=b", map[string]string{"X": "a=b"}},
		{"comments and blank lines", "# comment\n\n   \nID=arch\n  # indented comment\nBUILD_ID=rolling\n", map[string]string{"ID": "arch", "BUILD_ID": "rolling"}},
		{"CRLF line ends", "ID=ubuntu\r\nVERSION_ID=\"24.04\"\r\n", map[string]string{"ID": "ubuntu", "VERSION_ID": "24.04"}},
		{"empty value", "VERSION_CODENAME=\"\"\nX=", map[string]string{"VERSION_CODENAME": "", "X": ""}},
		{"concatenated quoting", `X="a"'b'c`, map[string]string{"X": "abc"}},
		{"unterminated quote runs to the end", `X="abc`, map[string]string{"X": "abc"}},
		{"trailing blanks dropped, inner kept", "NAME=Foo Bar   ", map[string]string{"NAME": "Foo Bar"}},
		{"bare backslash escape", `X=a\ b`, map[string]string{"X": "a b"}},
		{"non-assignments skipped", "garbage line\n1X=no\n=no\nID=ok", map[string]string{"ID": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ParseOSRelease(tt.text)
			for k, v := range tt.want {
				assert.Equal(t, v, o.Fields[k], k)
			}
			if tt.name == "non-assignments skipped" {
				assert.Len(t, o.Fields, 1)
			}
		})
	}
}

func TestParseOSReleaseFields(t *testing.T) {
	o := ParseOSRelease(fixture(t, "fedora-coreos-40"))
	assert.Equal(t, "fedora", o.ID)
	assert.Equal(t, "", o.IDLike)
	assert.Equal(t, "40", o.VersionID)
	assert.Equal(t, "Fedora Linux", o.Name)
	assert.Equal(t, "Fedora CoreOS 40.20240416.3.1", o.PrettyName)
	assert.Equal(t, "40.20240416.3.1 (CoreOS)", o.Version)
	assert.Equal(t, "coreos", o.VariantID)
	assert.Equal(t, "40.20240416.3.1", o.Fields["OSTREE_VERSION"])

	o = ParseOSRelease(fixture(t, "amzn-2"))
	assert.Equal(t, []string{"centos", "rhel", "fedora"}, o.Like())
}

// TestDetectFixtures detects every supported distribution from its real
// os-release text.
func TestDetectFixtures(t *testing.T) {
	tests := []struct {
		fixture, name, pm, pkg, method string
		optionsDir                     string
	}{
		{"debian-12", "debian", "apt", "docker.io", MethodScript, "/etc/docker"},
		{"ubuntu-22.04", "ubuntu(systemd)", "apt", "docker.io", MethodScript, "/etc/docker"},
		{"ubuntu-24.04", "ubuntu(systemd)", "apt", "docker.io", MethodScript, "/etc/docker"},
		{"rhel-9", "redhat", "dnf", "", MethodScript, "/etc/docker"},
		{"centos-7", "centos", "yum", "", MethodScript, "/etc/docker"},
		{"rocky-9", "rocky", "dnf", "", MethodScript, "/etc/docker"},
		{"almalinux-9", "almalinux", "dnf", "", MethodScript, "/etc/docker"},
		{"fedora-40", "fedora", "dnf", "moby-engine", MethodScript, "/etc/docker"},
		{"amzn-2", "amzn", "yum", "docker", MethodPackage, "/etc/docker"},
		{"amzn-2023", "amzn", "dnf", "docker", MethodPackage, "/etc/docker"},
		{"arch", "arch", "pacman", "docker", MethodPackage, "/etc/docker"},
		{"opensuse-leap-15.5", "SUSE", "zypper", "docker", MethodPackage, "/etc/docker"},
		{"sles-15", "SUSE", "zypper", "docker", MethodPackage, "/etc/docker"},
		{"flatcar", "coreOS", "", "", MethodNone, "/etc/docker"},
		{"fedora-coreos-40", "coreOS", "", "", MethodNone, "/etc/docker"},
		{"boot2docker", "boot2docker", "", "", MethodNone, "/var/lib/boot2docker"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			d, err := Detect(ParseOSRelease(fixture(t, tt.fixture)))
			require.NoError(t, err)
			assert.Equal(t, tt.name, d.String())
			assert.Equal(t, tt.pm, d.PackageManager())
			assert.Equal(t, tt.pkg, d.DockerPackage())
			m, err := d.installMethod("")
			require.NoError(t, err)
			assert.Equal(t, tt.method, m, "default install method")
			assert.Equal(t, tt.optionsDir, d.OptionsDir())
		})
	}
}

// TestDetectOrder pins the fixed rule order where rules overlap, and the
// ID_LIKE fallback.
func TestDetectOrder(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"Fedora CoreOS is coreOS, not fedora", "ID=fedora\nVARIANT_ID=coreos\n", "coreOS"},
		{"RHEL CoreOS is coreOS, not redhat", "ID=\"rhcos\"\nID_LIKE=\"rhel fedora\"\n", "coreOS"},
		{"ID_LIKE=coreos", "ID=somethingnew\nID_LIKE=coreos\n", "coreOS"},
		{"amzn beats its ID_LIKE rhel", "ID=amzn\nID_LIKE=\"centos rhel fedora\"\nVERSION_ID=2\n", "amzn"},
		{"RHEL rule comes before SUSE", "ID=odd\nID_LIKE=\"suse rhel\"\n", "redhat"},
		{"Oracle Linux", "ID=\"ol\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.9\"\n", "ol"},
		{"rhel-like", "ID=eurolinux\nID_LIKE=\"rhel fedora centos\"\n", "redhat"},
		{"centos stream by ID", "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n", "centos"},
		{"ubuntu before debian", "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"20.04\"\n", "ubuntu(systemd)"},
		{"manjaro via ID_LIKE", "ID=manjaro\nID_LIKE=arch\n", "arch"},
		{"tumbleweed", "ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n", "SUSE"},
		{"old openSUSE id", "ID=opensuse\nID_LIKE=\"suse\"\n", "SUSE"},
		{"mint falls back to ubuntu", "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", "ubuntu(systemd)"},
		{"kali falls back to debian", "ID=kali\nID_LIKE=debian\n", "debian"},
		{"closest relative first", "ID=x\nID_LIKE=\"debian ubuntu\"\n", "debian"},
		{"fedora-like falls back to fedora", "ID=nobara\nID_LIKE=\"fedora\"\n", "fedora"},
		{"upper-case ID", "ID=Debian\n", "debian"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Detect(ParseOSRelease(tt.text))
			require.NoError(t, err)
			assert.Equal(t, tt.want, d.String())
		})
	}
	// Deterministic: the same input always gives the same answer.
	for range 50 {
		d, err := Detect(ParseOSRelease("ID=odd\nID_LIKE=\"suse rhel arch\"\n"))
		require.NoError(t, err)
		require.Equal(t, "redhat", d.String())
	}
}

func TestDetectUnknown(t *testing.T) {
	_, err := Detect(ParseOSRelease("ID=alpine\nVERSION_ID=3.20.0\n"))
	require.EqualError(t, err, "OS type not recognized (ID=alpine)")
	var u *UnknownOSError
	require.ErrorAs(t, err, &u)

	_, err = Detect(ParseOSRelease(""))
	require.EqualError(t, err, "OS type not recognized (ID=)")

	_, err = Detect(ParseOSRelease("ID=ubuntu\nVERSION_ID=\"14.04\"\n"))
	require.EqualError(t, err, "OS type not recognized (ID=ubuntu): Ubuntu 14.04 uses upstart, which is not supported")
}

func TestInstallMethodValidation(t *testing.T) {
	d, err := Detect(ParseOSRelease("ID=debian\n"))
	require.NoError(t, err)
	_, err = d.installMethod("snap")
	require.EqualError(t, err, `unknown engine install method "snap" (want script, package or none)`)
	for _, m := range []string{MethodScript, MethodPackage, MethodNone} {
		got, err := d.installMethod(m)
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
}
