package redact

import (
	"encoding/json"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSecretKey(t *testing.T) {
	for _, k := range []string{
		"digitalocean-access-token", "amazonec2-secret-key", "amazonec2-session-token",
		"openstack-password", "azure-client-secret", "exoscale-api-secret-key",
		"softlayer-api-key", "AWS_SECRET_ACCESS_KEY", "MACHINE_GITHUB_API_TOKEN",
		"AccessToken", "ClientSecret", "Password", "vmwarefusion-ssh-password",
	} {
		assert.True(t, SecretKey(k), k)
	}
	for _, k := range []string{
		"generic-ssh-key", "openstack-private-key-file", "digitalocean-ssh-key-path",
		"token_path", "SSHKeyPath", "amazonec2-keypair-name", "generic-ip-address",
		"PasswordAuthentication", "SHELL", "HOME",
	} {
		assert.False(t, SecretKey(k), k)
	}
}

func TestMasker(t *testing.T) {
	secret := `pa"ss wörd&x/y`
	m := NewMasker(secret, "abc", "")
	q := strconv.Quote(secret)
	j, _ := json.Marshal(secret)
	for _, in := range []string{
		"plain " + secret + " end",
		"go-quoted " + q,
		"json " + string(j),
		"query ?p=" + url.QueryEscape(secret),
		"path /" + url.PathEscape(secret) + "/x",
	} {
		got := m.String(in)
		assert.NotContains(t, got, secret, in)
		assert.Contains(t, got, Mask, in)
	}
	assert.Equal(t, "abc stays: shorter than MinValueLen", m.String("abc stays: shorter than MinValueLen"))
	// What String masks is masked too.
	assert.Equal(t, "password=<redacted>", m.String("password=hunter2"))

	// A value containing another is masked whole.
	m = NewMasker("s3cr", "s3cr3t-long")
	assert.Equal(t, "<redacted> and <redacted>", m.String("s3cr3t-long and s3cr"))

	var zero *Masker
	assert.Equal(t, "token=<redacted>", zero.String("token=x1"))
	assert.Equal(t, "token=<redacted>", (&Masker{}).String("token=x1"))
}
