// Package httplog puts HTTP requests into the debug trace: one line per
// request with its method, URL (secrets masked by redact.String, as in
// every debug line), status or error, and duration:
//
//	http: GET https://10.0.0.5:2376/_ping -> 200 OK in 3.1ms
//	http: GET https://10.0.0.5:2376/_ping -> error in 1.2ms: dial tcp 10.0.0.5:2376: connect: connection refused
//
// Every client the program builds takes Transport (drivers' image
// downloads, cloud SDK clients, the TLS wait); requests made without
// net/http's client call Log.
package httplog

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// maxErrorShown bounds the error text of a trace line.
const maxErrorShown = 300

// transport logs every round trip of base.
type transport struct{ base http.RoundTripper }

// Transport returns base (nil: http.DefaultTransport) with every round
// trip logged. Wrapping a logging transport again returns it unchanged.
// The line is logged when the response headers arrive (or the request
// fails), so a redirect followed by http.Client gives one line per hop.
func Transport(base http.RoundTripper) http.RoundTripper {
	if _, ok := base.(*transport); ok {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base}
}

// Client returns a copy of c (nil: a zero http.Client) whose transport
// logs; c itself is not changed.
func Client(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.Transport = Transport(out.Transport)
	return &out
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	status := ""
	if resp != nil {
		status = resp.Status
	}
	Log(req.Method, req.URL.String(), start, status, err)
	return resp, err
}

// Log logs one request that started at start: status is the response's
// status line ("200 OK"; "" when there was no response), err the failure
// if any (with a status, e.g. a body that did not decode). A *url.Error
// is shown without its `Get "URL":` prefix, the line names the URL.
func Log(method, rawURL string, start time.Time, status string, err error) {
	d := log.Duration(time.Since(start))
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	// Debugf masks the whole line, URL included.
	switch {
	case status != "" && err != nil:
		log.Debugf("http: %s %s -> %s in %s: %s", method, rawURL, status, d, errorText(err))
	case status != "":
		log.Debugf("http: %s %s -> %s in %s", method, rawURL, status, d)
	case err != nil:
		log.Debugf("http: %s %s -> error in %s: %s", method, rawURL, d, errorText(err))
	default:
		log.Debugf("http: %s %s -> no response in %s", method, rawURL, d)
	}
}

func errorText(err error) string { return log.Shorten(err.Error(), maxErrorShown) }
