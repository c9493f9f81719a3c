package crash_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/crashreport/bugsnagtest"
)

// seeded are secrets of every kind a report must not carry, with known
// values, and the arguments and environment that give them to a create
// of the crashy driver, which logs them (debug and info lines, a
// multi-line user data file) and repeats them in its error.
type seeded struct {
	secrets map[string]string
	args    []string
	env     map[string]string
}

func seedSecrets(t *testing.T) seeded {
	t.Helper()
	certPEM, keyPEM := testPEM(t)
	blob := make([]byte, 150)
	_, err := rand.Read(blob)
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString(blob)
	userData := filepath.Join(t.TempDir(), "user-data")
	require.NoError(t, os.WriteFile(userData, []byte("#cloud-config\nssh_key: |\n"+keyPEM+"ca: |\n"+certPEM+"blob: "+b64+"\n"), 0o600))
	sd := seeded{
		secrets: map[string]string{
			"GitHub token (--github-api-token)":        "ghp_" + strings.Repeat("Zq7", 12),
			"driver token by name (env CRASHY_…)":      "tok-7f3a9c2e5b1d4f60",
			"driver flag marked Secret (--crashy-pin)": "pin-4417-9931",
			"driver password by name (--…-root-pass=)": "horse-battery-staple-42",
			"AWS secret key (env)":                     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			"AWS access key id (env)":                  "AKIAIOSFODNN7EXAMPLE",
			"URL password (--crashy-endpoint)":         "urlpw-93af5c",
			"long base64 (user data)":                  b64,
		},
		env: map[string]string{
			"CRASHY_ACCESS_TOKEN":   "tok-7f3a9c2e5b1d4f60",
			"AWS_ACCESS_KEY_ID":     "AKIAIOSFODNN7EXAMPLE",
			"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		},
	}
	// Given by flag and by environment: the plugin inherits the
	// environment and logs it.
	sd.env["MACHINE_GITHUB_API_TOKEN"] = sd.secrets["GitHub token (--github-api-token)"]
	for i, l := range pemBody(keyPEM) {
		sd.secrets["private key line "+itoa(i)] = l
	}
	for i, l := range pemBody(certPEM) {
		sd.secrets["certificate line "+itoa(i)] = l
	}
	sd.args = []string{"--github-api-token", sd.secrets["GitHub token (--github-api-token)"], "create", "-d", crashyName,
		"--crashy-pin", sd.secrets["driver flag marked Secret (--crashy-pin)"],
		"--crashy-root-pass=" + sd.secrets["driver password by name (--…-root-pass=)"],
		"--crashy-endpoint", "https://admin:" + sd.secrets["URL password (--crashy-endpoint)"] + "@127.0.0.1:1/api",
		"--crashy-user-data", userData,
		"c1"}
	return sd
}

// A report carries none of the secrets, in any byte of the request: the
// Bugsnag token only where the protocol puts it (the apiKey field and
// the Bugsnag-Api-Key header). A run of the same create with -D and
// reports off shows that every secret did reach the command's output,
// so a report built from it without masking would carry it.
func TestReportMasksEverySecret(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	sd := seedSecrets(t)

	control := s.runEnv(merge(sd.env, map[string]string{"MACHINE_BUGSNAG_API_TOKEN": "no-report"}), append([]string{"-D"}, sd.args...)...)
	require.Equal(t, 1, control.code, "%s", control)
	require.Empty(t, s.reports())
	out := control.stdout + control.stderr
	for name, v := range sd.secrets {
		assert.Contains(t, out, v, "control: %s does not reach the output, the test below proves nothing for it", name)
	}

	r := s.runEnv(sd.env, sd.args...)
	require.Equal(t, 1, r.code, "%s", r)
	rep := s.oneReport(r)
	e := s.checkFailureReport(r, rep, "create", crashyName, "create: driver-create", "driver-create")

	// The token appears once, as the apiKey field.
	field := []byte(`"apiKey":"` + testKey + `"`)
	require.Equal(t, 1, bytes.Count(rep.Body, []byte(testKey)), "%s", pretty(rep.Body))
	require.Equal(t, 1, bytes.Count(rep.Body, field), "%s", pretty(rep.Body))
	body := bytes.Replace(rep.Body, field, nil, 1)
	sd.secrets["Bugsnag token"] = testKey
	var headers bytes.Buffer
	for k, vs := range rep.Header {
		if k != "Bugsnag-Api-Key" {
			headers.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
		}
	}
	for name, v := range sd.secrets {
		for _, form := range encodings(v) {
			assert.NotContains(t, string(body), form, "%s is in the report:\n%s", name, pretty(rep.Body))
			assert.NotContains(t, headers.String(), form, "%s is in a header", name)
		}
	}

	// Masked, not dropped: the report still tells what happened.
	trace := e.Meta("history", "trace")
	assert.Contains(t, trace, "crashy: config token <redacted> pin <redacted> root <redacted>", trace)
	assert.Contains(t, trace, "(c1) crashy: calling https://admin:<redacted>@127.0.0.1:1/api with <redacted> <redacted>", trace)
	assert.Contains(t, trace, "(c1) crashy: the environment has <redacted>", trace)
	assert.Contains(t, trace, "-----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----", trace)
	assert.Contains(t, trace, "-----BEGIN CERTIFICATE-----<redacted>-----END CERTIFICATE-----", trace)
	assert.Equal(t, "Error creating machine: Error in driver during machine creation: crashy: the cloud refused <redacted> (token <redacted>, pin <redacted>, root <redacted>, secret <redacted>): 401 Unauthorized\nEverything the failed create made was removed.",
		e.Exceptions[0].Message)
}

// encodings are the forms a value can take in a JSON body.
func encodings(v string) []string {
	j, _ := json.Marshal(v)
	return []string{v, string(j[1 : len(j)-1])}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func itoa(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// testPEM returns a certificate (a test CA's) and a new RSA private key
// in PEM.
func testPEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	cert, err := os.ReadFile(bugsnagtest.NewCA(t, "crashy instance").File)
	require.NoError(t, err)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return string(cert), string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

// pemBody returns the base64 lines of a PEM text.
func pemBody(p string) []string {
	var out []string
	for _, l := range strings.Split(p, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// An upgrade knows no flags: the secrets of the machine's driver come
// from its config.json (keys named like secrets), and are masked where
// the driver logs them. The machine is a plugin driver's on a real sshd
// whose fake guest has no Docker, kept after its create failed.
func TestReportMasksDriverConfigSecrets(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	token := "cfg-token-58e1c0d2"
	guest := startFakeGuest(t)
	guest[1] = crashySSHName // -d crashyssh
	s.env["MACHINE_BUGSNAG_API_TOKEN"] = "no-report"
	r := s.run(append(append([]string{"create"}, guest...), "--crashyssh-api-token", token, "--engine-install-method", "none", "--keep-on-failure", "g")...)
	require.Equal(t, 1, r.code, "%s", r)
	cfg, err := os.ReadFile(filepath.Join(s.root, "machines", "g", "config.json"))
	require.NoError(t, err)
	require.Contains(t, string(cfg), `"APIToken": "`+token+`"`, "the token is in config.json")

	// Control: the upgrade's own output shows the token.
	r = s.run("-D", "upgrade", "g")
	require.Equal(t, 1, r.code, "%s", r)
	require.Contains(t, r.stderr, "with token "+token, "%s", r)

	s.env["MACHINE_BUGSNAG_API_TOKEN"] = testKey
	r = s.run("upgrade", "g")
	require.Equal(t, 1, r.code, "%s", r)
	rep := s.oneReport(r)
	e := s.checkFailureReport(r, rep, "upgrade", crashySSHName, "upgrade: check upgrade", "")
	assert.NotContains(t, string(rep.Body), token, "%s", pretty(rep.Body))
	assert.Contains(t, e.Meta("history", "trace"), "crashyssh: GET /machines/g/state with token <redacted>")
}
