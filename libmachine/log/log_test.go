package log

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// capture sends Info/Warn and Error/Debug lines to two buffers for the
// test, with debug as given, and returns the history index to read from.
func capture(t *testing.T, debugOn bool) (info, errs *bytes.Buffer, from int) {
	t.Helper()
	info, errs = &bytes.Buffer{}, &bytes.Buffer{}
	SetOutput(info, errs)
	SetDebug(debugOn)
	t.Cleanup(func() {
		SetOutput(os.Stdout, os.Stderr)
		SetDebug(false)
	})
	return info, errs, len(History())
}

// timingLine is what bench/generic/generic_test.go parses.
var timingLine = regexp.MustCompile(`timing: (\S+) (\S+)`)

func TestStep(t *testing.T) {
	_, errs, _ := capture(t, true)
	done := Step("driver-create")
	assert.Equal(t, "step: driver-create\n", errs.String(), "the start is logged at once")
	d := done(nil)
	lines := strings.Split(strings.TrimSuffix(errs.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	m := timingLine.FindStringSubmatch(lines[1])
	require.NotNil(t, m, lines[1])
	assert.Equal(t, "driver-create", m[1])
	parsed, err := time.ParseDuration(m[2])
	require.NoError(t, err, "the benchmark parses the duration")
	assert.Equal(t, Duration(d), m[2])
	assert.Equal(t, "timing: driver-create "+m[2], lines[1], "nothing after the duration on success")
	assert.InDelta(t, float64(d), float64(parsed), float64(time.Microsecond))

	errs.Reset()
	Step("provision")(errors.New("Error running provisioning: ssh command error:\ncommand : configure docker\noutput  : password=hunter2"))
	last := strings.Split(strings.TrimSuffix(errs.String(), "\n"), "\n")[1]
	assert.Regexp(t, `^timing: provision \S+ failed: Error running provisioning: ssh command error:\\ncommand : configure docker\\noutput  : password=<redacted>$`, last)
	m = timingLine.FindStringSubmatch(last)
	_, err = time.ParseDuration(m[2])
	assert.NoError(t, err, "a failed step's line still parses")
}

// TestStepMeasures: the duration covers the time between Step and done.
func TestStepMeasures(t *testing.T) {
	capture(t, false)
	done := Step("wait")
	time.Sleep(20 * time.Millisecond) // the time being measured, not synchronisation
	assert.GreaterOrEqual(t, done(nil), 20*time.Millisecond)
}

func TestDebugOffKeepsHistory(t *testing.T) {
	_, errs, from := capture(t, false)
	Step("certs")(nil)
	Debugf("ssh: %s", "token=abc")
	assert.Empty(t, errs.String(), "debug lines are shown only with --debug")
	h := History()[from:]
	require.Len(t, h, 3)
	assert.Equal(t, "step: certs", h[0])
	assert.Regexp(t, `^timing: certs \S+$`, h[1])
	assert.Equal(t, "ssh: token=<redacted>", h[2])
}

// TestMasking: debug lines are printed masked; Info and Error lines are
// printed as written but kept masked.
func TestMasking(t *testing.T) {
	info, errs, from := capture(t, true)
	key := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
	Debugf("ssh: sh -c 'printf %%s %s'", key)
	Infof("Downloading https://u:pw@example.com/x...")
	Errorf("Error: password=hunter2")
	assert.Equal(t, "ssh: sh -c 'printf %s -----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----'\nError: password=hunter2\n", errs.String())
	assert.Equal(t, "Downloading https://u:pw@example.com/x...\n", info.String())
	h := strings.Join(History()[from:], "\n")
	assert.NotContains(t, h, "MIIEowIBAAKCAQEA")
	assert.NotContains(t, h, ":pw@")
	assert.NotContains(t, h, "hunter2")
}

func TestStepConcurrent(t *testing.T) {
	_, errs, _ := capture(t, true)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { Step("query")(nil) })
	}
	wg.Wait()
	assert.Equal(t, 8, strings.Count(errs.String(), "step: query\n"))
	assert.Len(t, timingLine.FindAllString(errs.String(), -1), 8)
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1234567 * time.Nanosecond:    "1.235ms",
		35 * time.Microsecond:        "35µs",
		1500 * time.Millisecond:      "1.5s",
		1234567890 * time.Nanosecond: "1.235s",
		125 * time.Second:            "2m5s",
		0:                            "0s",
	} {
		assert.Equal(t, want, Duration(d))
		_, err := time.ParseDuration(want)
		assert.NoError(t, err)
	}
}

func TestShorten(t *testing.T) {
	assert.Equal(t, `a\nb\r\nc`, Shorten("a\nb\r\nc", 100))
	assert.Equal(t, "abcde… (10 bytes)", Shorten("abcdefghij", 5))
	assert.Equal(t, "ab… (7 bytes)", Shorten("abéxyz", 3), "not inside a character")
	assert.Equal(t, "abcde", Shorten("abcde", 5))

	// A secret across the cut is masked, not cut into an unrecognisable
	// piece.
	b64 := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 6)
	got := Shorten(strings.Repeat(".", 250)+" "+b64+" tail", 300)
	assert.Equal(t, strings.Repeat(".", 250)+" <redacted> tail", got)
	got = Shorten(strings.Repeat(".", 290)+" "+b64+" "+strings.Repeat(".", 100), 300)
	assert.Equal(t, strings.Repeat(".", 290)+" <redacted… (602 bytes)", got)
	assert.NotContains(t, got, b64[:10])
}
