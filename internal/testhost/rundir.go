//go:build linux

package testhost

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Every resource the kit creates is named after its host: NamePrefix + base36(owner pid) + "-" +
// base36(counter). The same name is used for the run directory, the network namespace, the
// host side of the veth pair, the nspawn machine and the iptables rule comments, so Reap can
// find leftovers by name. At most 15 characters (the limit for interface names).
const NamePrefix = "dmt-"

var hostCounter atomic.Int64

func newName() string {
	return NamePrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "-" +
		strconv.FormatInt(hostCounter.Add(1), 36)
}

// ownerPIDFromName parses the owner pid out of a kit name, or returns 0.
func ownerPIDFromName(name string) int {
	rest, ok := strings.CutPrefix(name, NamePrefix)
	if !ok {
		return 0
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0
	}
	pid, err := strconv.ParseInt(p, 36, 32)
	if err != nil {
		return 0
	}
	return int(pid)
}

// state is a host's record in RunDir()/NAME/state.json.
type state struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"` // "nspawn" or "qemu"
	OwnerPID   int    `json:"owner_pid"`
	OwnerStart uint64 `json:"owner_start"` // /proc/PID/stat starttime, guards against pid reuse
	NetIndex   int    `json:"net_index,omitempty"`
	Loopback   string `json:"loopback,omitempty"`
	SSHPort    int    `json:"ssh_port,omitempty"`
	PID        int    `json:"pid,omitempty"` // systemd-nspawn or qemu
}

func writeState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "state.json"))
}

func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(b, &st)
	return st, err
}

// procStart returns the start time (clock ticks since boot) of a live process, or 0.
func procStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// Fields after "(comm)": state is field 3 overall, starttime is field 22.
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie is as good as dead.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

func (st state) ownerAlive() bool {
	if !pidAlive(st.OwnerPID) {
		return false
	}
	return st.OwnerStart == 0 || procStart(st.OwnerPID) == st.OwnerStart
}

// lockRunDir serialises allocation, network namespace creation and reaping between the
// processes that use the kit on this machine.
func lockRunDir() (func(), error) {
	if err := os.MkdirAll(RunDir(), 0o755); err != nil {
		return nil, err
	}
	return lockFile(filepath.Join(RunDir(), ".lock"))
}

// newHostDir creates RunDir()/NAME with a state record owned by this process. It must be
// called with the run-dir lock held, so that allocators and Reap see complete records.
func newHostDir(st *state) (string, error) {
	dir := filepath.Join(RunDir(), st.Name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	st.OwnerPID = os.Getpid()
	st.OwnerStart = procStart(st.OwnerPID)
	return dir, writeState(dir, *st)
}

// allStates returns the records of all hosts in the run dir (any owner).
func allStates() []state {
	entries, _ := os.ReadDir(RunDir())
	var out []state
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), NamePrefix) {
			continue
		}
		st, err := readState(filepath.Join(RunDir(), e.Name()))
		if err != nil {
			st = state{Name: e.Name(), OwnerPID: ownerPIDFromName(e.Name())}
		}
		out = append(out, st)
	}
	return out
}

// Reap removes what crashed test processes left behind: hosts in the run dir whose owner
// process is gone (their processes are killed, mounts unmounted, network namespaces, veths and
// iptables rules deleted, directories removed), plus network namespaces, veths and iptables
// rules named NamePrefix* whose owner is gone. Hosts of live processes are never touched.
// Every Start* runs it once per process; scripts/testhost/reap.sh does the same from a shell.
func Reap() error {
	unlock, err := lockRunDir()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	known := map[string]bool{}
	for _, st := range allStates() {
		known[st.Name] = true
		if st.OwnerPID != 0 && st.ownerAlive() {
			continue // a live test process owns it
		}
		if err := teardown(st, filepath.Join(RunDir(), st.Name), 0); err != nil {
			errs = append(errs, err)
		}
	}
	orphan := func(name string) bool {
		if !strings.HasPrefix(name, NamePrefix) || known[name] {
			return false
		}
		pid := ownerPIDFromName(name)
		return pid != 0 && pid != os.Getpid() && !pidAlive(pid)
	}
	for _, ns := range listNetns() {
		if orphan(ns) {
			killNetnsProcs(ns)
			if err := run("ip", "netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, l := range listLinks() {
		if orphan(l) {
			if err := run("ip", "link", "del", l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, c := range ruleComments() {
		if orphan(c) {
			deleteRules(c)
		}
	}
	unmountRunNetnsIfEmpty()
	return errors.Join(errs...)
}

// teardown stops and removes everything of one host. pid processes get SIGTERM and grace to
// exit before SIGKILL (grace 0: SIGKILL at once).
func teardown(st state, dir string, grace time.Duration) error {
	var errs []error
	// 1. Processes: the recorded nspawn/qemu process (checked against its command line, so a
	// reused pid is never hit), then anything left in the host's network namespace (the
	// container's init; its PID namespace dies with it).
	if st.PID > 0 && pidAlive(st.PID) && cmdlineContains(st.PID, st.Name) {
		stopPID(st.PID, grace)
	}
	if pid := readPidfile(filepath.Join(dir, "qemu.pid")); pid > 0 && cmdlineContains(pid, st.Name) {
		stopPID(pid, grace)
	}
	killNetnsProcs(st.Name)
	// 2. Mounts under the host dir (overlay), deepest first.
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	// nspawn leaves an empty propagation directory per machine.
	_ = os.Remove(filepath.Join("/run/systemd/nspawn/propagate", st.Name))
	// 3. Network.
	deleteRules(st.Name)
	if linkExists(st.Name) {
		if err := run("ip", "link", "del", st.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if fileExists(filepath.Join("/run/netns", st.Name)) {
		if err := run("ip", "netns", "del", st.Name); err != nil {
			errs = append(errs, err)
		}
	}
	// 4. Files.
	if err := removeTree(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stopPID sends SIGTERM, waits up to grace for the process to go, then SIGKILLs it.
func stopPID(pid int, grace time.Duration) {
	if grace > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if waitGone(pid, grace) {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone(pid, 10*time.Second)
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for pidAlive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func cmdlineContains(pid int, s string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), s)
}

func readPidfile(p string) int {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// netnsProcs lists the processes whose network namespace is /run/netns/NAME.
func netnsProcs(name string) []int {
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/run/netns", name), &want); err != nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var got syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &got) == nil &&
			got.Ino == want.Ino && got.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}

func killNetnsProcs(name string) {
	pids := netnsProcs(name)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		waitGone(pid, 10*time.Second)
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unmountUnder(dir string) error {
	var errs []error
	for _, mp := range mountsUnder(dir) {
		if err := syscall.Unmount(mp, 0); err != nil {
			// Busy: detach it from the tree; the kernel frees it when the last user goes.
			if err2 := syscall.Unmount(mp, syscall.MNT_DETACH); err2 != nil {
				errs = append(errs, fmt.Errorf("umount %s: %w", mp, err2))
			}
		}
	}
	return errors.Join(errs...)
}

// removeTree unmounts everything below dir and removes it without crossing file systems.
func removeTree(dir string) error {
	if !fileExists(dir) {
		return nil
	}
	if err := unmountUnder(dir); err != nil {
		return err
	}
	if b, err := exec.Command("rm", "-rf", "--one-file-system", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("rm -rf %s: %v: %s", dir, err, b)
	}
	return nil
}

// unmountRunNetnsIfEmpty undoes the self bind mount that `ip netns add` puts on /run/netns,
// once no namespace is left in it (and nobody else holds it).
func unmountRunNetnsIfEmpty() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil || len(entries) > 0 {
		return
	}
	if len(mountsUnder("/run/netns")) == 1 {
		_ = syscall.Unmount("/run/netns", 0)
	}
}

func listNetns() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func listLinks() []string {
	entries, _ := os.ReadDir("/sys/class/net")
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func linkExists(name string) bool { return fileExists(filepath.Join("/sys/class/net", name)) }

// run runs a command and folds its output into the error.
func run(name string, args ...string) error {
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}

// ReapIfAvailable reaps leftovers of dead test processes when this host
// can run test hosts at all (a TestMain setup step).
func ReapIfAvailable() {
	if Available() == nil {
		Reap()
	}
}
