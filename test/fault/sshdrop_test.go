package fault_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// proxy forwards TCP connections from a loopback address to target. A
// fault armed with cutAfter closes the first connection that carries that
// many bytes (both directions counted) in the middle of its stream, once.
type proxy struct {
	l      net.Listener
	target string

	mu       sync.Mutex
	cutAfter int64 // 0: no fault armed
	cuts     int
	conns    int
	maxBytes int64 // the largest connection so far
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, l net.Listener, target string) *proxy {
	p := &proxy{l: l, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

// arm sets the fault for the next connections.
func (p *proxy) arm(cutAfter int64) {
	p.mu.Lock()
	p.cutAfter = cutAfter
	p.mu.Unlock()
}

func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.conns++
	p.mu.Unlock()
	var (
		mu    sync.Mutex
		total int64
		cut   bool
	)
	count := func(n int) bool { // false: cut now
		mu.Lock()
		defer mu.Unlock()
		total += int64(n)
		p.mu.Lock()
		defer p.mu.Unlock()
		if total > p.maxBytes {
			p.maxBytes = total
		}
		if cut || (p.cutAfter > 0 && total >= p.cutAfter) {
			if !cut {
				p.cutAfter = 0 // once
				p.cuts++
			}
			cut = true
			return false
		}
		return true
	}
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if !count(n) {
					c.Close()
					up.Close()
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
	done := make(chan struct{})
	go func() { pump(up, c); close(done) }()
	pump(c, up)
	<-done
}

// listenPair listens on one free 127.0.7.N address: an ephemeral port
// for SSH and 2376 for Docker.
func listenPair(t *testing.T, rng *rand.Rand) (sshL, dockerL net.Listener) {
	t.Helper()
	for range 50 {
		ip := fmt.Sprintf("127.0.7.%d", 1+rng.IntN(254))
		d, err := net.Listen("tcp", ip+":2376")
		if err != nil {
			continue
		}
		s, err := net.Listen("tcp", ip+":0")
		if err != nil {
			d.Close()
			continue
		}
		return s, d
	}
	t.Fatal("no free 127.0.7.N address with port 2376")
	return nil, nil
}

var sshFailure = regexp.MustCompile(`(?i)ssh|connection (reset|closed|lost)|EOF|broken pipe`)

// TestSSHDroppedMidProvisioning puts a proxy of its own between the
// binary and a kit host's sshd and cuts the SSH connection once, after a
// number of bytes drawn (fixed seed) over what provisioning sends. create
// (with --keep-on-failure) and provision either retry and succeed or fail
// with a message naming the SSH failure; a second provision then
// completes and the docker CLI answers over TLS. One create without
// --keep-on-failure must roll back cleanly instead.
func TestSSHDroppedMidProvisioning(t *testing.T) {
	requireHosts(t)
	requireDocker(t)
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 11))
	h := startDockerHost(t)
	sshL, dockerL := listenPair(t, rng)
	p := startProxy(t, sshL, h.Addr())
	startProxy(t, dockerL, net.JoinHostPort(h.IP, "2376"))
	ip, port, _ := net.SplitHostPort(sshL.Addr().String())
	s := newStore(t)
	create := func(extra ...string) []string {
		args := []string{"create", "-d", "generic",
			"--generic-ip-address", ip,
			"--generic-ssh-key", h.KeyPath,
			"--generic-ssh-user", h.User,
			"--generic-ssh-port", port,
			"--engine-install-method", "none",
		}
		return append(args, extra...)
	}

	// A clean create measures what one provisioning sends.
	s.must(create("probe")...)
	s.must("rm", "-y", "probe")
	p.mu.Lock()
	total := p.maxBytes
	p.mu.Unlock()
	if total < 10000 {
		t.Fatalf("provisioning sent only %d bytes over its largest connection", total)
	}
	t.Logf("provisioning: largest SSH connection %d bytes", total)

	var retried, reported int
	outcome := func(r result, what string) bool {
		t.Helper()
		if r.code == 0 {
			retried++
			return true
		}
		reported++
		if !sshFailure.MatchString(r.stderr) {
			t.Errorf("%s failed without naming the SSH failure: %s", what, r)
		}
		return false
	}
	for i := range 4 {
		name := "d" + strconv.Itoa(i)
		cut := total/10 + rng.Int64N(total*8/10)
		p.arm(cut)
		r := s.run(create("--keep-on-failure", name)...)
		t.Logf("create %s, SSH cut after %d bytes: exit %d\n%s", name, cut, r.code, r.stderr)
		p.arm(0)
		if !outcome(r, "create") {
			if !s.machineExists(name) {
				t.Errorf("create --keep-on-failure did not keep %s", name)
				continue
			}
		}
		if r := s.run("provision", name); r.code != 0 {
			t.Errorf("the second provision of %s failed: %s", name, r)
		}
		for _, pr := range append(s.check(name).problems, s.dockerOverTLS(name)...) {
			t.Errorf("%s: %s", name, pr)
		}

		// provision itself, cut again.
		cut = total/10 + rng.Int64N(total*8/10)
		p.arm(cut)
		r = s.run("provision", name)
		p.arm(0)
		t.Logf("provision %s, SSH cut after %d bytes: exit %d\n%s", name, cut, r.code, r.stderr)
		outcome(r, "provision")
		if r := s.run("provision", name); r.code != 0 {
			t.Errorf("the provision after a cut one of %s failed: %s", name, r)
		}
		for _, pr := range append(s.check(name).problems, s.dockerOverTLS(name)...) {
			t.Errorf("%s: %s", name, pr)
		}
		s.must("rm", "-y", name)
	}

	// Without --keep-on-failure a create whose SSH is cut rolls back.
	p.arm(total / 2)
	r := s.run(create("rolled")...)
	p.arm(0)
	if r.code == 0 {
		retried++
	} else {
		reported++
		if !sshFailure.MatchString(r.stderr) {
			t.Errorf("create failed without naming the SSH failure: %s", r)
		}
		s.checkInterrupted(t, r, "rolled")
	}
	p.mu.Lock()
	cuts := p.cuts
	p.mu.Unlock()
	if cuts == 0 {
		t.Error(errors.New("the proxy never cut a connection"))
	}
	t.Logf("SSH cuts: %d; runs that retried and succeeded: %d; runs that failed naming SSH: %d", cuts, retried, reported)
	_ = io.Discard
}
