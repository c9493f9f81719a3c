package sshtest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Proxy is a loopback TCP proxy that counts the connections it accepts.
// Its target can be switched (to simulate a host whose key changed) and
// its connections dropped (to simulate a lost connection).
type Proxy struct {
	Host string
	Port int

	l net.Listener

	mu       sync.Mutex
	target   string
	accepted int
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
	accepts  chan struct{}
}

// StartProxy listens on 127.0.0.1 and forwards to target; it is closed by
// t.Cleanup.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: proxy: %v", err)
	}
	a := l.Addr().(*net.TCPAddr)
	p := &Proxy{Host: a.IP.String(), Port: a.Port, l: l, target: target, conns: map[net.Conn]struct{}{}, accepts: make(chan struct{}, 1024)}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Addr returns host:port of the proxy.
func (p *Proxy) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// Accepted returns how many client connections were accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Accepts receives a value for every accepted client connection (the
// first 1024 not yet received are kept), sent after the connection is
// counted and before the proxy dials the target: a test can wait for a
// client's attempt and change the target for the next one.
func (p *Proxy) Accepts() <-chan struct{} { return p.accepts }

// SetTarget changes where new connections go.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// DropAll closes every open proxied connection.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Close stops listening, drops the connections and waits for the copiers.
func (p *Proxy) Close() {
	p.l.Close()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.DropAll()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add && p.closed {
		c.Close()
	} else if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		target := p.target
		p.mu.Unlock()
		select {
		case p.accepts <- struct{}{}:
		default:
		}
		p.wg.Add(1)
		go p.handle(c, target)
	}
}

func (p *Proxy) handle(c net.Conn, target string) {
	defer p.wg.Done()
	defer c.Close()
	u, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer u.Close()
	p.track(c, true)
	p.track(u, true)
	defer p.track(c, false)
	defer p.track(u, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
	<-done
}
