package plugin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Timeouts of the protocol. AddressTimeout and the heartbeat period are
// the original's; the plugin exits after 10 s without a heartbeat.
const (
	AddressTimeout    = 10 * time.Second
	HeartbeatInterval = 5 * time.Second
	// closeTimeout bounds each step of Close (the Close call, then the
	// wait for the process) before the process is killed.
	closeTimeout = 5 * time.Second
	// exitWait bounds the wait for a plugin whose connection broke to
	// report its exit status.
	exitWait = 5 * time.Second
	// tailWait bounds the wait, after the plugin exited, for its last
	// stderr lines to be read.
	tailWait = 2 * time.Second
	// tailLines of the plugin's stderr are kept for error messages.
	tailLines = 5
)

// NotFoundError says no plugin binary for the driver is on PATH. Its
// text is the original's.
type NotFoundError struct {
	Driver string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Driver %q not found. Do you have the plugin binary %q accessible in your PATH?", e.Driver, BinaryPrefix+e.Driver)
}

// Lookup finds docker-machine-driver-NAME on PATH. Names that are not a
// plain word (a path separator, a leading dot) are never looked up.
func Lookup(driverName string) (string, error) {
	if driverName == "" || strings.ContainsAny(driverName, `/\`) || strings.HasPrefix(driverName, ".") {
		return "", &NotFoundError{Driver: driverName}
	}
	p, err := exec.LookPath(BinaryPrefix + driverName)
	if err != nil {
		return "", &NotFoundError{Driver: driverName}
	}
	return p, nil
}

// open plugin processes of this process, for CloseAll.
var (
	openMu sync.Mutex
	opened = map[*Driver]struct{}{}
)

// CloseAll closes every plugin this process started and has not closed
// yet, and waits until their processes are gone. Commands call it when
// they end, also on errors and interruptions.
func CloseAll() {
	openMu.Lock()
	all := make([]*Driver, 0, len(opened))
	for d := range opened {
		all = append(all, d)
	}
	openMu.Unlock()
	var wg sync.WaitGroup
	for _, d := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = d.Close()
		}()
	}
	wg.Wait()
}

// Open starts the plugin binary for driverName, checks its API version,
// and configures it from raw (the driver JSON of config.json, or a
// BaseDriver's for a new machine). machineName prefixes the plugin's
// output lines. The caller (or CloseAll) must Close the driver.
func Open(driverName, machineName string, raw []byte) (*Driver, error) {
	bin, err := Lookup(driverName)
	if err != nil {
		return nil, err
	}
	d, addr, err := start(driverName, machineName, bin)
	if err != nil {
		return nil, err
	}
	if err := d.handshake(addr); err != nil {
		_ = d.Close()
		return nil, err
	}
	if err := d.SetConfigRaw(raw); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("configuring the %s plugin: %w", driverName, err)
	}
	return d, nil
}

// Configure gives a plugin started for another purpose (asking its create
// flags) the machine it serves from now on: raw is the driver JSON, and
// machineName prefixes its output lines.
func (d *Driver) Configure(machineName string, raw []byte) error {
	d.machine.Store(&machineName)
	if err := d.SetConfigRaw(raw); err != nil {
		return fmt.Errorf("configuring the %s plugin: %w", d.name, err)
	}
	return nil
}

func (d *Driver) machineName() string {
	if p := d.machine.Load(); p != nil {
		return *p
	}
	return ""
}

// start runs the binary and reads its address line.
func start(driverName, machineName, bin string) (*Driver, string, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, "", fmt.Errorf("starting plugin %s: %w", bin, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, "", fmt.Errorf("starting plugin %s: %w", bin, err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), EnvToken+"="+TokenValue, EnvDriverName+"="+driverName)
	// Files, not writers: no copying goroutines, so Wait returns when
	// the plugin exits even if a child of it keeps the pipes open.
	cmd.Stdout, cmd.Stderr = outW, errW
	ownGroup(cmd)
	log.Debugf("Launching plugin server for driver %s (%s)", driverName, bin)
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, "", fmt.Errorf("Error starting plugin binary: %w", err)
	}
	d := &Driver{
		name:   driverName,
		binary: bin,
		cmd:    cmd,
		exited: make(chan struct{}),
		stopHB: make(chan struct{}),
	}
	d.machine.Store(&machineName)
	openMu.Lock()
	opened[d] = struct{}{}
	openMu.Unlock()
	go func() {
		d.exitErr = cmd.Wait()
		close(d.exited)
	}()
	addrCh := make(chan string, 1)
	d.readers.Add(2)
	go d.readStdout(outR, addrCh)
	go d.readStderr(errR)

	timer := time.NewTimer(AddressTimeout)
	defer timer.Stop()
	select {
	case addr, ok := <-addrCh:
		if ok {
			log.Debugf("Plugin server listening at address %s", addr)
			return d, addr, nil
		}
		// stdout closed without an address line: the plugin is exiting.
		err := d.exitError("before it printed its address")
		_ = d.Close()
		return nil, "", fmt.Errorf("Error attempting to get plugin server address for RPC: %w", err)
	case <-timer.C:
		_ = d.Close()
		return nil, "", fmt.Errorf("Error attempting to get plugin server address for RPC: Failed to dial the plugin server in %s", AddressTimeout)
	}
}

func (d *Driver) readStdout(r io.ReadCloser, addrCh chan<- string) {
	defer d.readers.Done()
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			addrCh <- strings.TrimSpace(line)
			continue
		}
		log.Infof("(%s) %s", d.machineName(), strings.TrimRight(line, "\r\n"))
	}
	if first {
		close(addrCh)
	}
}

func (d *Driver) readStderr(r io.ReadCloser) {
	defer d.readers.Done()
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r\n")
		d.tailMu.Lock()
		d.tail = append(d.tail, line)
		if len(d.tail) > tailLines {
			d.tail = d.tail[len(d.tail)-tailLines:]
		}
		d.tailMu.Unlock()
		log.Debugf("(%s) DBG | %s", d.machineName(), line)
	}
}

// exitError waits (bounded) for the plugin to exit and describes how it
// ended, with the last lines it wrote to stderr.
func (d *Driver) exitError(when string) error {
	timer := time.NewTimer(exitWait)
	defer timer.Stop()
	select {
	case <-d.exited:
	case <-timer.C:
		return fmt.Errorf("the plugin %s closed its output %s but did not exit", d.binary, when)
	}
	// The pipes may still hold its last words (the reader runs behind
	// the exit): read them before quoting the tail.
	d.waitReaders(tailWait)
	status := "exit status 0"
	if d.exitErr != nil {
		status = d.exitErr.Error()
	}
	msg := fmt.Sprintf("the plugin %s exited %s (%s)", d.binary, when, status)
	d.tailMu.Lock()
	tail := strings.Join(d.tail, "\n")
	d.tailMu.Unlock()
	if tail != "" {
		msg += "; its last output:\n" + tail
	}
	return errors.New(msg)
}

// waitReaders waits until the stdout and stderr readers have read
// everything, bounded by limit: a child of the plugin may hold its pipes
// open after the plugin itself has gone.
func (d *Driver) waitReaders(limit time.Duration) {
	read := make(chan struct{})
	go func() { d.readers.Wait(); close(read) }()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-read:
	case <-timer.C:
	}
}

// handshake dials the plugin, checks its API version and starts the
// heartbeat.
func (d *Driver) handshake(addr string) error {
	c, err := rpc.DialHTTP("tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to the %s plugin at %q: %w", d.name, addr, err)
	}
	d.client = c
	d.service = serviceV1
	var v int
	if err := d.client.Call(d.service+".GetVersion", struct{}{}, &v); err != nil {
		log.Debugf("Client (%s) with %s does not work, re-attempting with %s: %v", d.machineName(), serviceV1, serviceV0, err)
		d.service = serviceV0
		if err := d.client.Call(d.service+".GetVersion", struct{}{}, &v); err != nil {
			return d.callError("GetVersion", err)
		}
	}
	if v != APIVersion {
		return fmt.Errorf("Driver binary uses an incompatible API version (%d)", v)
	}
	log.Debugf("Using API Version %d", v)
	go d.heartbeat()
	return nil
}

func (d *Driver) heartbeat() {
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stopHB:
			return
		case <-d.exited:
			return
		case <-t.C:
			if err := d.client.Call(d.service+".Heartbeat", struct{}{}, nil); err != nil {
				log.Debugf("(%s) heartbeat to the plugin failed: %v", d.machineName(), err)
				return
			}
		}
	}
}

// Close ends the plugin: the protocol's Close call, then the process is
// waited for (and killed if it does not exit). It is idempotent.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		close(d.stopHB)
		if d.client != nil {
			select {
			case <-d.exited:
			default:
				call := d.client.Go(d.service+".Close", struct{}{}, nil, make(chan *rpc.Call, 1))
				timer := time.NewTimer(closeTimeout)
				select {
				case <-call.Done:
				case <-d.exited:
				case <-timer.C:
				}
				timer.Stop()
			}
		}
		if d.client == nil {
			// Never connected (no address, or a failed start): nothing
			// to ask it, end it.
			_ = d.cmd.Process.Kill()
		}
		timer := time.NewTimer(closeTimeout)
		select {
		case <-d.exited:
		case <-timer.C:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		timer.Stop()
		// Everything the plugin wrote is logged before Close returns.
		d.waitReaders(closeTimeout)
		if d.client != nil {
			_ = d.client.Close()
		}
		openMu.Lock()
		delete(opened, d)
		openMu.Unlock()
		log.Debugf("(%s) plugin %s closed", d.machineName(), d.binary)
	})
	return nil
}
