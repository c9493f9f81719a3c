package crashreport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"runtime"

	bugsnag "github.com/bugsnag/bugsnag-go/v2"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/redact"
)

// deliver sends r as one Bugsnag event and waits for the answer, until
// ctx ends. The request carries ctx, so dialing, the TLS handshake and
// waiting for the answer all stop at its deadline; the wait below does
// not even trust that.
func deliver(ctx context.Context, key, endpoint string, r report, m *redact.Masker) error {
	n := bugsnag.New(bugsnag.Configuration{
		APIKey: key,
		// Sessions too, or bugsnag-go warns, through the logger it has
		// before this one replaces it (stdout); no session is ever
		// sent (AutoCaptureSessions off, no StartSession).
		Endpoints:    bugsnag.Endpoints{Notify: endpoint, Sessions: endpoint},
		ReleaseStage: runtime.GOOS + " (" + runtime.GOARCH + ")",
		AppType:      "cli",
		AppVersion:   fullVersion(),
		// No session tracking: it would post to the sessions endpoint
		// on a timer of its own.
		AutoCaptureSessions: false,
		ProjectPackages:     []string{"main", "github.com/docker-machine-ng/machine/**"},
		// bugsnag.New never installs the panic handler (Configure
		// would: it re-executes the program under a supervisor); an
		// empty one keeps it so should that change.
		PanicHandler: func() {},
		Logger:       debugLogger{m},
		Transport:    &deadlineTransport{ctx: ctx, base: newTransport()},
		Synchronous:  true,
	})
	// The machine's hostname is not sent.
	n.Config.Hostname = ""
	raw := []any{
		bugsnag.ErrorClass{Name: r.class},
		bugsnag.Context{String: r.context},
		bugsnag.MetaData(r.meta),
		bugsnag.SeverityError,
		bugsnag.HandledState{
			SeverityReason:   severityReason(r.unhandled),
			OriginalSeverity: bugsnag.SeverityError,
			Unhandled:        r.unhandled,
		},
		func(e *bugsnag.Event) { e.GroupingHash = r.grouping },
	}
	done := make(chan error, 1)
	go func() { done <- n.NotifySync(&reported{msg: r.message, pcs: r.stack}, true, raw...) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func severityReason(unhandled bool) bugsnag.SeverityReason {
	if unhandled {
		return bugsnag.SeverityReasonUnhandledPanic
	}
	return bugsnag.SeverityReasonHandledError
}

// reported is the error as the report shows it: the masked message and
// the failure's stack, with no wrapped errors (bugsnag-go would send
// each one's unmasked text as a cause).
type reported struct {
	msg string
	pcs []uintptr
}

func (e *reported) Error() string      { return e.msg }
func (e *reported) Callers() []uintptr { return e.pcs }

// rootCAs verifies the endpoint; nil means the system's roots (which
// SSL_CERT_FILE and SSL_CERT_DIR replace). The package's tests set it.
var rootCAs *x509.CertPool

// newTransport is a fresh transport (proxies from the environment, as
// http.DefaultTransport), not shared with the rest of the program.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       (&net.Dialer{}).DialContext,
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: rootCAs},
		DisableKeepAlives: true,
	}
}

// deadlineTransport sends every request with ctx, whose deadline is the
// report's budget (bugsnag-go sends without a context).
type deadlineTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil && t.ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%v)", context.Cause(t.ctx), err)
	}
	return resp, err
}

// debugLogger turns bugsnag-go's log lines into debug lines, masked.
type debugLogger struct{ m *redact.Masker }

func (l debugLogger) Printf(format string, v ...any) {
	log.Debugf("crash report: bugsnag: %s", l.m.String(fmt.Sprintf(format, v...)))
}
