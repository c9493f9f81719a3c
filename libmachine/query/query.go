// Package query collects what `ls` and `active` show about machines:
// state, URL and Docker version, queried concurrently with a bounded pool
// and a deadline per machine.
package query

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/httplog"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
	"github.com/docker-machine-ng/machine/libmachine/state"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// Item is one `ls` row. Field names are the template fields of the
// original's `ls --format`.
type Item struct {
	Name          string
	Active        string
	ActiveHost    bool
	ActiveSwarm   bool
	DriverName    string
	State         state.State
	URL           string
	SwarmOptions  *swarm.Options
	Swarm         string
	EngineOptions *engine.Options
	Error         string
	DockerVersion string
	ResponseTime  time.Duration
}

// Options tune a query.
type Options struct {
	// Timeout bounds the work for one machine.
	Timeout time.Duration
	// Workers bounds how many machines are queried at once.
	Workers int
	// DockerHost is $DOCKER_HOST, used to decide which machine is active.
	DockerHost string
	// SkipDockerVersion leaves DockerVersion empty (for `active`).
	SkipDockerVersion bool
}

// Broken is a machine whose config could not be loaded.
type Broken struct {
	Name string
	Err  error
}

// Run queries hosts and returns one item per host and per broken machine,
// in the order given (hosts first order preserved, broken rows merged by
// the caller's sort).
func Run(ctx context.Context, hosts []*host.Host, o Options) []Item {
	defer log.Step("query-machines")(nil)
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	items := make([]Item, len(hosts))
	known := batchStates(ctx, hosts, o.Timeout)
	sem := make(chan struct{}, o.Workers)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer procutil.GuardDone(wg.Done)
			defer func() { <-sem }()
			items[i] = one(ctx, h, o, known[h])
			logItem(items[i])
		}()
	}
	wg.Wait()
	fillSwarm(items, hosts)
	return items
}

// logItem puts one machine's result into the debug trace:
// `query: NAME: STATE[, URL][, docker VERSION] in DURATION[, error: …]`.
func logItem(it Item) {
	parts := []string{it.State.String()}
	if it.URL != "" {
		parts = append(parts, it.URL)
	}
	if it.DockerVersion != "" {
		parts = append(parts, "docker "+it.DockerVersion)
	}
	line := strings.Join(parts, ", ") + " in " + log.Duration(it.ResponseTime)
	if it.Error != "" {
		line += ", error: " + it.Error
	}
	log.Debugf("query: %s: %s", it.Name, log.Shorten(line, 400))
}

// BrokenItem renders a machine that failed to load.
func BrokenItem(b Broken) Item {
	return Item{
		Name:       b.Name,
		DriverName: "not found",
		State:      state.Error,
		Error:      strings.ReplaceAll(b.Err.Error(), "\n", ""),
	}
}

// batchStates asks each driver that declares BatchState for the states
// of all its machines at once. Machines it did not answer for are asked
// one by one as usual.
func batchStates(ctx context.Context, hosts []*host.Host, timeout time.Duration) map[*host.Host]state.State {
	type group struct {
		b     drivers.StateBatcher
		hosts []*host.Host
	}
	groups := map[string]*group{}
	for _, h := range hosts {
		b, ok := h.Driver.(drivers.StateBatcher)
		if !ok || !h.Driver.Capabilities().BatchState {
			continue
		}
		g := groups[h.DriverName]
		if g == nil {
			g = &group{b: b}
			groups[h.DriverName] = g
		}
		g.hosts = append(g.hosts, h)
	}
	known := map[*host.Host]state.State{}
	if len(groups) == 0 {
		return known
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, g := range groups {
		wg.Add(1)
		go func() {
			defer procutil.GuardDone(wg.Done)
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			ds := make([]drivers.Driver, len(g.hosts))
			for i, h := range g.hosts {
				ds[i] = h.Driver
			}
			states, err := g.b.GetStates(ctx, ds)
			if err != nil {
				log.Debugf("query: %s: states of %d machines at once: %v", name, len(ds), err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range g.hosts {
				if st, ok := states[h.Name]; ok {
					known[h] = st
				}
			}
		}()
	}
	wg.Wait()
	return known
}

func one(ctx context.Context, h *host.Host, o Options, known state.State) Item {
	start := time.Now()
	deadline := start.Add(o.Timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	done := make(chan Item, 1)
	go func() {
		defer procutil.Guard()
		done <- collect(ctx, h, o, known)
	}()
	select {
	case it := <-done:
		// A result that only came because the deadline cut a call
		// short (the version query's connection expires with ctx, and
		// its timer may fire before ctx's own) is a timeout too.
		if ctx.Err() == nil && time.Now().Before(deadline) {
			it.ResponseTime = time.Since(start)
			return it
		}
	case <-ctx.Done():
		// The driver call may still be running; its result is dropped.
	}
	return Item{Name: h.Name, DriverName: h.DriverName, State: state.Timeout, ResponseTime: time.Since(start)}
}

// CollectHook, when set, is called at the start of every machine's
// query, on the pool's goroutine. Only test builds set it (commands'
// crashtest hook, to panic there); production builds never do.
var CollectHook func()

// collect queries one machine. known is its state from a batch query
// (state.None when there was none): a machine known not to run is not
// asked for its URL.
func collect(ctx context.Context, h *host.Host, o Options, known state.State) Item {
	if CollectHook != nil {
		CollectHook()
	}
	it := Item{
		Name:          h.Name,
		Active:        "-",
		DriverName:    h.DriverName,
		SwarmOptions:  h.HostOptions.SwarmOptions,
		EngineOptions: h.HostOptions.EngineOptions,
	}
	if known != state.None && known != state.Running {
		it.State = known
		return it
	}
	u, urlErr := h.Driver.GetURL(ctx)
	switch {
	case urlErr == nil && u != "":
		it.State = state.Running
		it.URL = u
	default:
		s, err := h.Driver.GetState(ctx)
		it.State = s
		if urlErr == nil {
			urlErr = err
		}
	}
	if urlErr != nil && !errors.Is(urlErr, drivers.ErrHostIsNotRunning) {
		it.Error = urlErr.Error()
	}
	if it.URL != "" && !o.SkipDockerVersion {
		v, err := DockerVersion(ctx, h, it.URL)
		if err != nil {
			it.DockerVersion = "Unknown"
			it.Error = fmt.Sprintf("Unable to query docker version: %v", err)
		} else {
			it.DockerVersion = "v" + v
		}
	}
	if it.State == state.Running && it.URL != "" {
		it.ActiveHost = o.DockerHost == it.URL
		if so := h.HostOptions.SwarmOptions; so != nil && so.Master {
			it.ActiveSwarm = o.DockerHost == SwarmURL(it.URL, so.Host)
		}
	}
	switch {
	case it.ActiveSwarm:
		it.Active = "* (swarm)"
	case it.ActiveHost:
		it.Active = "*"
	}
	return it
}

// SwarmURL replaces the port of a machine URL by the swarm host's port.
func SwarmURL(machineURL, swarmHost string) string {
	mu, err := url.Parse(machineURL)
	if err != nil {
		return ""
	}
	su, err := url.Parse(swarmHost)
	if err != nil {
		return ""
	}
	return "tcp://" + net.JoinHostPort(mu.Hostname(), su.Port())
}

func fillSwarm(items []Item, hosts []*host.Host) {
	masters := map[string]string{}
	for _, h := range hosts {
		if so := h.HostOptions.SwarmOptions; so != nil && so.Master && so.Discovery != "" {
			masters[so.Discovery] = h.Name
		}
	}
	for i, h := range hosts {
		so := h.HostOptions.SwarmOptions
		if so == nil || so.Discovery == "" || items[i].State == state.Timeout {
			continue
		}
		m := masters[so.Discovery]
		if so.Master {
			items[i].Swarm = m + " (master)"
		} else {
			items[i].Swarm = m
		}
	}
}

var (
	tlsMu    sync.Mutex
	tlsCache = map[string]*tls.Config{}
)

// clientTLS returns the TLS client configuration for the machine's CA and
// client certificate. Certificates are parsed once per process: every
// machine of a store shares them, so `ls` over many machines does not
// repeat the work.
func clientTLS(h *host.Host) (*tls.Config, error) {
	a := h.HostOptions.AuthOptions
	key := a.CaCertPath + "\x00" + a.ClientCertPath + "\x00" + a.ClientKeyPath
	tlsMu.Lock()
	defer tlsMu.Unlock()
	if c, ok := tlsCache[key]; ok {
		return c, nil
	}
	c, err := cert.ClientTLS(a)
	if err != nil {
		return nil, err
	}
	tlsCache[key] = c
	return c, nil
}

// versionTimeout bounds one version query, as the original's HTTP client.
const versionTimeout = 30 * time.Second

// DockerVersion asks the daemon at dockerURL for its version over mutual
// TLS, without API version pinning (works with every engine).
//
// It speaks HTTP/1.1 on one connection itself instead of going through
// net/http's Transport: `ls` asks every machine once, and the Transport's
// per-connection goroutines and buffers were most of the cost of a
// machine. Like the original (whose Docker client set no proxy), it dials
// the daemon directly. Transport errors read as net/http's do:
// `Get "https://ip:port/version": dial tcp ...`.
func DockerVersion(ctx context.Context, h *host.Host, dockerURL string) (_ string, err error) {
	u, err := url.Parse(dockerURL)
	if err != nil {
		return "", err
	}
	cfg, err := clientTLS(h)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	transportErr := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://" + u.Host + "/version", Err: err}
	}
	start, status := time.Now(), ""
	defer func() { httplog.Log(http.MethodGet, "https://"+u.Host+"/version", start, status, err) }()
	conn, err := cert.Dial(ctx, cfg, u)
	if err != nil {
		return "", transportErr(err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req := "GET /version HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: docker-machine\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return "", transportErr(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", transportErr(err)
	}
	defer resp.Body.Close()
	status = resp.Status
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /version: %s", resp.Status)
	}
	var v struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", fmt.Errorf("decoding /version: %w", err)
	}
	return v.Version, nil
}
