package mcnflag

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsSecret(t *testing.T) {
	for _, f := range []Flag{
		StringFlag{Name: "digitalocean-access-token"},
		StringFlag{Name: "amazonec2-secret-key"},
		StringFlag{Name: "openstack-password"},
		StringFlag{Name: "linode-root-pass"},
		StringFlag{Name: "ovh-consumer-key"},
		StringFlag{Name: "mydriver-pin", Secret: true},
		StringSliceFlag{Name: "mydriver-keys", Secret: true},
		StringSliceFlag{Name: "mydriver-api-key"},
	} {
		assert.True(t, IsSecret(f), f.String())
	}
	for _, f := range []Flag{
		StringFlag{Name: "generic-ssh-key"},
		StringFlag{Name: "openstack-private-key-file"},
		StringFlag{Name: "generic-ip-address"},
		StringFlag{Name: "mydriver-pin"},
		IntFlag{Name: "generic-ssh-port"},
		BoolFlag{Name: "amazonec2-use-private-address"},
	} {
		assert.False(t, IsSecret(f), f.String())
	}
	assert.True(t, IsSecretName("--github-api-token"))
}
