package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// fakeQMP speaks QMP on a unix socket the way QEMU does: a greeting,
// commands refused until qmp_capabilities, replies separated by CRLF, and
// asynchronous events interleaved.
type fakeQMP struct {
	l        net.Listener
	mu       sync.Mutex
	status   string
	commands []string
	onCmd    func(cmd string)
}

func startFakeQMP(t *testing.T, path, status string) *fakeQMP {
	t.Helper()
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	f := &fakeQMP{l: l, status: status}
	go f.serve()
	t.Cleanup(func() { l.Close() })
	return f
}

func (f *fakeQMP) setStatus(s string) {
	f.mu.Lock()
	f.status = s
	f.mu.Unlock()
}

func (f *fakeQMP) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

func (f *fakeQMP) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		go f.handle(c)
	}
}

func (f *fakeQMP) handle(c net.Conn) {
	defer c.Close()
	send := func(v any) {
		data, _ := json.Marshal(v)
		c.Write(append(data, '\r', '\n'))
	}
	send(map[string]any{"QMP": map[string]any{
		"version":      map[string]any{"qemu": map[string]int{"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18"},
		"capabilities": []string{"oob"},
	}})
	negotiated := false
	r := bufio.NewReader(c)
	dec := json.NewDecoder(r)
	for {
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
			ID        any             `json:"id"`
		}
		if err := dec.Decode(&req); err != nil {
			return
		}
		f.mu.Lock()
		f.commands = append(f.commands, req.Execute)
		status := f.status
		onCmd := f.onCmd
		f.mu.Unlock()
		if onCmd != nil {
			onCmd(req.Execute)
		}
		if !negotiated && req.Execute != "qmp_capabilities" {
			send(map[string]any{"error": map[string]string{"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}})
			continue
		}
		// An event before the reply, as QEMU may send at any time.
		send(map[string]any{"event": "RTC_CHANGE", "data": map[string]int{"offset": 0}, "timestamp": map[string]int{"seconds": 1, "microseconds": 2}})
		switch req.Execute {
		case "qmp_capabilities":
			negotiated = true
			send(map[string]any{"return": map[string]any{}})
		case "query-status":
			send(map[string]any{"return": map[string]any{"status": status, "singlestep": false, "running": status == "running"}})
		case "system_powerdown", "quit", "stop", "cont":
			send(map[string]any{"return": map[string]any{}})
			if req.Execute == "system_powerdown" {
				send(map[string]any{"event": "POWERDOWN", "timestamp": map[string]int{"seconds": 1, "microseconds": 2}})
			}
		default:
			send(map[string]any{"error": map[string]string{"class": "CommandNotFound", "desc": fmt.Sprintf("The command %s has not been found", req.Execute)}})
		}
	}
}

func TestQMPClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	f := startFakeQMP(t, sock, "running")
	q, err := DialQMP(context.Background(), sock, 2*time.Second)
	require.NoError(t, err)
	defer q.Close()
	st, err := q.QueryStatus()
	require.NoError(t, err)
	assert.Equal(t, "running", st)
	_, err = q.Execute("system_powerdown", nil)
	require.NoError(t, err)
	// The POWERDOWN event that followed is skipped by the next command.
	st, err = q.QueryStatus()
	require.NoError(t, err)
	assert.Equal(t, "running", st)
	_, err = q.Execute("bogus", nil)
	var qe *QMPError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "CommandNotFound", qe.Class)
	assert.Equal(t, []string{"qmp_capabilities", "query-status", "system_powerdown", "query-status", "bogus"}, f.seen())
}

func TestRunStateToState(t *testing.T) {
	for in, want := range map[string]state.State{
		"running": state.Running, "paused": state.Paused, "suspended": state.Paused,
		"inmigrate": state.Paused, "prelaunch": state.Paused, "shutdown": state.Stopping,
		"internal-error": state.Error, "guest-panicked": state.Error, "io-error": state.Error,
		"something-new": state.Error,
	} {
		assert.Equal(t, want, RunStateToState(in), in)
	}
}

// fakeVM is a process standing in for qemu: its command line names the
// pid file, as qemu's does.
func fakeVM(t *testing.T, d *Driver) int {
	t.Helper()
	pidFile := d.path(PIDFile)
	// "; :" keeps sh from exec'ing sleep, so the process keeps the pid
	// file in its command line as a real qemu does.
	// It says "ready" once sh runs, so its command line is final.
	cmd := exec.Command("sh", "-c", "echo ready; sleep 60; :", pidFile)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	// Reap it when it dies so it does not linger as a zombie.
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	require.NoError(t, os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o600))
	return cmd.Process.Pid
}

func fakeDriver(t *testing.T) *Driver {
	t.Helper()
	// Short store path: unix socket paths are limited to 107 bytes.
	store, err := os.MkdirTemp("", "qm")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(store) })
	d := New("m", store)
	require.NoError(t, os.MkdirAll(d.ResolveStorePath(""), 0o700))
	d.IPAddress, d.SSHPort, d.EnginePort = "127.0.0.9", 22, 2376
	return d
}

func TestGetStateFromPIDAndQMP(t *testing.T) {
	d := fakeDriver(t)

	// No pid file: stopped.
	st, err := d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Stopped, st)

	// A stale pid file (pid of a process that is not this VM): stopped.
	require.NoError(t, os.WriteFile(d.path(PIDFile), []byte(fmt.Sprint(os.Getpid())), 0o600))
	st, err = d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Stopped, st)

	fakeVM(t, d)
	f := startFakeQMP(t, d.path(QMPFile), "running")
	for _, tc := range []struct {
		status string
		want   state.State
	}{{"running", state.Running}, {"paused", state.Paused}, {"guest-panicked", state.Error}} {
		f.setStatus(tc.status)
		st, err = d.GetState(context.Background())
		require.NoError(t, err)
		assert.Equal(t, tc.want, st, tc.status)
	}
	f.setStatus("running")
	url, err := d.GetURL(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tcp://127.0.0.9:2376", url)
}

func TestGetStateQMPUnresponsive(t *testing.T) {
	d := fakeDriver(t)
	fakeVM(t, d)
	// The process lives but its QMP socket is gone: trust the process.
	st, err := d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Running, st)
}

func TestStopPowersDownOverQMP(t *testing.T) {
	d := fakeDriver(t)
	pid := fakeVM(t, d)
	f := startFakeQMP(t, d.path(QMPFile), "running")
	// The "guest" powers off once it got the ACPI event, a moment later
	// (the delay is the simulated guest's shutdown, not a wait for
	// anything: Stop must wait for the process to exit).
	d.StopTimeout = 600
	f.onCmd = func(cmd string) {
		if cmd == "system_powerdown" {
			time.AfterFunc(300*time.Millisecond, func() { exec.Command("kill", fmt.Sprint(pid)).Run() })
		}
	}
	t0 := time.Now()
	require.NoError(t, d.Stop(context.Background()))
	// It returned when the guest powered off, not after the timeout that
	// forces it (10 minutes: no load makes the guest that slow).
	assert.Less(t, time.Since(t0), time.Duration(d.StopTimeout)*time.Second)
	assert.Contains(t, f.seen(), "system_powerdown")
	assert.False(t, processAlive(pid, ""))
	assert.NoFileExists(t, d.path(PIDFile))
	assert.NoFileExists(t, d.path(QMPFile))
}

func TestStopForcesAfterTimeout(t *testing.T) {
	d := fakeDriver(t)
	d.StopTimeout = 2
	old := powerdownRepeat
	powerdownRepeat = 500 * time.Millisecond
	t.Cleanup(func() { powerdownRepeat = old })
	pid := fakeVM(t, d)
	f := startFakeQMP(t, d.path(QMPFile), "running") // ignores the power-down
	t0 := time.Now()
	require.NoError(t, d.Stop(context.Background()))
	assert.GreaterOrEqual(t, time.Since(t0), 2*time.Second)
	presses := 0
	for _, c := range f.seen() {
		if c == "system_powerdown" {
			presses++
		}
	}
	// The first press, then at least one more in the 2 s (every 500 ms
	// on an idle machine; a loaded one may fire the timer late).
	assert.GreaterOrEqual(t, presses, 2, "the power button is pressed again while waiting")
	assert.False(t, processAlive(pid, ""))
}

// TestStopHonoursContext: Stop returns when its context ends, without
// waiting for the power-down and without forcing the VM off.
func TestStopHonoursContext(t *testing.T) {
	d := fakeDriver(t)
	d.StopTimeout = 600
	pid := fakeVM(t, d)
	f := startFakeQMP(t, d.path(QMPFile), "running") // ignores the power-down
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onCmd = func(cmd string) {
		if cmd == "system_powerdown" {
			cancel() // the user gives up while the guest shuts down
		}
	}
	t0 := time.Now()
	err := d.Stop(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(t0), powerdownRepeat, "returned before the next press of the button")
	assert.True(t, processAlive(pid, d.path(PIDFile)), "neither SIGTERM nor SIGKILL")

	// An ended context stops nothing at all.
	require.ErrorIs(t, d.Stop(ctx), context.Canceled)
	assert.True(t, processAlive(pid, d.path(PIDFile)))
	_, err = DialQMP(ctx, d.path(QMPFile), time.Minute)
	assert.Error(t, err)
}

func TestStopPausedQuits(t *testing.T) {
	d := fakeDriver(t)
	pid := fakeVM(t, d)
	f := startFakeQMP(t, d.path(QMPFile), "paused")
	f.onCmd = func(cmd string) {
		if cmd == "quit" {
			exec.Command("kill", fmt.Sprint(pid)).Run()
		}
	}
	require.NoError(t, d.Stop(context.Background()))
	assert.Contains(t, f.seen(), "quit")
	assert.NotContains(t, f.seen(), "system_powerdown")
}

func TestKillAndRemove(t *testing.T) {
	d := fakeDriver(t)
	pid := fakeVM(t, d)
	for _, f := range []string{DiskFile, SeedFile, ConsoleFile, LogFile, KeyFile, KeyFile + ".pub", hostaddr.ReservationFile} {
		require.NoError(t, os.WriteFile(d.path(f), []byte("x"), 0o600))
	}
	require.NoError(t, os.WriteFile(d.path("config.json"), []byte("{}"), 0o600))
	require.NoError(t, d.Remove(context.Background()))
	assert.False(t, processAlive(pid, ""))
	entries, err := os.ReadDir(d.ResolveStorePath(""))
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	// config.json belongs to the store, which removes the directory.
	assert.Equal(t, []string{"config.json"}, left)
	// Removing again is fine.
	require.NoError(t, d.Remove(context.Background()))
}
