package virtualbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
)

// The original's flags: name, default, environment variable (spec 7.4).
func TestFlagsAreTheOriginals(t *testing.T) {
	want := []struct {
		name   string
		def    any
		envVar string
	}{
		{"virtualbox-memory", 1024, "VIRTUALBOX_MEMORY_SIZE"},
		{"virtualbox-cpu-count", 1, "VIRTUALBOX_CPU_COUNT"},
		{"virtualbox-disk-size", 20000, "VIRTUALBOX_DISK_SIZE"},
		{"virtualbox-boot2docker-url", "", "VIRTUALBOX_BOOT2DOCKER_URL"},
		{"virtualbox-import-boot2docker-vm", "", "VIRTUALBOX_BOOT2DOCKER_IMPORT_VM"},
		{"virtualbox-host-dns-resolver", false, "VIRTUALBOX_HOST_DNS_RESOLVER"},
		{"virtualbox-nat-nictype", "82540EM", "VIRTUALBOX_NAT_NICTYPE"},
		{"virtualbox-hostonly-cidr", "192.168.99.1/24", "VIRTUALBOX_HOSTONLY_CIDR"},
		{"virtualbox-hostonly-nictype", "82540EM", "VIRTUALBOX_HOSTONLY_NIC_TYPE"},
		{"virtualbox-hostonly-nicpromisc", "deny", "VIRTUALBOX_HOSTONLY_NIC_PROMISC"},
		{"virtualbox-ui-type", "headless", "VIRTUALBOX_UI_TYPE"},
		{"virtualbox-hostonly-no-dhcp", false, "VIRTUALBOX_HOSTONLY_NO_DHCP"},
		{"virtualbox-no-share", false, "VIRTUALBOX_NO_SHARE"},
		{"virtualbox-no-dns-proxy", false, "VIRTUALBOX_NO_DNS_PROXY"},
		{"virtualbox-no-vtx-check", false, "VIRTUALBOX_NO_VTX_CHECK"},
		{"virtualbox-share-folder", "", "VIRTUALBOX_SHARE_FOLDER"},
		// Ours.
		{"virtualbox-image", "", "VIRTUALBOX_IMAGE"},
		{"virtualbox-image-checksum", "", "VIRTUALBOX_IMAGE_CHECKSUM"},
	}
	flags := New("f", t.TempDir()).GetCreateFlags()
	require.Len(t, flags, len(want))
	for i, w := range want {
		f := flags[i]
		assert.Equal(t, w.name, f.String())
		assert.Equal(t, w.envVar, f.EnvName(), w.name)
		got := f.Default()
		if got == nil {
			got = ""
		}
		assert.Equal(t, w.def, got, w.name)
		assert.NotEmpty(t, f.HelpText(), w.name)
		assert.False(t, mcnflag.IsSecret(f), w.name)
	}
}

func TestDefaultsAreTheOriginals(t *testing.T) {
	d, _ := newMachine(t, "m", drivers.Options{})
	assert.Equal(t, 1, d.CPU)
	assert.Equal(t, 1024, d.Memory)
	assert.Equal(t, 20000, d.DiskSize)
	assert.Equal(t, "82540EM", d.NatNicType)
	assert.Equal(t, "192.168.99.1/24", d.HostOnlyCIDR)
	assert.Equal(t, "82540EM", d.HostOnlyNicType)
	assert.Equal(t, "deny", d.HostOnlyPromiscMode)
	assert.Equal(t, "headless", d.UIType)
	assert.True(t, d.DNSProxy)
	assert.False(t, d.HostDNSResolver)
	assert.Equal(t, "docker", d.GetSSHUsername())
	assert.Equal(t, OSMachineOS, d.OS, "no boot2docker URL: machine-os")
	host, err := d.GetSSHHostname(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.Equal(t, drivers.Capabilities{SSH: true}, d.Capabilities())
}

func TestSetConfigFromFlagsRejects(t *testing.T) {
	for _, c := range []struct {
		opts drivers.Options
		err  string
	}{
		{drivers.Options{"virtualbox-hostonly-cidr": "192.168.99.0/24"}, `--virtualbox-hostonly-cidr "192.168.99.0/24": host-only cidr must be specified with a host address, not a network address`},
		{drivers.Options{"virtualbox-hostonly-cidr": "192.168.99.1"}, `--virtualbox-hostonly-cidr "192.168.99.1": invalid CIDR address: 192.168.99.1`},
		{drivers.Options{"virtualbox-hostonly-cidr": "10.0.0.1/31"}, `leaves no address`},
		{drivers.Options{"virtualbox-hostonly-cidr": "fd00::1/64"}, `is not an IPv4 network`},
		{drivers.Options{"virtualbox-nat-nictype": "e1000"}, `--virtualbox-nat-nictype "e1000" is not one of Am79C970A, Am79C973, Am79C960, 82540EM, 82543GC, 82545EM, virtio`},
		{drivers.Options{"virtualbox-hostonly-nictype": "rtl8139"}, `--virtualbox-hostonly-nictype "rtl8139" is not one of`},
		{drivers.Options{"virtualbox-hostonly-nicpromisc": "yes"}, `--virtualbox-hostonly-nicpromisc "yes" is not one of deny, allow-vms, allow-all`},
		{drivers.Options{"virtualbox-ui-type": "vnc"}, `--virtualbox-ui-type "vnc" is not one of gui, sdl, headless, separate`},
		{drivers.Options{"virtualbox-cpu-count": 0}, `--virtualbox-cpu-count 0`},
		{drivers.Options{"virtualbox-cpu-count": -2}, `--virtualbox-cpu-count -2`},
		{drivers.Options{"virtualbox-memory": 64}, `--virtualbox-memory 64 MB is too small`},
		{drivers.Options{"virtualbox-disk-size": 0}, `--virtualbox-disk-size 0 MB is not a size`},
		{drivers.Options{"virtualbox-share-folder": "/srv"}, `--virtualbox-share-folder "/srv" is not dir:name`},
		{drivers.Options{"virtualbox-image-checksum": "md5:abc"}, `--virtualbox-image-checksum`},
		{drivers.Options{"virtualbox-image": "/x.vmdk", "virtualbox-boot2docker-url": "/b.iso"}, `exclude each other`},
	} {
		d := New("m", t.TempDir())
		o := drivertest.Defaults(d.GetCreateFlags())
		for k, v := range c.opts {
			o[k] = v
		}
		err := d.SetConfigFromFlags(o)
		require.Error(t, err, "%v", c.opts)
		assert.Contains(t, err.Error(), c.err, "%v", c.opts)
	}
}

func TestSetConfigFromFlags(t *testing.T) {
	d, _ := newMachine(t, "m", drivers.Options{
		"virtualbox-memory": 2048, "virtualbox-cpu-count": -1, "virtualbox-disk-size": 30000,
		"virtualbox-boot2docker-url": "https://example.invalid/b2d.iso", "virtualbox-host-dns-resolver": true,
		"virtualbox-nat-nictype": "virtio", "virtualbox-hostonly-cidr": "10.9.8.7/16", "virtualbox-hostonly-nictype": "Am79C973",
		"virtualbox-hostonly-nicpromisc": "allow-all", "virtualbox-ui-type": "gui", "virtualbox-hostonly-no-dhcp": true,
		"virtualbox-no-share": true, "virtualbox-no-dns-proxy": true, "virtualbox-no-vtx-check": true,
		"virtualbox-share-folder": `C:\Users\me:c/Users/me`,
	})
	assert.Equal(t, 2048, d.Memory)
	assert.Equal(t, -1, d.CPU)
	assert.Equal(t, 30000, d.DiskSize)
	assert.Equal(t, OSBoot2Docker, d.OS)
	assert.True(t, d.HostDNSResolver)
	assert.Equal(t, "virtio", d.NatNicType)
	assert.Equal(t, "10.9.8.7/16", d.HostOnlyCIDR)
	assert.Equal(t, "Am79C973", d.HostOnlyNicType)
	assert.Equal(t, "allow-all", d.HostOnlyPromiscMode)
	assert.Equal(t, "gui", d.UIType)
	assert.True(t, d.HostOnlyNoDHCP)
	assert.True(t, d.NoShare)
	assert.False(t, d.DNSProxy)
	assert.True(t, d.NoVTXCheck)
	dir, name := parseShareFolder(d.ShareFolder)
	assert.Equal(t, `C:\Users\me`, dir, "only the last colon splits")
	assert.Equal(t, "c/Users/me", name)
}

// A machine of the original's store loads, and its JSON keeps the
// original's fields in their order.
func TestOriginalJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "test/cli/testdata/original-store/machines/vbox/config.json"))
	require.NoError(t, err)
	var cfg struct{ Driver json.RawMessage }
	require.NoError(t, json.Unmarshal(raw, &cfg))
	d := New("vbox", "/store")
	require.NoError(t, json.Unmarshal(cfg.Driver, d))
	assert.Equal(t, 41235, d.SSHPort)
	assert.Equal(t, "192.168.99.100", d.IPAddress)
	assert.Equal(t, "192.168.99.1/24", d.HostOnlyCIDR)
	assert.True(t, d.DNSProxy)
	assert.True(t, d.isBoot2Docker(), "the original's machines boot boot2docker")
	out, err := json.Marshal(d)
	require.NoError(t, err)
	keys := func(b []byte) []string {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		var ks []string
		depth := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				return ks
			}
			switch v := tok.(type) {
			case json.Delim:
				if v == '{' || v == '[' {
					depth++
				} else {
					depth--
				}
			case string:
				if depth == 1 && dec.More() {
					ks = append(ks, v)
					var skip json.RawMessage
					_ = dec.Decode(&skip)
				}
			}
		}
	}
	orig := keys(cfg.Driver)
	ours := keys(out)
	require.GreaterOrEqual(t, len(ours), len(orig))
	assert.Equal(t, orig, ours[:len(orig)], "the original's fields first, in its order")
}
