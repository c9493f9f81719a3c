package fakevbox

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// envVM marks a fake VM process; its value is the VM's UUID.
const envVM = "FAKEVBOX_VM_PROCESS"

// vboxLog is a VM's current log file.
func vboxLog(v *VM) string { return filepath.Join(filepath.Dir(v.CfgFile), "Logs", "VBox.log") }

// writeLog starts a new VBox.log (VirtualBox rotates the old ones).
func writeLog(v *VM, lines ...string) error {
	p := vboxLog(v)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		_ = os.Rename(p, p+".1")
	}
	var b strings.Builder
	for _, l := range append([]string{
		"VirtualBox VM " + strings.Split(Version, "r")[0] + " r" + strings.SplitN(Version, "r", 2)[1] + " linux.amd64 (fake VBoxManage of docker-machine's tests) release log",
		"Log opened " + time.Now().UTC().Format(time.RFC3339Nano),
		"Build Type: release",
		"OS Product: Linux",
	}, lines...) {
		fmt.Fprintf(&b, "00:00:00.%06d %s\n", b.Len()%1000000, l)
	}
	return os.WriteFile(p, []byte(b.String()), 0o600)
}

// appendLog adds lines to the VM's log.
func appendLog(v *VM, lines ...string) {
	f, err := os.OpenFile(vboxLog(v), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintf(f, "00:00:01.%06d %s\n", time.Now().Nanosecond()/1000, l)
	}
}

func (c *cli) startvm(args []string) error {
	opts, pos := options(args)
	if len(pos) != 1 {
		return syntaxErr("startvm: give a VM")
	}
	switch t := opts["type"]; t {
	case "", "gui", "sdl", "headless", "separate":
	default:
		return vbErr("Invalid session type '%s'", t)
	}
	var vm VM
	err := locked(c.home, true, func(s *State) error {
		v := s.vm(pos[0])
		if v == nil {
			return notFound(pos[0])
		}
		if st := v.stateOf(); st == "running" || st == "paused" {
			return vbErr("The machine '%s' is already locked by a session (or being locked or unlocked)", v.Name)
		}
		for _, a := range v.attachments() {
			if a.A.Medium == "emptydrive" {
				continue
			}
			if _, err := os.Stat(a.A.Medium); err != nil {
				return vbErr("Could not open the medium '%s'.\nVBoxManage: error: VD: error VERR_FILE_NOT_FOUND opening image file '%s' (VERR_FILE_NOT_FOUND)", a.A.Medium, a.A.Medium)
			}
		}
		hw := []string{"HM: HMR3Init: VT-x w/ nested paging and unrestricted guest execution hw support"}
		switch fault(c.home, "vtx") {
		case "missing":
			if err := writeLog(v, "HM: HMR3Init: Falling back to raw-mode: VT-x is not available", "VMSetError: VT-x is not available (VERR_VMX_NO_VMX)", "Power up failed (vrc=VERR_VMX_NO_VMX, rc=NS_ERROR_FAILURE (0X80004005))"); err != nil {
				return err
			}
			return &cliError{lines: []string{
				"Waiting for VM \"" + v.Name + "\" to power on...",
				"VBoxManage: error: VT-x is not available (VERR_VMX_NO_VMX)",
				"VBoxManage: error: Details: code NS_ERROR_FAILURE (0x80004005), component ConsoleWrap, interface IConsole",
			}, code: 1}
		case "disabled-log":
			hw = []string{"HM: HMR3Init: VT-x is disabled in the BIOS for all CPU modes (VERR_VMX_MSR_ALL_VMX_DISABLED)"}
		}
		if err := writeLog(v, hw...); err != nil {
			return err
		}
		vm = *v
		return nil
	})
	if err != nil {
		return err
	}
	sock := vm.Socket
	if !vm.alive() {
		if sock, err = spawnVMProcess(c.home, vm.UUID); err != nil {
			return vbErr("The virtual machine '%s' has terminated unexpectedly during startup: %v", vm.Name, err)
		}
	}
	fmt.Fprintf(c.stdout, "Waiting for VM \"%s\" to power on...\n", vm.Name)
	if reply, err := daemonCall(sock, "poweron"); err != nil || reply != "ok" {
		msg := reply
		if err != nil {
			msg = err.Error()
		}
		return vbErr("The virtual machine '%s' has terminated unexpectedly during startup with exit code 1 (0x1).  More details may be available in '%s'\nVBoxManage: error: Details: %s", vm.Name, vboxLog(&vm), msg)
	}
	fmt.Fprintf(c.stdout, "VM \"%s\" has been successfully started.\n", vm.Name)
	return nil
}

func (c *cli) controlvm(args []string) error {
	if len(args) < 2 {
		return syntaxErr("controlvm: give a VM and an action")
	}
	name, action := args[0], args[1]
	var vm VM
	err := locked(c.home, false, func(s *State) error {
		v := s.vm(name)
		if v == nil {
			return notFound(name)
		}
		vm = *v
		return nil
	})
	if err != nil {
		return err
	}
	st := vm.stateOf()
	if st != "running" && st != "paused" {
		return vbErr("Machine '%s' is not currently running", vm.Name)
	}
	switch action {
	case "poweroff", "savestate":
		fmt.Fprintln(c.stderr, "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%")
	case "acpipowerbutton", "pause", "resume":
	default:
		return syntaxErr("controlvm: invalid action '%s'", action)
	}
	reply, err := daemonCall(vm.Socket, action)
	if err != nil {
		return vbErr("%v", err)
	}
	if reply != "ok" {
		return vbErr("%s", reply)
	}
	return nil
}

// spawnVMProcess starts the VM's process (the test binary, or the fake's
// own binary, run again with envVM set) in a session of its own, as
// VBoxHeadless runs apart from the VBoxManage that started it, and
// returns its control socket once it listens.
func spawnVMProcess(home, uuid string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(self)
	cmd.Args = []string{"VBoxHeadless", "--startvm", uuid}
	cmd.Env = append(os.Environ(), envVM+"="+uuid, EnvHome+"="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logf, err := os.OpenFile(filepath.Join(home, "vm-"+uuid[:8]+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go cmd.Wait() //nolint:errcheck // reaped by whoever lives; VBoxManage exits first
	line, _ := bufio.NewReader(out).ReadString('\n')
	sock, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		return "", fmt.Errorf("the VM process did not start: %q", strings.TrimSpace(line))
	}
	return sock, nil
}

// daemonCall sends one request to a VM process and returns its reply.
func daemonCall(sock, req string) (string, error) {
	if sock == "" {
		return "", errors.New("the VM has no process")
	}
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Minute))
	if _, err := fmt.Fprintln(c, req); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("the VM process did not answer %s: %w", req, err)
	}
	return strings.TrimSpace(line), nil
}
