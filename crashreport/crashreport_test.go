package crashreport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/crashreport/bugsnagtest"
	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/steps"
	"github.com/docker-machine-ng/machine/provision"
)

const testKey = "0123456789abcdef0123456789abcdef"

// trust makes Send trust ca for the test.
func trust(t *testing.T, ca *bugsnagtest.CA) {
	t.Helper()
	old := rootCAs
	rootCAs = ca.Pool
	t.Cleanup(func() { rootCAs = old })
}

// endpoint starts a fake endpoint that Send trusts and returns settings
// for it, printing to stderr.
func endpoint(t *testing.T, stderr *bytes.Buffer) (*bugsnagtest.Server, Settings) {
	t.Helper()
	ca := bugsnagtest.NewCA(t, "bugsnag test CA")
	trust(t, ca)
	srv := bugsnagtest.Start(t, ca)
	return srv, settings(t, srv.URL, stderr)
}

// settings sends to endpoint with testKey from a fresh store.
func settings(t *testing.T, endpoint string, stderr *bytes.Buffer) Settings {
	t.Helper()
	return Settings{
		StorePath: t.TempDir(),
		Token:     testKey,
		Getenv: func(k string) string {
			switch k {
			case EndpointEnv:
				return endpoint
			case "SHELL":
				return "/bin/zsh"
			}
			return ""
		},
		Environ: func() []string { return nil },
		Stderr:  stderr,
		History: func(mask func(string) string) string {
			return mask("step: driver-create\ntiming: driver-create 1ms failed: boom")
		},
	}
}

type stager struct{ error }

func (stager) StageName() string { return "upgrade: upgrade docker" }

func TestClass(t *testing.T) {
	cause := errors.New("exit status 1")
	inProvision := &steps.Error{Step: "provision", Err: &provision.StageError{Stage: "provision: install docker", Err: cause}}
	for _, c := range []struct {
		f    Failure
		want string
	}{
		{Failure{Command: "create", Err: fmt.Errorf("Error creating machine: %w", inProvision)}, "provision: install docker"},
		{Failure{Command: "create", Err: &steps.Error{Step: "driver-create", Err: cause}}, "create: driver-create"},
		{Failure{Command: "create", Err: errors.Join(errors.New("x"), &provision.StageError{Stage: "provision: detect os", Err: cause})}, "provision: detect os"},
		{Failure{Command: "upgrade", Err: fmt.Errorf("wrapped: %w", stager{cause})}, "upgrade: upgrade docker"},
		{Failure{Command: "upgrade", Step: "start", Err: cause}, "upgrade: start"},
		{Failure{Command: "upgrade", Err: cause}, "upgrade"},
		{Failure{Command: "ls", Panic: "boom"}, "panic: ls"},
	} {
		assert.Equal(t, c.want, Class(c.f), "%+v", c.f)
	}
	assert.Equal(t, "provision", StepOf(Failure{Err: inProvision}))
}

func TestDecision(t *testing.T) {
	s := settings(t, "https://127.0.0.1:1/", nil)
	key, endpoint, err := s.Decision()
	require.NoError(t, err)
	assert.Equal(t, testKey, key)
	assert.Equal(t, "https://127.0.0.1:1/", endpoint)

	for name, change := range map[string]func(*Settings){
		"no-report token": func(s *Settings) { s.Token = NoReport },
		"opt-out file": func(s *Settings) {
			require.NoError(t, os.WriteFile(filepath.Join(s.StorePath, OptOutFile), nil, 0o600))
		},
		"no key":        func(s *Settings) { s.Token = "" },
		"not a key":     func(s *Settings) { s.Token = "ghp_notabugsnagkey" },
		"http endpoint": func(s *Settings) { s.Getenv = func(string) string { return "http://127.0.0.1:1/" } },
	} {
		s := settings(t, "https://127.0.0.1:1/", nil)
		change(&s)
		_, _, err := s.Decision()
		assert.Error(t, err, name)
	}

	// The built-in key is used when no token is given; a token
	// replaces it.
	old := BuiltinAPIKey
	BuiltinAPIKey = strings.Repeat("b", 32)
	t.Cleanup(func() { BuiltinAPIKey = old })
	s.Token = ""
	key, _, err = s.Decision()
	require.NoError(t, err)
	assert.Equal(t, BuiltinAPIKey, key)
	s.Token = testKey
	key, _, _ = s.Decision()
	assert.Equal(t, testKey, key)
	s.Getenv = func(string) string { return "" }
	_, endpoint, _ = s.Decision()
	assert.Equal(t, DefaultEndpoint, endpoint)
}

// TestSend: one event with what docs/crash-reporting.md lists, and the
// line that says it was sent.
func TestSend(t *testing.T) {
	var stderr bytes.Buffer
	srv, s := endpoint(t, &stderr)
	f := Failure{
		Command: "create",
		Driver:  "generic",
		Err:     fmt.Errorf("Error creating machine: %w", &steps.Error{Step: "provision", Err: &provision.StageError{Stage: "provision: install docker", Err: errors.New("exit status 100")}}),
	}
	require.True(t, Send(context.Background(), s, f))

	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, testKey, r.Header.Get("Bugsnag-Api-Key"))
	assert.Equal(t, testKey, r.Payload.APIKey)
	require.Len(t, r.Payload.Events, 1)
	e := r.Payload.Events[0]
	require.Len(t, e.Exceptions, 1, "no unmasked causes")
	assert.Equal(t, "provision: install docker", e.Exceptions[0].ErrorClass)
	assert.Equal(t, f.Err.Error(), e.Exceptions[0].Message)
	assert.NotEmpty(t, e.Exceptions[0].Stacktrace)
	assert.Equal(t, "create (generic)", e.Context)
	assert.Equal(t, "provision: install docker | generic", e.GroupingHash)
	assert.Equal(t, "error", e.Severity)
	assert.False(t, e.Unhandled)
	assert.NotContains(t, e.Device, "hostname")
	assert.Regexp(t, `^[a-z0-9]+ \([a-z0-9]+\)$`, e.App.ReleaseStage)
	assert.Contains(t, e.App.Version, ", build ")
	assert.Equal(t, "/bin/zsh", e.Meta("device", "shell"))
	assert.NotEmpty(t, e.Meta("device", "os"))
	assert.NotEmpty(t, e.Meta("device", "arch"))
	assert.Regexp(t, `^gc \(go`, e.Meta("app", "compiler"))
	assert.Equal(t, "provision", e.Meta("failure", "step"))
	assert.Equal(t, "provision: install docker", e.Meta("failure", "stage"))
	assert.Equal(t, "generic", e.Meta("failure", "driver"))
	assert.Equal(t, "step: driver-create\ntiming: driver-create 1ms failed: boom", e.Meta("history", "trace"))

	want := "A crash report was sent to help fix this error; to stop sending them, create the file " +
		filepath.Join(s.StorePath, OptOutFile) + " (or use --bugsnag-api-token no-report).\n"
	assert.Equal(t, want, stderr.String())
}

// TestSendOptedOut: nothing reaches the server, nothing is printed.
func TestSendOptedOut(t *testing.T) {
	var stderr bytes.Buffer
	srv, s := endpoint(t, &stderr)
	require.NoError(t, os.WriteFile(filepath.Join(s.StorePath, OptOutFile), []byte("anything"), 0o600))
	assert.False(t, Send(context.Background(), s, Failure{Command: "create", Err: errors.New("x")}))
	s = settings(t, srv.URL, &stderr)
	s.Token = NoReport
	assert.False(t, Send(context.Background(), s, Failure{Command: "create", Err: errors.New("x")}))
	assert.Empty(t, srv.Requests())
	assert.Empty(t, stderr.String())
}

// TestSendBudget: Send returns within Budget, with nothing printed,
// whatever the endpoint does. The lower bounds show that the endpoint
// did hold Send up.
func TestSendBudget(t *testing.T) {
	ca := bugsnagtest.NewCA(t, "bugsnag test CA")
	trust(t, ca)
	stalled, arrived := bugsnagtest.Stalled(t, ca)
	foreign := bugsnagtest.Start(t, bugsnagtest.NewCA(t, "another CA"))
	for _, c := range []struct {
		name     string
		endpoint string
		held     bool // the endpoint keeps Send waiting until the budget ends
	}{
		{"unanswered connect", "https://" + bugsnagtest.Unanswered(t) + "/", true},
		{"no TLS handshake", "https://" + testutil.HangingListener(t) + "/", true},
		{"no HTTP answer", stalled, true},
		{"certificate of another CA", foreign.URL, false},
		{"refused", fmt.Sprintf("https://127.0.0.1:%d/", testutil.RefusedPort(t, "")), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			start := time.Now()
			ok := Send(context.Background(), settings(t, c.endpoint, &stderr), Failure{Command: "create", Err: errors.New("x")})
			d := time.Since(start)
			t.Logf("returned after %s", d)
			assert.False(t, ok)
			assert.Empty(t, stderr.String())
			assert.Less(t, d, Budget+500*time.Millisecond)
			if c.held {
				assert.GreaterOrEqual(t, d, Budget)
			}
		})
	}
	select {
	case <-arrived:
	default:
		t.Error("the stalled endpoint got no request")
	}
	assert.Empty(t, foreign.Requests(), "no request over an untrusted connection")
}

// TestSendCancelled: a context that ends (a second Ctrl-C) ends Send.
func TestSendCancelled(t *testing.T) {
	ca := bugsnagtest.NewCA(t, "bugsnag test CA")
	trust(t, ca)
	stalled, arrived := bugsnagtest.Stalled(t, ca)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	start := time.Now()
	assert.False(t, Send(ctx, settings(t, stalled, nil), Failure{Command: "create", Err: errors.New("x")}))
	assert.Less(t, time.Since(start), Budget, "Send returned when its context ended")
}

func TestTail(t *testing.T) {
	s := "aaaa\nbbbb\ncccc"
	assert.Equal(t, s, tail(s, 100))
	assert.Equal(t, "(1 earlier lines left out)\nbbbb\ncccc", tail(s, 10))
	assert.Equal(t, "(2 earlier lines left out)\ncccc", tail(s, 8))
	assert.Equal(t, "(3 lines left out)", tail(s, 2))
}

// TestMaskedEverywhere: the values of secret flags and environment
// variables are masked in the message, the history and the shell, and
// the API key is only in its field.
func TestMaskedEverywhere(t *testing.T) {
	var stderr bytes.Buffer
	srv, s := endpoint(t, &stderr)
	s.Environ = func() []string { return []string{"OS_PASSWORD=env-secret-1"} }
	s.History = func(mask func(string) string) string {
		return mask("flag-secret-1 env-secret-1 arg-secret-1 " + testKey + "\n-----BEGIN RSA PRIVATE KEY-----\n(m) MIIEow\n(m) qzqzqz\n-----END RSA PRIVATE KEY-----")
	}
	get := s.Getenv
	s.Getenv = func(k string) string {
		if k == "SHELL" {
			return "/home/flag-secret-1/bin/zsh"
		}
		return get(k)
	}
	require.True(t, Send(context.Background(), s, Failure{
		Command: "create",
		Err:     errors.New("failed with flag-secret-1, env-secret-1 and arg-secret-1"),
		Secrets: []string{"flag-secret-1"},
		Args:    []string{"dm", "create", "--x-password", "arg-secret-1", "m"},
	}))
	body := string(srv.Requests()[0].Body)
	for _, v := range []string{"flag-secret-1", "env-secret-1", "arg-secret-1", "MIIEow", "qzqzqz"} {
		assert.NotContains(t, body, v)
	}
	assert.Equal(t, 1, strings.Count(body, testKey), "only as apiKey")
	e := srv.Requests()[0].Payload.Events[0]
	assert.Equal(t, "failed with <redacted>, <redacted> and <redacted>", e.Exceptions[0].Message)
	assert.Equal(t, "/home/<redacted>/bin/zsh", e.Meta("device", "shell"))
	assert.Equal(t, "<redacted> <redacted> <redacted> <redacted>\n-----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----", e.Meta("history", "trace"))
}
