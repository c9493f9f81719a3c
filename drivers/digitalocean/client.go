package digitalocean

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/digitalocean/godo"

	"github.com/docker-machine-ng/machine/libmachine/httplog"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/version"
)

// Tunables of the API client; tests shorten them.
var (
	// requestTimeout bounds one HTTP request (one attempt).
	requestTimeout = 60 * time.Second
	// retryBase is the first back-off; it doubles per attempt, up to
	// retryMax.
	retryBase = 500 * time.Millisecond
	retryMax  = 10 * time.Second
	// attempts is how often a request is sent at most.
	attempts = 5
	// pollFirst and pollMax bound the interval between polls of a
	// droplet that is being created.
	pollFirst = 250 * time.Millisecond
	pollMax   = 5 * time.Second
)

// authTransport adds the bearer token to every request.
type authTransport struct {
	token string
	base  http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

// retryTransport retries what is safe to retry: any request the API
// refused with 429 (Too Many Requests: nothing was done), and requests
// without side effects on repetition (GET, DELETE, and the idempotent
// actions) on a 5xx answer or a transport error. A POST that creates
// something is not repeated after an answer that may hide a success;
// the caller looks for what it may have made instead.
type retryTransport struct {
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	safe := req.Method == http.MethodGet || req.Method == http.MethodDelete ||
		req.Method == http.MethodHead || strings.HasSuffix(req.URL.Path, "/actions")
	delay := retryBase
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		ctx, cancel := context.WithTimeout(req.Context(), requestTimeout)
		resp, err := t.base.RoundTrip(r.WithContext(ctx))
		if err != nil {
			cancel()
		} else {
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		}
		retry := false
		wait := delay
		switch {
		case err != nil:
			retry = safe && req.Context().Err() == nil
		case resp.StatusCode == http.StatusTooManyRequests:
			retry = true
			if reset, perr := strconv.ParseInt(resp.Header.Get("RateLimit-Reset"), 10, 64); perr == nil {
				wait = min(max(time.Until(time.Unix(reset, 0)), delay), retryMax)
			}
		case resp.StatusCode >= 500:
			retry = safe
		}
		if !retry || attempt >= attempts {
			if err != nil {
				return nil, err
			}
			return resp, nil
		}
		if resp != nil {
			resp.Body.Close()
			log.Debugf("digitalocean: %s %s: %s, retrying in %s (attempt %d of %d)", req.Method, req.URL.Path, resp.Status, wait, attempt+1, attempts)
		} else {
			log.Debugf("digitalocean: %s %s: %v, retrying in %s (attempt %d of %d)", req.Method, req.URL.Path, err, wait, attempt+1, attempts)
		}
		t := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, context.Cause(req.Context())
		case <-t.C:
		}
		delay = min(delay*2, retryMax)
	}
}

// cancelBody ends the attempt's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// client returns the API client for the driver's URL and token.
func (d *Driver) client() (*godo.Client, error) {
	token, err := d.accessToken()
	if err != nil {
		return nil, err
	}
	return newClient(d.apiURL(), token)
}

func newClient(apiURL, token string) (*godo.Client, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: &retryTransport{base: httplog.Transport(&authTransport{token: token, base: base})}}
	return godo.New(hc, godo.SetBaseURL(apiURL), godo.SetUserAgent("docker-machine/"+version.Version))
}

// checkAPIURL validates --digitalocean-api-url.
func checkAPIURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--digitalocean-api-url %q is not an http or https URL; give the API's base URL, e.g. %s", s, defaultAPIURL)
	}
	if u.User != nil {
		return "", errors.New("--digitalocean-api-url must not carry credentials; give the token with --digitalocean-access-token or DIGITALOCEAN_ACCESS_TOKEN")
	}
	// godo resolves "v2/…" against the base: without a trailing slash
	// the last path element would be dropped.
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}

// statusOf returns the HTTP status of a godo error, or 0.
func statusOf(err error) int {
	var er *godo.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// ambiguous reports whether a failed request may still have been
// carried out (no answer, or a server error).
func ambiguous(err error) bool {
	if st := statusOf(err); st != 0 {
		return st >= 500
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}
