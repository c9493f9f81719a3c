package crash_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/crashreport"
	"github.com/docker-machine-ng/machine/crashreport/bugsnagtest"
	"github.com/docker-machine-ng/machine/internal/testutil"
)

// exitBound is what sending a report may add to a command (issue: "never
// delays the exit by more than 3 s").
const exitBound = 3 * time.Second

// quickFailure is a create that fails at once (a pre-create check,
// exit status 3) in a built-in driver: between its error message and the
// end of the process there is only the report (a plugin driver's
// process would be closed there too).
var quickFailure = qemuCreate("/nonexistent/qemu-system-x86_64", "/nonexistent.qcow2")

// Whatever the endpoint does, a failed create exits with its own code
// and message less than 3 s after printing its error, and says nothing
// about a report that was not sent (-D says why). The endpoints that
// hold the report up until its budget ends show that they did; the
// delays are logged (docs/crash-reporting.md quotes them).
func TestExitBound(t *testing.T) {
	t.Parallel()
	ca := bugsnagtest.NewCA(t, "bugsnag test CA")
	stalled, arrived := bugsnagtest.Stalled(t, ca)
	foreign := bugsnagtest.Start(t, bugsnagtest.NewCA(t, "another CA"))
	for _, c := range []struct {
		name, endpoint string
		// held: the endpoint keeps the report waiting to the end of
		// its budget.
		held bool
		why  string
	}{
		{"connection attempts unanswered", "https://" + bugsnagtest.Unanswered(t) + "/", true, "no answer within 2s"},
		{"server never answers", "https://" + testutil.HangingListener(t) + "/", true, "no answer within 2s"},
		{"no answer to the request", stalled, true, "no answer within 2s"},
		{"certificate of another CA", foreign.URL, false, "x509: certificate signed by unknown authority"},
		{"connection refused", fmt.Sprintf("https://127.0.0.1:%d/", testutil.RefusedPort(t, "")), false, "connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			s.env["SSL_CERT_FILE"] = ca.File
			s.env["MACHINE_BUGSNAG_ENDPOINT"] = c.endpoint
			r := s.run(append([]string{"-D"}, quickFailure...)...)
			require.Equal(t, 3, r.code, "%s", r)
			require.Contains(t, r.stderr, "\nError with pre-create check: ", "%s", r)
			require.False(t, r.errorAt.IsZero(), "%s", r)
			d := r.delay()
			t.Logf("exit %s after the error", d.Round(time.Millisecond))
			assert.Less(t, d, exitBound, "%s", r)
			if c.held {
				assert.GreaterOrEqual(t, d, crashreport.Budget-500*time.Millisecond, "the endpoint did not hold the report up\n%s", r)
			}
			assert.Contains(t, r.stderr, "\ncrash report: not sent: ", "%s", r)
			assert.Contains(t, r.stderr, c.why, "%s", r)
			assert.NotContains(t, r.stderr, "A crash report was sent", "%s", r)
			assert.Empty(t, s.reports(), "the store's own endpoint was not used")
		})
	}
	t.Cleanup(func() {
		select {
		case <-arrived:
		default:
			t.Error("the stalled endpoint got no request: its case proved nothing")
		}
		assert.Empty(t, foreign.Requests(), "a request went over a connection of an untrusted certificate")
	})
}
