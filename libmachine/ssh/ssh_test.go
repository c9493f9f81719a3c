package ssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

var kinds = []ssh.ClientType{ssh.Native, ssh.External}

// targetFor addresses srv (or, with a non-nil proxy, srv through it).
func targetFor(srv *sshtest.Server, proxy *sshtest.Proxy, knownHosts string, policy ssh.HostKeyPolicy) ssh.Target {
	host, port := srv.Host, srv.Port
	if proxy != nil {
		host, port = proxy.Host, proxy.Port
	}
	return ssh.Target{
		User:           srv.User,
		Host:           host,
		Port:           port,
		KeyPaths:       []string{srv.ClientKeyPath},
		KnownHostsFile: knownHosts,
		HostKeyPolicy:  policy,
		ConnectTimeout: 5 * time.Second,
	}
}

// pinnedFile writes a known_hosts file pinning srv's key for addr.
func pinnedFile(t *testing.T, srv *sshtest.Server, addr string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(p, []byte(srv.KnownHostsLine(addr)+"\n"), 0o600))
	return p
}

func newClient(t *testing.T, kind ssh.ClientType, tgt ssh.Target) ssh.Client {
	t.Helper()
	c, err := ssh.NewClient(kind, tgt)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCommandsAndExitCodes(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			c := newClient(t, kind, targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify))

			out, err := c.Output("echo out; echo err >&2")
			require.NoError(t, err)
			// Two SSH streams: both arrive, their interleaving is not defined.
			assert.ElementsMatch(t, []string{"out", "err"}, strings.Fields(out), "stdout and stderr combined")

			out, err = c.Output("echo partial; exit 7")
			var ee *ssh.ExitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 7, ee.Code)
			assert.Equal(t, "echo partial; exit 7", ee.Cmd)
			assert.Equal(t, "partial\n", ee.Output)
			assert.Equal(t, "partial\n", out)
			assert.Equal(t, "ssh command error:\ncommand : echo partial; exit 7\nerr     : exit status 7\noutput  : partial\n", err.Error())

			var stdout, stderr bytes.Buffer
			err = c.Run("cat; echo to-stderr >&2", strings.NewReader("from stdin"), &stdout, &stderr)
			require.NoError(t, err)
			assert.Equal(t, "from stdin", stdout.String())
			assert.Equal(t, "to-stderr\n", stderr.String())

			err = c.Run("exit 3", nil, nil, nil)
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 3, ee.Code)

			// Shell with args runs them (stdin of `go test` is not a terminal).
			err = c.Shell("exit", "5")
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 5, ee.Code)
			require.NoError(t, c.Shell("true"))
		})
	}
}

func TestRequestTTY(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			tgt := targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify)
			tgt.RequestTTY = true
			out, err := newClient(t, kind, tgt).Output("tty -s && echo has-tty")
			require.NoError(t, err)
			assert.Contains(t, out, "has-tty")
		})
	}
}

func TestOneConnectionForManyCommands(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			proxy := sshtest.StartProxy(t, srv.Addr())
			c := newClient(t, kind, targetFor(srv, proxy, pinnedFile(t, srv, proxy.Addr()), ssh.HostKeyVerify))
			for i := 0; i < 5; i++ {
				out, err := c.Output("echo " + strconv.Itoa(i))
				require.NoError(t, err)
				assert.Equal(t, strconv.Itoa(i)+"\n", out)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- c.Run("true", nil, nil, nil)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			assert.Equal(t, 1, proxy.Accepted(), "TCP connections through the proxy")
			if nc, ok := c.(*ssh.NativeClient); ok {
				assert.Equal(t, 1, nc.Dials())
			}
			if ec, ok := c.(*ssh.ExternalClient); ok {
				dir := filepath.Dir(ec.ControlPath())
				fi, err := os.Stat(dir)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
				require.NoError(t, c.Close())
				_, err = os.Stat(dir)
				assert.ErrorIs(t, err, fs.ErrNotExist, "Close removes the control directory")
				_, err = c.Output("true")
				assert.Error(t, err, "closed client")
			}
		})
	}
}

func TestNativeRedialsLostConnection(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	proxy := sshtest.StartProxy(t, srv.Addr())
	c, err := ssh.NewNativeClient(targetFor(srv, proxy, pinnedFile(t, srv, proxy.Addr()), ssh.HostKeyVerify))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Output("true")
	require.NoError(t, err)
	proxy.DropAll()
	out, err := c.Output("echo again")
	require.NoError(t, err)
	assert.Equal(t, "again\n", out)
	assert.Equal(t, 2, c.Dials())
	assert.Equal(t, 2, proxy.Accepted())
}

func TestRecordThenVerify(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	for _, recorder := range kinds {
		t.Run("recorded by "+string(recorder), func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "machine", "known_hosts")
			rc := newClient(t, recorder, targetFor(srv, nil, kh, ssh.HostKeyRecord))
			_, err := rc.Output("true")
			require.NoError(t, err)
			_, err = rc.Output("true") // recording happens once
			require.NoError(t, err)
			require.NoError(t, rc.Close())

			fi, err := os.Stat(kh)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			data, err := os.ReadFile(kh)
			require.NoError(t, err)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			require.Len(t, lines, 1, string(data))
			_, hosts, key, _, _, err := xssh.ParseKnownHosts([]byte(lines[0]))
			require.NoError(t, err)
			assert.Equal(t, []string{knownhosts.Normalize(srv.Addr())}, hosts)
			assert.Equal(t, srv.HostKey().Marshal(), key.Marshal())

			for _, kind := range kinds {
				out, err := newClient(t, kind, targetFor(srv, nil, kh, ssh.HostKeyVerify)).Output("echo verified")
				require.NoError(t, err, "%s client verifying", kind)
				assert.Equal(t, "verified\n", out)
			}
			after, err := os.ReadFile(kh)
			require.NoError(t, err)
			assert.Equal(t, data, after, "verify does not modify the file")
		})
	}
}

func TestRecordConcurrentWaiters(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	tgt := targetFor(srv, nil, kh, ssh.HostKeyRecord)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ssh.WaitForSSH(context.Background(), tgt, 10*time.Second)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	data, err := os.ReadFile(kh)
	require.NoError(t, err)
	assert.Equal(t, srv.KnownHostsLine("")+"\n", string(data), "exactly one recorded line")
	_, err = os.Stat(kh + ".lock")
	assert.ErrorIs(t, err, fs.ErrNotExist, "lock file cleaned up")
}

func TestChangedHostKeyIsRefused(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, ssh.WaitForSSH(context.Background(), targetFor(srv, nil, kh, ssh.HostKeyRecord), 10*time.Second))

	data, err := os.ReadFile(kh)
	require.NoError(t, err)
	oldLine := string(data)
	proxy := sshtest.StartProxy(t, srv.Addr())
	oldProxyLine := srv.KnownHostsLine(proxy.Addr()) + "\n"

	// The "machine" is rebuilt: same address, new host key.
	require.NoError(t, srv.RegenerateHostKey())
	require.NoError(t, srv.Restart())

	for _, policy := range []ssh.HostKeyPolicy{ssh.HostKeyVerify, ssh.HostKeyRecord} {
		for _, kind := range kinds {
			t.Run(fmt.Sprintf("%s/%s", kind, policy), func(t *testing.T) {
				_, err := newClient(t, kind, targetFor(srv, nil, kh, policy)).Output("true")
				require.ErrorIs(t, err, ssh.ErrHostKeyChanged)
				assert.NotErrorIs(t, err, ssh.ErrHostKeyUnknown)
				assert.Contains(t, err.Error(), "host key for "+srv.Addr()+" does not match the key pinned in "+kh)
				assert.Contains(t, err.Error(), "refusing to connect")
				var ee *ssh.ExitError
				assert.False(t, errors.As(err, &ee), "not a remote exit")
			})
		}
	}

	// WaitForSSH does not retry a refused key: through a counting proxy
	// (its address pinned with the old key too), one connection, and the
	// error is the key's, not the timeout's.
	khProxy := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(khProxy, []byte(oldProxyLine), 0o600))
	err = ssh.WaitForSSH(context.Background(), targetFor(srv, proxy, khProxy, ssh.HostKeyVerify), time.Minute)
	require.ErrorIs(t, err, ssh.ErrHostKeyChanged)
	assert.NotContains(t, err.Error(), "timed out")
	assert.Equal(t, 1, proxy.Accepted(), "connections: no retry after the key was refused")

	data, err = os.ReadFile(kh)
	require.NoError(t, err)
	assert.Equal(t, oldLine, string(data), "pinned key left alone")
}

func TestVerifyWithoutPinnedKey(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	other := filepath.Join(t.TempDir(), "known_hosts_other")
	// A file pinning the same key for another address only.
	require.NoError(t, os.WriteFile(other, []byte(srv.KnownHostsLine("127.0.0.9:22")+"\n"), 0o600))
	files := map[string]string{
		"missing file":     filepath.Join(t.TempDir(), "known_hosts"),
		"other hosts only": other,
	}
	for name, kh := range files {
		for _, kind := range kinds {
			t.Run(name+"/"+string(kind), func(t *testing.T) {
				before, _ := os.ReadFile(kh)
				_, err := newClient(t, kind, targetFor(srv, nil, kh, ssh.HostKeyVerify)).Output("true")
				require.ErrorIs(t, err, ssh.ErrHostKeyUnknown)
				assert.Contains(t, err.Error(), "no host key for "+srv.Addr()+" is pinned in "+kh)
				after, _ := os.ReadFile(kh)
				assert.Equal(t, before, after, "file untouched")
			})
		}
	}
	t.Run("no file configured", func(t *testing.T) {
		for _, kind := range kinds {
			c, err := ssh.NewClient(kind, targetFor(srv, nil, "", ssh.HostKeyVerify))
			if err == nil {
				_, err = c.Output("true")
				c.Close()
			}
			assert.ErrorIs(t, err, ssh.ErrNoKnownHostsFile, kind)
		}
	})
}

func TestInsecurePolicy(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	for _, kind := range kinds {
		out, err := newClient(t, kind, targetFor(srv, nil, "", ssh.HostKeyInsecure)).Output("echo ok")
		require.NoError(t, err, kind)
		assert.Equal(t, "ok\n", out)
	}
}

func TestWaitForSSHTimeoutReportsLastError(t *testing.T) {
	// A listener that accepts and never speaks, like a VM's port forward
	// before the guest's sshd is up.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})

	tests := []struct {
		name    string
		port    int
		want    string
		wantErr error
	}{
		{"connection refused", sshtest.RefusedPort(t, "127.0.0.1"), "connection refused", syscall.ECONNREFUSED},
		{"no banner", silent.Addr().(*net.TCPAddr).Port, "ssh handshake with 127.0.0.1:%d timed out after 300ms", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt := ssh.Target{User: "root", Host: "127.0.0.1", Port: tt.port, HostKeyPolicy: ssh.HostKeyInsecure,
				ConnectTimeout: 300 * time.Millisecond}
			start := time.Now()
			err := ssh.WaitForSSH(context.Background(), tgt, time.Second)
			elapsed := time.Since(start)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("timed out after 1s waiting for SSH on 127.0.0.1:%d: ", tt.port)), err.Error())
			want := tt.want
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, tt.port)
			}
			assert.Contains(t, err.Error(), want)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.NotContains(t, err.Error(), "too many retries")
			assert.NotContains(t, err.Error(), "context deadline exceeded")
			// It waited for its whole timeout (load only makes that
			// longer), and gave up (the bound catches a wait that
			// ignores the timeout, not a slow machine).
			assert.GreaterOrEqual(t, elapsed, time.Second)
			assert.Less(t, elapsed, 30*time.Second)
		})
	}
}

func TestWaitForSSHContextCancel(t *testing.T) {
	// A port that accepts and resets every connection: each attempt is an
	// event the test sees. The context is cancelled when the second
	// attempt arrives, so the first one's failure is the last real error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	attempts := make(chan struct{}, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0) // close with a reset
			c.Close()
			attempts <- struct{}{}
		}
	}()
	tgt := ssh.Target{User: "root", Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, HostKeyPolicy: ssh.HostKeyInsecure}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-attempts
		<-attempts
		cancel()
	}()
	err = ssh.WaitForSSH(ctx, tgt, time.Hour)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotContains(t, err.Error(), "timed out", "cancelled, not timed out")
	assert.Regexp(t, `connection reset by peer|EOF`, err.Error(), "keeps the last real error")
}

func TestWaitForSSHServerComesUpLater(t *testing.T) {
	// The client connects through a proxy whose target is at first a
	// port that refuses; once the first attempt arrived (and failed),
	// sshd starts and the proxy forwards to it.
	srv := sshtest.New(t, sshtest.Config{})
	proxy := sshtest.StartProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(sshtest.RefusedPort(t, "127.0.0.1"))))
	kh := filepath.Join(t.TempDir(), "known_hosts")
	tgt := targetFor(srv, proxy, kh, ssh.HostKeyRecord)
	started := make(chan error, 1)
	go func() {
		<-proxy.Accepts()
		err := srv.Start()
		proxy.SetTarget(srv.Addr())
		started <- err
	}()
	err := ssh.WaitForSSH(context.Background(), tgt, time.Minute)
	require.NoError(t, err)
	require.NoError(t, <-started)
	assert.GreaterOrEqual(t, proxy.Accepted(), 2, "the first attempt failed, a later one got through")
	data, err := os.ReadFile(kh)
	require.NoError(t, err)
	assert.Equal(t, srv.KnownHostsLine(proxy.Addr())+"\n", string(data), "Record policy pinned the key while waiting")
}

func TestGenerateKeyPair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	require.NoError(t, ssh.GenerateKeyPair(key))

	for _, p := range []string{key, key + ".pub"} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}
	priv, err := os.ReadFile(key)
	require.NoError(t, err)
	block, _ := pem.Decode(priv)
	require.NotNil(t, block)
	assert.Equal(t, "OPENSSH PRIVATE KEY", block.Type)
	pubFile, err := os.ReadFile(key + ".pub")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(pubFile), "ssh-ed25519 "))
	assert.True(t, strings.HasSuffix(string(pubFile), "\n"))

	line, err := ssh.PublicKey(key)
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(pubFile)), line)

	err = ssh.GenerateKeyPair(key)
	assert.ErrorIs(t, err, fs.ErrExist)
	after, _ := os.ReadFile(key)
	assert.Equal(t, priv, after, "existing key not overwritten")

	require.NoError(t, os.Remove(key+".pub"))
	assert.ErrorIs(t, ssh.GenerateKeyPair(key), fs.ErrExist, "private key alone also blocks")
	derived, err := ssh.PublicKey(key)
	require.NoError(t, err)
	assert.Equal(t, line, derived, "derived from the private key")

	srv := sshtest.Start(t, sshtest.Config{})
	require.NoError(t, srv.Authorize(line))
	for _, kind := range kinds {
		tgt := targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify)
		tgt.KeyPaths = []string{key}
		out, err := newClient(t, kind, tgt).Output("echo generated")
		require.NoError(t, err, kind)
		assert.Equal(t, "generated\n", out)
	}
}

func TestLegacyRSAKey(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	key := filepath.Join(t.TempDir(), "id_rsa")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	require.NoError(t, os.WriteFile(key, pemBytes, 0o600))
	pub, err := xssh.NewPublicKey(&rk.PublicKey)
	require.NoError(t, err)
	require.NoError(t, srv.Authorize(string(xssh.MarshalAuthorizedKey(pub))))

	line, err := ssh.PublicKey(key)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(line, "ssh-rsa "))

	// OpenSSH 9 refuses ssh-rsa (SHA-1) signatures: success means rsa-sha2.
	for _, kind := range kinds {
		tgt := targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify)
		tgt.KeyPaths = []string{key}
		out, err := newClient(t, kind, tgt).Output("echo rsa")
		require.NoError(t, err, kind)
		assert.Equal(t, "rsa\n", out)
	}
}

// serveAgent serves an in-process agent keyring on a unix socket and
// points SSH_AUTH_SOCK at it for this test.
func serveAgent(t *testing.T, keys ...any) {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		require.NoError(t, kr.Add(agent.AddedKey{PrivateKey: k}))
	}
	dir, err := os.MkdirTemp("", "agent")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = agent.ServeAgent(kr, c)
			}()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
}

func TestAgentAuth(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Config{})
	pubKey, privKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pub, err := xssh.NewPublicKey(pubKey)
	require.NoError(t, err)
	require.NoError(t, srv.Authorize(string(xssh.MarshalAuthorizedKey(pub))))
	t.Setenv("HOME", t.TempDir()) // no default keys for the external ssh

	tgt := targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify)
	tgt.KeyPaths = nil

	t.Run("agent holds the key", func(t *testing.T) {
		serveAgent(t, privKey)
		for _, kind := range kinds {
			out, err := newClient(t, kind, tgt).Output("echo agent")
			require.NoError(t, err, kind)
			assert.Equal(t, "agent\n", out)
		}
	})
	t.Run("empty agent", func(t *testing.T) {
		serveAgent(t)
		for _, kind := range kinds {
			_, err := newClient(t, kind, tgt).Output("true")
			require.Error(t, err, kind)
			var ee *ssh.ExitError
			assert.False(t, errors.As(err, &ee), "auth failure is a transport error: %v", err)
		}
	})
}

func TestExternalArgs(t *testing.T) {
	t.Parallel()
	base := ssh.Target{
		User:           "docker",
		Host:           "127.0.0.5",
		Port:           2222,
		KeyPaths:       []string{"/store/machines/m/id_rsa"},
		KnownHostsFile: "/store/machines/m/known_hosts",
	}
	common := []string{"-F", "/dev/null", "-o", "ConnectionAttempts=3", "-o", "ConnectTimeout=10",
		"-o", "ControlMaster=no", "-o", "ControlPath=none",
		"-o", "LogLevel=ERROR", "-o", "PasswordAuthentication=no", "-o", "ServerAliveInterval=60"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		t    func(ssh.Target) ssh.Target
		args []string
		want []string
	}{
		{
			name: "verify with key",
			t:    func(t ssh.Target) ssh.Target { return t },
			want: cat(common, []string{"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/store/machines/m/known_hosts",
				"-o", "GlobalKnownHostsFile=/dev/null", "docker@127.0.0.5",
				"-o", "IdentitiesOnly=yes", "-i", "/store/machines/m/id_rsa", "-p", "2222"}),
		},
		{
			name: "record, tty, extra args",
			t: func(t ssh.Target) ssh.Target {
				t.HostKeyPolicy = ssh.HostKeyRecord
				t.RequestTTY = true
				return t
			},
			args: []string{"-L", "8080:localhost:80", "uptime"},
			want: cat(common, []string{"-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile=/store/machines/m/known_hosts",
				"-o", "GlobalKnownHostsFile=/dev/null", "docker@127.0.0.5",
				"-o", "IdentitiesOnly=yes", "-i", "/store/machines/m/id_rsa", "-p", "2222", "-tt", "-L", "8080:localhost:80", "uptime"}),
		},
		{
			name: "insecure, agent, default port",
			t: func(t ssh.Target) ssh.Target {
				t.HostKeyPolicy = ssh.HostKeyInsecure
				t.KeyPaths = nil
				t.Port = 0
				return t
			},
			want: cat(common, []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
				"docker@127.0.0.5", "-p", "22"}),
		},
		{
			name: "paths needing quoting",
			t: func(t ssh.Target) ssh.Target {
				t.KnownHostsFile = "/My Store/m/known_hosts"
				t.KeyPaths = []string{"/My Store/m/id_rsa", "/odd/100%/key"}
				t.ConnectTimeout = 2500 * time.Millisecond
				return t
			},
			want: func() []string {
				c := append([]string(nil), common...)
				c[5] = "ConnectTimeout=3"
				return cat(c, []string{"-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile="/My Store/m/known_hosts"`,
					"-o", "GlobalKnownHostsFile=/dev/null", "docker@127.0.0.5",
					"-o", "IdentitiesOnly=yes", "-i", "/My Store/m/id_rsa", "-o", "IdentityFile=/odd/100%%/key", "-p", "2222"})
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ssh.ExternalArgs(tt.t(base), tt.args...))
		})
	}

	assert.Equal(t, []string{
		"-o", "ConnectionAttempts=3", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		"-o", "PasswordAuthentication=no", "-o", "ServerAliveInterval=60",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/store/machines/m/known_hosts",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/store/machines/m/id_rsa", "-o", "Port=2222",
	}, ssh.ExternalOptions(base))
}

// TestExternalOptionsWithScp checks that the exported options drive a
// real scp (and so rsync/sshfs) with the same pinning policy.
func TestExternalOptionsWithScp(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	kh := pinnedFile(t, srv, "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src file")
	require.NoError(t, os.WriteFile(src, []byte("payload"), 0o600))
	dst := filepath.Join(dir, "dst")

	tgt := targetFor(srv, nil, kh, ssh.HostKeyVerify)
	args := append([]string{"-F", "/dev/null"}, ssh.ExternalOptions(tgt)...)
	args = append(args, src, "root@"+srv.Host+":"+dst)
	out, err := execCommand("scp", args...)
	require.NoError(t, err, out)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "payload", string(got))

	// Same options with a known_hosts pinning another key: refused.
	other := sshtest.New(t, sshtest.Config{})
	tgt.KnownHostsFile = pinnedFile(t, other, srv.Addr())
	args = append([]string{"-F", "/dev/null"}, ssh.ExternalOptions(tgt)...)
	args = append(args, src, "root@"+srv.Host+":"+dst+".2")
	out, err = execCommand("scp", args...)
	require.Error(t, err)
	assert.Contains(t, out, "Host key verification failed")
}

func TestCheckKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	open := filepath.Join(dir, "open")
	unreadable := filepath.Join(dir, "unreadable")
	private := filepath.Join(dir, "private")
	require.NoError(t, os.WriteFile(open, nil, 0o644))
	require.NoError(t, os.WriteFile(unreadable, nil, 0o200))
	require.NoError(t, os.WriteFile(private, nil, 0o600))
	require.NoError(t, os.Chmod(open, 0o644))

	assert.EqualError(t, ssh.CheckKeyFile(missing), "'"+missing+"' is not readable")
	assert.EqualError(t, ssh.CheckKeyFile(unreadable), "'"+unreadable+"' is not readable")
	assert.EqualError(t, ssh.CheckKeyFile(open), "permissions 0644 for '"+open+"' are too open")
	assert.NoError(t, ssh.CheckKeyFile(private))

	_, err := ssh.NewClient(ssh.External, ssh.Target{Host: "127.0.0.1", KeyPaths: []string{open}, HostKeyPolicy: ssh.HostKeyInsecure})
	assert.EqualError(t, err, "permissions 0644 for '"+open+"' are too open")
}

func TestChooseClientType(t *testing.T) {
	assert.Equal(t, ssh.Native, ssh.ChooseClientType(true))
	assert.Equal(t, ssh.External, ssh.ChooseClientType(false), "openssh-client is installed here")
	t.Setenv("PATH", t.TempDir())
	assert.Equal(t, ssh.Native, ssh.ChooseClientType(false))
}

func TestExitErrorMessage(t *testing.T) {
	t.Parallel()
	err := &ssh.ExitError{Code: 2, Cmd: "ls /nope", Output: "ls: cannot access '/nope'"}
	assert.Equal(t, "ssh command error:\ncommand : ls /nope\nerr     : exit status 2\noutput  : ls: cannot access '/nope'", err.Error())
}

func execCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// A machine's pin: recorded on first use (no file, or an empty one),
// verified once a key is in it.
func TestPinPolicy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	assert.Equal(t, ssh.HostKeyRecord, ssh.PinPolicy(file), "no file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	assert.Equal(t, ssh.HostKeyRecord, ssh.PinPolicy(file), "an empty file")
	require.NoError(t, os.WriteFile(file, []byte("[127.0.0.1]:2222 ssh-ed25519 AAAA\n"), 0o600))
	assert.Equal(t, ssh.HostKeyVerify, ssh.PinPolicy(file), "a pinned key")
}
