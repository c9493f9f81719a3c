package qemu

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/docker-machine-ng/machine/internal/testutil"
	"golang.org/x/crypto/ssh"
)

// The test binary doubles as a fake qemu-system and qemu-img when it is
// run under those names (tests symlink it into a directory and pass that
// directory's qemu-system-* as --qemu-binary; the driver takes qemu-img
// from the same directory). The fake VM behaves like qemu -daemonize: the
// process the driver starts launches the VM process in a session of its
// own, waits until it is ready and exits 0; the VM process writes the pid
// file, serves the forwarded ports and keeps every descriptor it
// inherited, as qemu does. Behind the SSH port is a scripted Debian guest
// that has Docker installed; behind the engine port a TLS daemon stand-in
// that answers /_ping and /version with the machine directory's server
// certificate, so the CLI's create, start and restart complete their
// provisioning against it in a second or two.
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case "qemu-img":
		os.Exit(fakeQemuImg(os.Args[1:]))
	case DefaultBinary(ArchAMD64), DefaultBinary(ArchARM64):
		os.Exit(fakeQemu(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeVMEnv marks the VM process of the fake qemu.
const fakeVMEnv = "DOCKER_MACHINE_FAKE_QEMU_VM"

// fakeHostKeyFile keeps the fake guest's SSH host key in the machine
// directory, so the pinned key still matches after a restart.
const fakeHostKeyFile = "fake-qemu-host-key"

// fakeQemuImg implements the two qemu-img commands the driver runs.
func fakeQemuImg(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "fake qemu-img: no command")
		return 1
	}
	switch args[0] {
	case "info":
		fmt.Println(`{"format": "qcow2", "virtual-size": 1073741824}`)
		return 0
	case "create":
		// create -q -f qcow2 -F <fmt> -b <base> <overlay> <size>
		if len(args) < 3 {
			fmt.Fprintln(os.Stderr, "fake qemu-img create: missing arguments")
			return 1
		}
		if err := os.WriteFile(args[len(args)-2], []byte("fake overlay\n"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "fake qemu-img: unsupported command %q\n", args[0])
	return 1
}

// fakeVMConfig is what the fake reads from qemu's command line.
type fakeVMConfig struct {
	pidFile, console string
	sshAddr, engine  string
	daemonize        bool
}

func parseFakeArgs(args []string) (fakeVMConfig, error) {
	var c fakeVMConfig
	for i := 0; i < len(args); i++ {
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch args[i] {
		case "-daemonize":
			c.daemonize = true
		case "-pidfile":
			c.pidFile = next()
		case "-serial":
			c.console = strings.TrimPrefix(next(), "file:")
		case "-netdev":
			for _, opt := range strings.Split(next(), ",") {
				// hostfwd=tcp:<ip>:<port>-:<guest port>
				fwd, ok := strings.CutPrefix(opt, "hostfwd=tcp:")
				if !ok {
					continue
				}
				host, guest, _ := strings.Cut(fwd, "-:")
				switch guest {
				case "22":
					c.sshAddr = host
				case "2376":
					c.engine = host
				}
			}
		}
	}
	if c.pidFile == "" || c.sshAddr == "" || c.engine == "" {
		return c, fmt.Errorf("fake qemu needs -pidfile and SSH and engine forwards: %q", args)
	}
	return c, nil
}

func fakeQemu(args []string) int {
	c, err := parseFakeArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv(fakeVMEnv) != "" {
		return runFakeVM(c)
	}
	if !c.daemonize {
		fmt.Fprintln(os.Stderr, "fake qemu: only -daemonize is supported")
		return 1
	}
	// Daemonize: the same command line in a new session, reporting
	// readiness (or its error) on its stdout. Descriptors this process
	// inherited pass on to it, as they do to a forked qemu.
	vm := exec.Command(os.Args[0], args...)
	vm.Env = append(os.Environ(), fakeVMEnv+"=1")
	vm.SysProcAttr = detached()
	out, err := vm.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := vm.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		fmt.Fprintf(os.Stderr, "fake qemu: %s\n", strings.TrimSpace(line))
		return 1
	}
	return 0
}

// runFakeVM is the daemonized VM process.
func runFakeVM(c fakeVMConfig) int {
	fail := func(err error) int {
		fmt.Printf("error: %v\n", err)
		return 1
	}
	dir := filepath.Dir(c.pidFile)
	signer, err := testutil.HostKey(filepath.Join(dir, fakeHostKeyFile))
	if err != nil {
		return fail(err)
	}
	sshLn, err := net.Listen("tcp", c.sshAddr)
	if err != nil {
		return fail(err)
	}
	engineLn, err := net.Listen("tcp", c.engine)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(c.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if c.console != "" {
		_ = os.WriteFile(c.console, []byte("fake qemu: guest booted\n"), 0o600)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			data, err := os.ReadFile(filepath.Join(dir, KeyFile+".pub"))
			if err != nil {
				return nil, err
			}
			want, _, _, _, err := ssh.ParseAuthorizedKey(data)
			if err != nil {
				return nil, err
			}
			if string(want.Marshal()) != string(key.Marshal()) {
				return nil, errors.New("unknown key")
			}
			return nil, nil
		},
	}
	cfg.AddHostKey(signer)
	go serveFakeSSH(sshLn, cfg, fakeGuest(filepath.Base(dir)))
	go serveFakeEngine(engineLn, dir)
	// Ready: qemu -daemonize lets its parent exit and detaches from the
	// standard streams (/dev/null), keeping every other descriptor.
	fmt.Println("ready")
	stdoutToDevNull()
	select {} // until SIGTERM or SIGKILL
}

// fakeGuest answers the remote commands of provisioning (command line and
// stdin script together): the host probe
// describes a Debian 12 host named like the machine with Docker
// installed and running; every other command (the SSH wait, the
// configure script that writes certificates and restarts Docker)
// succeeds silently.
func fakeGuest(name string) func(cmd string) (string, uint32) {
	probe := strings.Join([]string{
		"@@os-release",
		`PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`,
		"ID=debian",
		`VERSION_ID="12"`,
		"",
		"@@hostname", name,
		"@@etc-hostname", name,
		"",
		"@@hosts", "present",
		"@@dockerd", "/usr/sbin/dockerd",
		"@@docker", "/usr/bin/docker",
		"@@tools", "curl", "systemctl", "base64", "sha256sum",
		"@@service", "active=active", "enabled=enabled",
		"@@sums",
		"@@end",
	}, "\n") + "\n"
	return func(cmd string) (string, uint32) {
		if strings.Contains(cmd, "echo @@os-release") {
			return probe, 0
		}
		return "", 0
	}
}

func serveFakeSSH(l net.Listener, cfg *ssh.ServerConfig, guest func(string) (string, uint32)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
			if err != nil {
				c.Close()
				return
			}
			defer sc.Close()
			go ssh.DiscardRequests(reqs)
			for nc := range chans {
				if nc.ChannelType() != "session" {
					nc.Reject(ssh.UnknownChannelType, "sessions only")
					continue
				}
				ch, creqs, err := nc.Accept()
				if err != nil {
					continue
				}
				go fakeSession(ch, creqs, guest)
			}
		}()
	}
}

func fakeSession(ch ssh.Channel, reqs <-chan *ssh.Request, guest func(string) (string, uint32)) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			// Provisioning sends its scripts on stdin (the command line
			// is fixed); the client closes stdin after them.
			script, _ := io.ReadAll(ch)
			out, status := guest(p.Command + "\n" + string(script))
			io.WriteString(ch, out)
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		case "env", "pty-req":
			req.Reply(true, nil)
		default:
			req.Reply(false, nil)
		}
	}
}

// serveFakeEngine answers like dockerd with --tlsverify: mutual TLS with
// the machine directory's CA and server certificate (read at every
// handshake: provisioning writes them after the VM started).
func serveFakeEngine(l net.Listener, dir string) {
	cfg := &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
			if err != nil {
				return nil, err
			}
			ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			return &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}, nil
		},
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/_ping":
				io.WriteString(w, "OK")
			case "/version":
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"Version":"20.10.24-fake","ApiVersion":"1.41"}`)
			default:
				http.NotFound(w, r)
			}
		}),
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
	srv.Serve(tls.NewListener(l, cfg))
}
