package crashreport

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
)

func TestArgSecrets(t *testing.T) {
	args := []string{"dm", "--github-api-token", "gh1", "create", "-d", "x", "--x-password=pw1", "--x-region", "moon",
		"-x-secret-key", "sk1", "--x-ssh-key-path", "/k", "--linode-root-pass", "rp1", "--", "--x-token", "after"}
	assert.Equal(t, []string{"gh1", "pw1", "sk1", "rp1"}, argSecrets(args))
	assert.Empty(t, argSecrets([]string{"dm", "--x-token"}), "a flag without its value")
}

func TestEnvSecrets(t *testing.T) {
	env := []string{"HOME=/root", "AWS_SECRET_ACCESS_KEY=aws1", "DIGITALOCEAN_ACCESS_TOKEN=do1", "OS_PASSWORD=os1",
		"SSH_AUTH_SOCK=/tmp/agent", "TOKEN_FILE=/t", "EMPTY_TOKEN=", "PATH=/bin"}
	assert.Equal(t, []string{"aws1", "do1", "os1"}, envSecrets(env))
}

func TestJSONSecrets(t *testing.T) {
	doc := []byte(`{"Driver": {"AccessToken": "at1", "IPAddress": "10.0.0.5", "SSHKeyPath": "/k",
		"Creds": {"SecretKey": "sk1", "Nested": ["n1", {"x": "n2"}]}, "APIKey": "", "Password": 7},
		"HostOptions": {"AuthOptions": {"CaPrivateKeyPath": "/ca-key.pem"}}}`)
	assert.ElementsMatch(t, []string{"at1", "sk1"}, JSONSecrets(doc))
	assert.Nil(t, JSONSecrets([]byte("not json")))
	// A secret key's whole value is secret, at any depth below it.
	assert.ElementsMatch(t, []string{"a", "b"}, JSONSecrets([]byte(`{"ClientSecret": {"v": ["a", "b"]}}`)))
}

func TestFlagSecrets(t *testing.T) {
	fs := []mcnflag.Flag{
		mcnflag.StringFlag{Name: "x-access-token"},
		mcnflag.StringFlag{Name: "x-pin", Secret: true},
		mcnflag.StringFlag{Name: "x-region"},
		mcnflag.StringSliceFlag{Name: "x-api-key"},
		mcnflag.IntFlag{Name: "x-port"},
	}
	values := map[string][]string{"x-access-token": {"t"}, "x-pin": {"p"}, "x-region": {"r"}, "x-api-key": {"k1", "k2"}}
	got := FlagSecrets(fs, func(name string) []string { return values[name] })
	assert.Equal(t, []string{"t", "p", "k1", "k2"}, got)
}
