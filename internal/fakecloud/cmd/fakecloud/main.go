// Command fakecloud serves one of the project's fake clouds on a
// loopback port, for trying the cloud drivers by hand and for scripts:
//
//	go run ./internal/fakecloud/cmd/fakecloud -cloud do -backend kit
//	docker-machine create -d digitalocean --digitalocean-api-url URL/ …
//
// It prints the base URL (and writes it to -url-file), serves the API
// and the admin endpoints (/_fake/journal, /_fake/faults, /_fake/leaks,
// /_fake/reset) until SIGINT or SIGTERM, then destroys every instance's
// machine. Credentials: DigitalOcean token dofake.Token; EC2 keys
// ec2fake.AccessKey and ec2fake.SecretKey (printed at start).
//
// -backend loopback gives instances loopback addresses at which nothing
// listens (API-only use); -backend kit backs each instance with a
// systemd-nspawn host of the test-host kit (root and the kit's packages
// needed), so create provisions it over SSH.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/dofake"
	"github.com/docker-machine-ng/machine/internal/fakecloud/ec2fake"
)

func main() {
	cloud := flag.String("cloud", "do", "the cloud: do (DigitalOcean v2) or ec2")
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen at")
	backend := flag.String("backend", "loopback", "what backs instances: loopback or kit")
	urlFile := flag.String("url-file", "", "write the base URL to this file")
	flag.Parse()
	if err := run(*cloud, *addr, *backend, *urlFile); err != nil {
		fmt.Fprintln(os.Stderr, "fakecloud:", err)
		os.Exit(1)
	}
}

func run(cloud, addr, backend, urlFile string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %s: only loopback addresses", addr)
	}
	var be fakecloud.Backend
	switch backend {
	case "loopback":
		be = fakecloud.Loopback{}
	case "kit":
		be = &fakecloud.Kit{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}
	default:
		return fmt.Errorf("-backend %q: loopback or kit", backend)
	}
	var h http.Handler
	var closeFn func()
	var suffix string
	switch cloud {
	case "do":
		s := &dofake.Server{}
		s.Fleet.Backend = be
		h, closeFn, suffix = s, s.Close, "/"
		fmt.Printf("DIGITALOCEAN_ACCESS_TOKEN=%s\n", dofake.Token)
	case "ec2":
		s := &ec2fake.Server{}
		s.Fleet.Backend = be
		h, closeFn = s, s.Close
		fmt.Printf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", ec2fake.AccessKey, ec2fake.SecretKey)
	default:
		return fmt.Errorf("-cloud %q: do or ec2", cloud)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	url := "http://" + l.Addr().String() + suffix
	fmt.Println(url)
	if urlFile != "" {
		if err := os.WriteFile(urlFile, []byte(url+"\n"), 0o644); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: h}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case <-sig:
	case err := <-done:
		closeFn()
		return err
	}
	_ = srv.Close()
	closeFn()
	return nil
}
