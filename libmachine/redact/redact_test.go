package redact

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// realPEM returns a freshly generated certificate and RSA private key in
// PEM, as provisioning uploads them.
func realPEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Organization: []string{"redact test"}},
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	return certPEM, keyPEM
}

// pemBodyLines are the base64 lines of a PEM text.
func pemBodyLines(p string) []string {
	var out []string
	for _, l := range strings.Split(p, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func TestPEMBlocks(t *testing.T) {
	certPEM, keyPEM := realPEM(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))

	in := "cat > /etc/docker/ca.pem <<EOF\n" + certPEM + "EOF\nkey: " + keyPEM + "and " + ecPEM
	got := String(in)
	for _, p := range []string{certPEM, keyPEM, ecPEM} {
		for _, l := range pemBodyLines(p) {
			assert.NotContains(t, got, l)
		}
	}
	assert.Equal(t, "cat > /etc/docker/ca.pem <<EOF\n-----BEGIN CERTIFICATE-----<redacted>-----END CERTIFICATE-----\nEOF\n"+
		"key: -----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----\n"+
		"and -----BEGIN EC PRIVATE KEY-----<redacted>-----END EC PRIVATE KEY-----\n", got)

	// Quoted as JSON or by %q: the newlines are two characters.
	q := strconv.Quote(keyPEM)
	got = String("error: " + q)
	for _, l := range pemBodyLines(keyPEM) {
		assert.NotContains(t, got, l)
	}
	assert.Equal(t, `error: "-----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----\n"`, got)

	// Cut short (an output tail, a truncated message): all that follows
	// the BEGIN line goes.
	cut := keyPEM[:len(keyPEM)/2]
	assert.Equal(t, "tail: -----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----", String("tail: "+cut))
}

func TestLongBase64(t *testing.T) {
	certPEM, keyPEM := realPEM(t)
	b64 := base64.StdEncoding.EncodeToString([]byte(keyPEM))
	script := "put '/etc/docker/server-key.pem' 0600 " + b64 + "\nput '/etc/docker/ca.pem' 0644 " +
		base64.StdEncoding.EncodeToString([]byte(certPEM)) + "\nsystemctl restart docker"
	assert.Equal(t, "put '/etc/docker/server-key.pem' 0600 <redacted>\nput '/etc/docker/ca.pem' 0644 <redacted>\nsystemctl restart docker", String(script))

	// Short base64 (a small config file) and hex digests stay readable.
	short := base64.StdEncoding.EncodeToString([]byte("[Service]\nExecStart=\n"))
	sum := strings.Repeat("0123456789abcdef", 4)
	assert.Equal(t, "put /x 0644 "+short+" "+sum, String("put /x 0644 "+short+" "+sum))
}

func TestKnownTokens(t *testing.T) {
	for in, want := range map[string]string{
		"aws_access_key_id AKIAIOSFODNN7EXAMPLE in use":                            "aws_access_key_id <redacted> in use",
		"session ASIAY34FZKBOKMUTVV7A.":                                            "session <redacted>.",
		"AKIAIOSFODNN7EXAMPLEX is not a key id (21 characters)":                    "AKIAIOSFODNN7EXAMPLEX is not a key id (21 characters)",
		"git clone https://x:ghp_" + strings.Repeat("a1B2", 9) + "@github.com/o/r": "git clone https://x:<redacted>@github.com/o/r",
		"token ghp_" + strings.Repeat("a1B2", 9):                                   "token <redacted>",
		"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz":                "<redacted>",
		"runner glrt-abcdefghij0123456789 registered":                              "runner <redacted> registered",
		"GR1348941abcdefghij0123456789xyz":                                         "<redacted>",
		"DIGITALOCEAN dop_v1_" + strings.Repeat("0123456789abcdef", 4) + " ok":     "DIGITALOCEAN <redacted> ok",
	} {
		assert.Equal(t, want, String(in), in)
	}
}

func TestKeyValues(t *testing.T) {
	for in, want := range map[string]string{
		"password=hunter2":      "password=<redacted>",
		"PASSWORD=hunter2 next": "PASSWORD=<redacted> next",
		"export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG":    "export AWS_SECRET_ACCESS_KEY=<redacted>",
		"--amazonec2-secret-key=wJalrXUtnFEMI/K7MDENG --x=1":    "--amazonec2-secret-key=<redacted> --x=1",
		`token="abc def" rest`:                                  "token=<redacted> rest",
		"client_secret='s3cr3t';":                               "client_secret=<redacted>;",
		"api_key=abc, apikey=def, api-key=ghi":                  "api_key=<redacted>, apikey=<redacted>, api-key=<redacted>",
		"--digitalocean-access-token 0123abcd --digitalocean-x": "--digitalocean-access-token <redacted> --digitalocean-x",
		"--github-api-token tok123":                             "--github-api-token <redacted>",
		`{"Password": "p\"w", "User": "root"}`:                  `{"Password": "<redacted>", "User": "root"}`,
		`"SecretKey":"abc"`:                                     `"SecretKey":"<redacted>"`,
		"Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig":         "Authorization: Bearer <redacted>",
		"authorization: token abc123":                           "authorization: token <redacted>",
	} {
		assert.Equal(t, want, String(in), in)
	}
	// Not secrets: booleans, file names, empty values, unrelated keys.
	for _, in := range []string{
		"-o PasswordAuthentication=no -o IdentitiesOnly=yes -o IdentityFile=/k/id_rsa",
		"token_file=/run/secrets/token TokenPath=/x SecretName=db password=",
		"--generic-ssh-key /home/u/.ssh/id_ed25519 --tls-ca-key /c/ca-key.pem",
		`"CaPrivateKeyPath": "/store/certs/ca-key.pem"`,
		"timing: tls-wait 1.2s",
		"ssh: root@127.0.0.1:2222 -> exit 0 in 3ms",
	} {
		assert.Equal(t, in, String(in))
	}
}

func TestURLs(t *testing.T) {
	for in, want := range map[string]string{
		"GET https://user:pa55@example.com/x":                         "GET https://user:<redacted>@example.com/x",
		"GET https://ghtoken123@example.com/x":                        "GET https://<redacted>@example.com/x",
		"ssh://docker@10.0.0.5:22 stays":                              "ssh://docker@10.0.0.5:22 stays",
		"amqp://guest:guest@rabbit:5672/":                             "amqp://guest:<redacted>@rabbit:5672/",
		"GET https://api.example.com/v1/x?access_token=abc123&page=2": "GET https://api.example.com/v1/x?access_token=<redacted>&page=2",
		"https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101&X-Amz-Signature=9f8e7d&X-Amz-Security-Token=FwoG": "https://b.s3.amazonaws.com/o?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>",
		"https://a.blob.core.windows.net/c/img.vhd?sv=2020-08-04&sig=abc%2Bdef":                                                          "https://a.blob.core.windows.net/c/img.vhd?sv=2020-08-04&sig=<redacted>",
		"https://maps.example.com/api?key=AIzaSyA&q=x":                                                                                   "https://maps.example.com/api?key=<redacted>&q=x",
	} {
		assert.Equal(t, want, String(in), in)
	}
	for _, in := range []string{
		"tcp://127.0.0.1:2376",
		"https://127.0.0.1:2376/_ping",
		"https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
		"ssh: exec /usr/bin/ssh -F /dev/null root@127.0.0.1 -p 22 'exit 0'",
	} {
		assert.Equal(t, in, String(in))
	}
}

// TestIdempotent: masking masked text changes nothing, so a line can go
// through String at every layer.
func TestIdempotent(t *testing.T) {
	certPEM, keyPEM := realPEM(t)
	in := "password=x https://u:p@h/?access_token=t&sig=s AKIAIOSFODNN7EXAMPLE " + certPEM + keyPEM +
		base64.StdEncoding.EncodeToString([]byte(keyPEM)) + ` {"token": "x"} --x-token v Authorization: Basic Zm9v`
	once := String(in)
	assert.Equal(t, once, String(once))
	assert.NotContains(t, once, "AKIAIOSFODNN7EXAMPLE")
	assert.Equal(t, 11, strings.Count(once, Mask), once)
}

func BenchmarkStringPlainLine(b *testing.B) {
	line := "query: m17: Running, tcp://127.0.0.1:45678, docker v27.1.0, 3.2ms"
	for b.Loop() {
		String(line)
	}
}
