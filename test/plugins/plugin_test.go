// Package plugins tests docker-machine-ng with real third-party driver
// plugins: binaries built from the original Docker Machine's own plugin
// and none driver packages (cmd/testplugin), run through the built CLI.
package plugins

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binDir  string // the plugin binaries, put first on PATH
	machine string // the docker-machine binary
)

// plugins are the names cmd/testplugin is installed under.
var plugins = []string{"xnone", "xcrash", "xsilent", "xbadver", "xv0", "xhang", "xgeneric", "xslow"}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir = filepath.Join(tmp, "bin")
	if err := build(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// build compiles the plugin under every name and docker-machine from the
// repository root.
func build(tmp string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	goBuild := func(dir, out, pkg string) error {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
		return nil
	}
	first := filepath.Join(binDir, "docker-machine-driver-"+plugins[0])
	if err := goBuild(".", first, "./cmd/testplugin"); err != nil {
		return err
	}
	body, err := os.ReadFile(first)
	if err != nil {
		return err
	}
	for _, p := range plugins[1:] {
		if err := os.WriteFile(filepath.Join(binDir, "docker-machine-driver-"+p), body, 0o755); err != nil {
			return err
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "docker-machine")); err != nil {
		return fmt.Errorf("repository root not found: %w", err)
	}
	machine = filepath.Join(tmp, "docker-machine")
	return goBuild(root, machine, "./cmd/docker-machine")
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

type store struct {
	t    *testing.T
	root string
	path string // PATH of the commands
}

func newStore(t *testing.T) *store {
	return &store{t: t, root: t.TempDir(), path: binDir + string(os.PathListSeparator) + os.Getenv("PATH")}
}

// run runs docker-machine on the store and checks that no plugin
// process outlives it. A hung command fails the test after 2 minutes
// (a bound, not a timing assertion).
func (s *store) run(args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, machine, args...)
	cmd.Env = []string{"PATH=" + s.path, "HOME=" + s.root, "MACHINE_STORAGE_PATH=" + s.root}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("%v: %v", args, err)
	}
	if ctx.Err() != nil {
		s.t.Fatalf("%v did not end within 2 minutes\n%s", args, r)
	}
	if left := pluginProcesses(s.t); len(left) > 0 {
		s.t.Errorf("%v left plugin processes running: %v", args, left)
	}
	return r
}

func (s *store) ok(args ...string) result {
	s.t.Helper()
	r := s.run(args...)
	if r.code != 0 {
		s.t.Fatalf("%v: %s", args, r)
	}
	return r
}

func (s *store) fails(args ...string) result {
	s.t.Helper()
	r := s.run(args...)
	if r.code != 1 {
		s.t.Fatalf("%v: want exit 1, got %s", args, r)
	}
	return r
}

// pluginProcesses lists the live processes running one of the test's
// plugin binaries (their argv[0] is the path docker-machine found on
// PATH).
func pluginProcesses(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a zombie
		}
		argv0, _, _ := bytes.Cut(b, []byte{0})
		if strings.HasPrefix(string(argv0), binDir+"/") {
			out = append(out, e.Name()+" "+string(argv0))
		}
	}
	return out
}

func contains(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("missing %q in:\n%s", sub, s)
	}
}

func equal(t *testing.T, want, got string) {
	t.Helper()
	if want != got {
		t.Errorf("want %q, got %q", want, got)
	}
}

const dockerURL = "tcp://127.0.0.1:2376"

// A machine's whole life through a plugin that wraps the original's none
// driver.
func TestLifecycle(t *testing.T) {
	s := newStore(t)

	help := s.ok("create", "-d", "xnone", "--help")
	contains(t, help.stdout, "--url")
	contains(t, help.stdout, "URL of host when no driver is selected")

	r := s.ok("create", "-d", "xnone", "--url", dockerURL, "m1")
	// The plugin's stdout after its address line is an info line.
	contains(t, r.stdout, "(m1) xnone: creating m1\n")

	equal(t, "m1 xnone Running "+dockerURL+"\n", s.ok("ls", "--format", "{{.Name}} {{.DriverName}} {{.State}} {{.URL}}").stdout)
	equal(t, dockerURL+"\n", s.ok("url", "m1").stdout)
	equal(t, "Running\n", s.ok("status", "m1").stdout)

	var h struct {
		DriverName string
		Driver     map[string]any
	}
	if err := json.Unmarshal([]byte(s.ok("inspect", "m1").stdout), &h); err != nil {
		t.Fatal(err)
	}
	equal(t, "xnone", h.DriverName)
	equal(t, dockerURL, fmt.Sprint(h.Driver["URL"]))
	equal(t, "m1", fmt.Sprint(h.Driver["MachineName"]))
	equal(t, s.root, fmt.Sprint(h.Driver["StorePath"]))

	// config.json holds the plugin's own JSON (GetConfigRaw).
	b, err := os.ReadFile(filepath.Join(s.root, "machines", "m1", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		DriverName string
		Driver     map[string]any
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	equal(t, "xnone", c.DriverName)
	equal(t, dockerURL, fmt.Sprint(c.Driver["URL"]))

	// -D shows the plugin's stderr as debug lines.
	d := s.ok("-D", "url", "m1")
	contains(t, d.stderr, "(m1) DBG | ")

	contains(t, s.ok("rm", "-y", "m1").stdout, "Successfully removed m1")
	if _, err := os.Stat(filepath.Join(s.root, "machines", "m1")); !os.IsNotExist(err) {
		t.Errorf("machine directory still there: %v", err)
	}
	equal(t, "", s.ok("ls", "-q").stdout)
}

// Several creates at once, each with its own plugin processes.
func TestParallelCreates(t *testing.T) {
	s := newStore(t)
	const n = 4
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(machine, "create", "-d", "xnone", "--url", fmt.Sprintf("tcp://127.0.0.1:%d", 2376+i), fmt.Sprintf("p%d", i))
			cmd.Env = []string{"PATH=" + s.path, "HOME=" + s.root, "MACHINE_STORAGE_PATH=" + s.root}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			results[i] = result{stdout: out.String(), stderr: errb.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				results[i].code = ee.ExitCode()
			} else if err != nil {
				results[i].code = -1
				results[i].stderr += err.Error()
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("create p%d: %s", i, r)
		}
	}
	if left := pluginProcesses(t); len(left) > 0 {
		t.Errorf("plugin processes left: %v", left)
	}
	want := ""
	for i := range n {
		want += fmt.Sprintf("p%d xnone tcp://127.0.0.1:%d\n", i, 2376+i)
	}
	equal(t, want, s.ok("ls", "--format", "{{.Name}} {{.DriverName}} {{.URL}}").stdout)
	s.ok("rm", "-y", "p0", "p1", "p2", "p3")
	equal(t, "", s.ok("ls", "-q").stdout)
}

// A plugin that exits in the middle of Create: a clear error, no hang,
// and the machine can be removed.
func TestPluginExitsDuringCreate(t *testing.T) {
	s := newStore(t)
	r := s.fails("create", "-d", "xcrash", "--url", dockerURL, "c")
	contains(t, r.stderr, "during Create")
	contains(t, r.stderr, "exit status 3")
	contains(t, r.stderr, "xcrash: crashing in Create")
	// Whatever create left, rm -f removes it (a fresh plugin process
	// serves the Remove).
	s.run("rm", "-f", "c")
	equal(t, "", s.ok("ls", "-q").stdout)
}

// Ctrl-C while the plugin is in Create: the command ends, the create is
// rolled back through the plugin (which the terminal's SIGINT to the
// foreground process group does not reach) and the plugin is closed.
func TestInterruptDuringCreate(t *testing.T) {
	s := newStore(t)
	cmd := exec.Command(machine, "create", "-d", "xhang", "--url", dockerURL, "h")
	// A process group of its own, as a shell's foreground job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = []string{"PATH=" + s.path, "HOME=" + s.root, "MACHINE_STORAGE_PATH=" + s.root}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var seen bytes.Buffer
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if sc.Text() == "(h) xhang: creating h" {
				// The plugin is inside Create now.
				// What the terminal does on Ctrl-C.
				if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
					t.Error(err)
				}
			}
		}
		done <- cmd.Wait()
	}()
	timer := time.NewTimer(2 * time.Minute)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("create did not end after the interrupt\nstdout:\n%s", seen.String())
	}
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Errorf("want exit 130, got %v\nstdout:\n%s\nstderr:\n%s", err, seen.String(), errb.String())
	}
	contains(t, seen.String(), "(h) xhang: creating h\n")
	if left := pluginProcesses(t); len(left) > 0 {
		t.Errorf("plugin processes left: %v", left)
	}
	equal(t, "", s.ok("ls", "-q").stdout)
}

// A Create longer than the plugin's 10 s heartbeat timeout succeeds: the
// client's heartbeats keep the plugin alive.
func TestHeartbeatKeepsPluginAlive(t *testing.T) {
	s := newStore(t)
	s.ok("create", "-d", "xslow", "--url", dockerURL, "slow")
	equal(t, dockerURL+"\n", s.ok("url", "slow").stdout)
	s.ok("rm", "-y", "slow")
}

// A plugin that never prints its address is killed after 10 s.
func TestSilentPlugin(t *testing.T) {
	s := newStore(t)
	r := s.fails("create", "-d", "xsilent", "x")
	equal(t, "Error attempting to get plugin server address for RPC: Failed to dial the plugin server in 10s\n", r.stderr)
}

func TestIncompatibleAPIVersion(t *testing.T) {
	s := newStore(t)
	r := s.fails("create", "-d", "xbadver", "--url", dockerURL, "x")
	equal(t, "Driver binary uses an incompatible API version (2)\n", r.stderr)
}

// A plugin serving only the v0 service name still works.
func TestV0ServiceName(t *testing.T) {
	s := newStore(t)
	s.ok("create", "-d", "xv0", "--url", dockerURL, "v")
	equal(t, dockerURL+"\n", s.ok("url", "v").stdout)
	s.ok("rm", "-y", "v")
}

// Without the plugin on PATH: the original's not-found texts, the
// machine still lists, and rm -f removes its record.
func TestPluginMissing(t *testing.T) {
	s := newStore(t)
	s.ok("create", "-d", "xnone", "--url", dockerURL, "m")
	s.path = os.Getenv("PATH")

	r := s.fails("create", "-d", "xnone", "--url", dockerURL, "n")
	contains(t, r.stderr, `Driver "xnone" not found. Do you have the plugin binary "docker-machine-driver-xnone" accessible in your PATH?`)

	equal(t, "m xnone\n", s.ok("ls", "--format", "{{.Name}} {{.DriverName}}").stdout)
	contains(t, s.fails("url", "m").stderr, `Driver "xnone" not found`)
	r = s.run("rm", "-f", "m")
	if r.code != 0 {
		t.Fatal(r)
	}
	contains(t, r.stdout, "Successfully removed m")
	equal(t, "", s.ok("ls", "-q").stdout)
}

// The plugin binary run by hand says what it is (the original's check).
func TestPluginWithoutToken(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "docker-machine-driver-xnone"))
	cmd.Env = []string{}
	var errb bytes.Buffer
	cmd.Stderr, cmd.Stdout = &errb, io.Discard
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	contains(t, errb.String(), "(API version: 1)")
}

// The original's generic driver as a plugin: its flags of several types
// reach the help and the driver, and its SetConfigFromFlags errors come
// back as they are.
func TestGenericPluginFlags(t *testing.T) {
	s := newStore(t)
	help := s.ok("create", "-d", "xgeneric", "--help").stdout
	for _, f := range []string{"--generic-ip-address", "--generic-ssh-key", "--generic-ssh-user", "--generic-ssh-port", "--generic-engine-port"} {
		contains(t, help, f)
	}
	contains(t, help, "2376")
	contains(t, help, "GENERIC_SSH_PORT")

	r := s.fails("create", "-d", "xgeneric", "g")
	equal(t, "Error setting machine configuration from flags provided: generic driver requires the --generic-ip-address option\n", r.stderr)
	missing := filepath.Join(s.root, "no-such-key")
	// The key is checked in the plugin's PreCreateCheck: exit 3.
	r = s.run("create", "-d", "xgeneric", "--generic-ip-address", "127.0.0.1", "--generic-ssh-port", "2222", "--generic-ssh-key", missing, "g")
	if r.code != 3 {
		t.Errorf("want exit 3: %s", r)
	}
	equal(t, fmt.Sprintf("Error with pre-create check: %q\n", fmt.Sprintf("SSH key does not exist: %q", missing)), r.stderr)
	equal(t, "", s.ok("ls", "-q").stdout)
}
