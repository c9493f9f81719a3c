// Package bugsnagtest is a fake Bugsnag notify endpoint for tests: a
// real HTTPS server on 127.0.0.1 with a certificate of a test CA, which
// records every request it gets, plus endpoints that misbehave (a port
// whose connection attempts are never answered, a server that never
// answers a request). A client trusts the CA through SSL_CERT_FILE=CA.File,
// as Go's crypto/x509 reads it on Linux, so the program under test runs
// unchanged.
package bugsnagtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	// File is the CA certificate in PEM, for SSL_CERT_FILE.
	File string
	// Pool holds the CA certificate, for in-process clients.
	Pool *x509.CertPool
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA whose certificate is written into a temporary
// directory of t.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, der := issue(t, &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{File: file, Pool: pool, cert: cert, key: key}
}

// serverConfig is a TLS configuration with a certificate for 127.0.0.1
// signed by ca.
func (ca *CA) serverConfig(t testing.TB) *tls.Config {
	t.Helper()
	key, der := issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca.cert, ca.key)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// issue makes a key and a certificate of tmpl for it, valid from an
// hour ago for a day, signed by parent (nil: self-signed).
func issue(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// Request is one request the server got.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Body is the request body as sent.
	Body []byte
	// Payload is Body decoded ("" fields when it was not a payload).
	Payload Payload
}

// Payload is a Bugsnag notify payload (version 4), the parts tests read.
type Payload struct {
	APIKey   string  `json:"apiKey"`
	Events   []Event `json:"events"`
	Notifier struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"notifier"`
}

// Event is one event of a payload.
type Event struct {
	App struct {
		ReleaseStage string `json:"releaseStage"`
		Type         string `json:"type"`
		Version      string `json:"version"`
	} `json:"app"`
	Context string         `json:"context"`
	Device  map[string]any `json:"device"`
	// Exceptions: the first is the error; bugsnag-go adds one per
	// wrapped error.
	Exceptions []struct {
		ErrorClass string `json:"errorClass"`
		Message    string `json:"message"`
		Stacktrace []struct {
			Method    string `json:"method"`
			File      string `json:"file"`
			InProject bool   `json:"inProject"`
		} `json:"stacktrace"`
	} `json:"exceptions"`
	GroupingHash string                    `json:"groupingHash"`
	MetaData     map[string]map[string]any `json:"metaData"`
	Severity     string                    `json:"severity"`
	Unhandled    bool                      `json:"unhandled"`
}

// Meta returns a metadata value as a string ("" when missing).
func (e Event) Meta(tab, key string) string {
	s, _ := e.MetaData[tab][key].(string)
	return s
}

// Server is a fake notify endpoint.
type Server struct {
	// URL is the endpoint, https://127.0.0.1:PORT/.
	URL string

	mu   sync.Mutex
	reqs []Request
}

// Start runs a notify endpoint with a certificate of ca that records
// every request and answers 200 OK, as Bugsnag does, until t ends.
func Start(t testing.TB, ca *CA) *Server {
	t.Helper()
	s := &Server{}
	serve(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		_ = json.Unmarshal(body, &req.Payload)
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		io.WriteString(w, "OK")
	}), &s.URL)
	return s
}

// Requests returns the requests received so far. A client that waits
// for the answer (the CLI does) has been recorded when it got it.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Stalled runs an endpoint with a certificate of ca that completes the
// TLS handshake, reads the request and never answers it, until t ends;
// arrived gets a value when a request has arrived. It returns the URL.
func Stalled(t testing.TB, ca *CA) (url string, arrived <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 16)
	stop := make(chan struct{})
	serve(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case ch <- struct{}{}:
		default:
		}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}), &url)
	// Registered after serve's cleanup, so it runs first: the handler
	// returns and the server can close.
	t.Cleanup(func() { close(stop) })
	return url, ch
}

func serve(t testing.TB, ca *CA, h http.Handler, url *string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: ca.serverConfig(t), ErrorLog: stdlog.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeTLS(l, "", "")
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	*url = "https://" + l.Addr().String() + "/"
}

// Unanswered returns the address of a port on 127.0.0.1 whose connection
// attempts are never answered, like a host behind a firewall that drops
// packets: a socket listens with a backlog of one connection that is
// taken and never accepted, so the kernel drops every further SYN and a
// client's connect waits until it gives up.
func Unanswered(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// The one connection the backlog holds.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Proof that the next attempt is not answered: it must still be
	// waiting when its own short deadline ends.
	if c2, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c2.Close()
		t.Fatalf("bugsnagtest: a second connection to %s was accepted: the backlog does not hold", addr)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("bugsnagtest: a second connection to %s failed at once (%v), it must wait", addr, err)
	}
	return addr
}
