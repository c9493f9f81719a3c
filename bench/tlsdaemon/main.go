// Command tlsdaemon is a stand-in for a Docker daemon on loopback, for
// benchmarks: mutual TLS with a server certificate signed by a store's CA
// (for 127.0.0.1 and localhost), client certificates of that CA required,
// GET /version answered. It prints its tcp:// URL on the first line of
// stdout and serves until killed.
//
//	go run ./bench/tlsdaemon -ca <store>/certs/ca.pem -ca-key <store>/certs/ca-key.pem
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

func main() {
	caCert := flag.String("ca", "", "CA certificate (PEM) that signs the server certificate and client certificates")
	caKey := flag.String("ca-key", "", "the CA's private key")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	if err := run(*caCert, *caKey, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "tlsdaemon:", err)
		os.Exit(1)
	}
}

func run(caCert, caKey, addr string) error {
	if caCert == "" || caKey == "" {
		return fmt.Errorf("-ca and -ca-key are required")
	}
	log.SetOutput(io.Discard, os.Stderr)
	dir, err := os.MkdirTemp("", "tlsdaemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	certPath, keyPath := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := cert.Generate(cert.Options{
		CertPath: certPath, KeyPath: keyPath, CACertPath: caCert, CAKeyPath: caKey,
		Org: "bench.daemon", Server: true, Hosts: []string{"127.0.0.1", "localhost"},
	}); err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(caCert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s holds no certificate", caCert)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"Version":"27.1.0","ApiVersion":"1.46","Os":"linux"}`)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert},
		ErrorLog:  stdlog.New(io.Discard, "", 0),
	}
	fmt.Printf("tcp://%s\n", l.Addr())
	os.Stdout.Sync()
	return srv.Serve(tls.NewListener(l, srv.TLSConfig))
}
