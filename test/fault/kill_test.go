package fault_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// Kill quotas: 300 SIGKILLs that hit a running process, spread over the
// commands that write the store.
const (
	killsCreateFirst = 40  // create none in a store without a CA (the CA is made)
	killsCreate      = 100 // create none
	killsRm          = 100 // rm -y of a none machine
	killsProvision   = 20  // provision of a generic machine (rewrites config.json)
	killsRegenerate  = 20  // regenerate-certs -f of a generic machine
	killsRegenClient = 20  // regenerate-certs -f --client-certs (new CA and client pair)
)

// killAfter runs args and sends SIGKILL after delay.
func (s *store) killAfter(delay time.Duration, args ...string) result {
	s.t.Helper()
	t0 := time.Now()
	cmd, out, errb := s.start(args...)
	timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
	r := wait(s.t, cmd, out, errb)
	r.elapsed = time.Since(t0)
	timer.Stop()
	return r
}

// timeRun runs args to completion (exit 0 required) and returns how long
// it took, process start included.
func (s *store) timeRun(args ...string) time.Duration {
	s.t.Helper()
	t0 := time.Now()
	s.must(args...)
	return time.Since(t0)
}

// killStats counts, for one command, the kills that hit it and how the
// store was left.
type killStats struct {
	kills, finished int
	// visible and absent count, after a kill, whether the command's
	// machine was a complete machine or not there at all.
	visible, absent int
	// caReplaced counts kills of regenerate-certs --client-certs after
	// which the store had the new CA; staleServer those after which a
	// server.pem still had the old one.
	caReplaced, staleServer int
	dur                     time.Duration
}

func (k *killStats) String() string {
	s := fmt.Sprintf("%d kills, %d finished before the kill, measured %s", k.kills, k.finished, k.dur.Round(time.Millisecond))
	if k.visible+k.absent > 0 {
		s += fmt.Sprintf("; machine complete after %d, absent after %d", k.visible, k.absent)
	}
	if k.caReplaced+k.staleServer > 0 {
		s += fmt.Sprintf("; new CA after %d, a server.pem of the old CA after %d", k.caReplaced, k.staleServer)
	}
	return s
}

// failures collects broken invariants over a loop of hundreds of runs:
// the first occurrence of each kind of problem fails the test with its
// context, later ones are counted, and the counts are logged at the end.
type failures struct {
	t      testing.TB
	counts map[string]int
	order  []string
}

var digits = regexp.MustCompile(`\b[vn]?[0-9a-f]*[0-9][0-9a-f]*(\.[0-9]+)?(ms|µs|s)?\b`)

func (f *failures) report(context string, problems ...string) bool {
	f.t.Helper()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	for _, p := range problems {
		first, _, _ := strings.Cut(p, "\n")
		kind := digits.ReplaceAllString(first, "N")
		if f.counts[kind] == 0 {
			f.order = append(f.order, kind)
			f.t.Errorf("%s:\n%s", context, p)
		}
		f.counts[kind]++
	}
	return len(problems) > 0
}

// summary logs how often each kind of problem occurred.
func (f *failures) summary() {
	f.t.Helper()
	for _, k := range f.order {
		f.t.Logf("%d× %s", f.counts[k], k)
	}
}

// sweep runs one command that sweeps leftovers (a create of a new none
// machine or an rm of an existing one other than busy) and requires it to
// succeed. It returns the problems it found.
func (s *store) sweep(rng *rand.Rand, seq *int, busy string) []string {
	s.t.Helper()
	return s.sweepWith(rng, seq, busy, false)
}

// sweepWith is sweep; mustCreate picks a create, whose certificate
// bootstrap completes a CA and client pair a killed
// `regenerate-certs --client-certs` left half replaced (an rm does not
// look at certificates).
func (s *store) sweepWith(rng *rand.Rand, seq *int, busy string, mustCreate bool) []string {
	s.t.Helper()
	var others []string
	names, _ := s.visibleNow()
	for _, n := range names {
		if n != busy && strings.HasPrefix(n, "n") {
			others = append(others, n)
		}
	}
	var r result
	if !mustCreate && len(others) > 0 && (len(others) > 3 || rng.IntN(2) == 0) {
		r = s.run("rm", "-y", others[rng.IntN(len(others))])
	} else {
		*seq++
		r = s.run("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", fmt.Sprintf("n%d", *seq))
	}
	if r.code != 0 {
		return []string{"sweeping command failed: " + r.String()}
	}
	return nil
}

// TestKillNone sends SIGKILL at random moments (a fixed seed, delays
// drawn over each command's measured duration) to create and rm of none
// machines, in stores with and without a CA. After every kill: whatever
// ls shows loads; then one sweeping command (create or rm of another
// machine) runs and the store must be consistent (see inspectStore), the
// killed command's machine complete or absent, the CA unchanged once it
// exists, and an absent name free for a new create.
func TestKillNone(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	fail := &failures{t: t}
	stats := map[string]*killStats{"create (no CA yet)": {}, "create": {}, "rm -y": {}}
	start := time.Now()

	// Durations, measured on this machine now.
	{
		s := newStore(t)
		stats["create (no CA yet)"].dur = s.timeRun("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "m")
		// The quickest of three: a kill drawn within it lands while the
		// command runs (one slow first run made most kills of rm, which
		// takes milliseconds, arrive after it had exited).
		for i := range 3 {
			name := fmt.Sprintf("m%d", i+2)
			c := s.timeRun("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", name)
			r := s.timeRun("rm", "-y", name)
			if i == 0 || c < stats["create"].dur {
				stats["create"].dur = c
			}
			if i == 0 || r < stats["rm -y"].dur {
				stats["rm -y"].dur = r
			}
		}
	}

	// The first creates of fresh stores: the CA and client pair are made.
	for i := 0; stats["create (no CA yet)"].kills < killsCreateFirst; i++ {
		if i > 3*killsCreateFirst {
			t.Fatalf("only %d of %d kills hit a running create", stats["create (no CA yet)"].kills, killsCreateFirst)
		}
		st := stats["create (no CA yet)"]
		s := newStore(t)
		delay := time.Duration(rng.Int64N(int64(st.dur)))
		r := s.killAfter(delay, "create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "first")
		ctx := fmt.Sprintf("create (no CA yet) killed after %s", delay)
		if !killedOrOK(fail, ctx, r, st) {
			continue
		}
		_, problems := s.visibleNow("*")
		fail.report(ctx+": before the sweep", problems...)
		caAfterKill := inspectStore(s.root).ca
		seq := 0
		problems = s.sweep(rng, &seq, "first")
		a := s.check("*")
		a.checkStaleServer()
		problems = append(problems, a.problems...)
		if caAfterKill != nil && !bytes.Equal(caAfterKill, a.ca) {
			problems = append(problems, "the CA the killed create left was replaced by the next create")
		}
		if a.ca == nil {
			problems = append(problems, "no CA after a create succeeded")
		}
		countMachine(st, a, "first")
		problems = append(problems, nameFree(s, a, "first")...)
		fail.report(ctx, problems...)
	}

	// create and rm in one long-lived store.
	s := newStore(t)
	s.createNone("base")
	ca := s.readCA()
	seq := 0
	victims := 0
	for i := 0; stats["create"].kills < killsCreate || stats["rm -y"].kills < killsRm; i++ {
		if i > 6*(killsCreate+killsRm) {
			t.Fatalf("kills that hit: create %d of %d, rm %d of %d", stats["create"].kills, killsCreate, stats["rm -y"].kills, killsRm)
		}
		op := "create"
		if stats["create"].kills >= killsCreate || (stats["rm -y"].kills < killsRm && rng.IntN(2) == 0) {
			op = "rm -y"
		}
		st := stats[op]
		victims++
		name := fmt.Sprintf("v%d", victims)
		var args []string
		if op == "create" {
			args = []string{"create", "-d", "none", "--url", "tcp://127.0.0.1:2376", name}
		} else {
			s.createNone(name)
			args = []string{"rm", "-y", name}
		}
		delay := time.Duration(rng.Int64N(int64(st.dur)))
		r := s.killAfter(delay, args...)
		ctx := fmt.Sprintf("%s %s killed after %s", op, name, delay)
		if !killedOrOK(fail, ctx, r, st) {
			if op == "create" {
				s.must("rm", "-y", name)
			}
			continue
		}
		_, problems := s.visibleNow(name, "base")
		fail.report(ctx+": before the sweep", problems...)
		problems = s.sweep(rng, &seq, name)
		a := s.check(name, "base")
		a.checkStaleServer()
		problems = append(problems, a.problems...)
		if !bytes.Equal(ca, a.ca) {
			problems = append(problems, "the CA changed (or was lost)")
		}
		if !slices.Contains(a.machines, "base") {
			problems = append(problems, "machine base, untouched, is gone")
		}
		countMachine(st, a, name)
		problems = append(problems, nameFree(s, a, name)...)
		fail.report(ctx, problems...)
		// Leave no victim behind for the next round.
		if s.machineExists(name) {
			s.must("rm", "-y", name)
		}
	}
	report(t, "TestKillNone", start, stats)
	fail.summary()
}

// killedOrOK classifies a run that was sent SIGKILL: true when the kill
// hit it; false when it had finished (it must have succeeded then).
func killedOrOK(f *failures, ctx string, r result, st *killStats) bool {
	if r.signal == syscall.SIGKILL {
		st.kills++
		return true
	}
	st.finished++
	// The command ran quicker than measured (the measurement met a
	// busier moment): later delays are drawn within this quicker run,
	// or most of them would come after the command's end.
	if r.elapsed > 0 && r.elapsed < st.dur {
		st.dur = r.elapsed
	}
	if r.code != 0 {
		f.report(ctx+": finished before the kill, and failed", r.String())
	}
	return false
}

func countMachine(st *killStats, a *audit, name string) {
	if slices.Contains(a.machines, name) {
		st.visible++
	} else {
		st.absent++
	}
}

// nameFree checks that a name the store does not hold can be created
// (nothing of a killed command blocks it), then removes the machine.
func nameFree(s *store, a *audit, name string) []string {
	if slices.Contains(a.machines, name) {
		return nil
	}
	r := s.run("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", name)
	if r.code != 0 {
		return []string{"the name of the killed command's machine is not free: " + r.String()}
	}
	if r := s.run("rm", "-y", name); r.code != 0 {
		return []string{r.String()}
	}
	return nil
}

func report(t *testing.T, test string, start time.Time, stats map[string]*killStats) {
	keys := make([]string, 0, len(stats))
	total := 0
	for k, v := range stats {
		keys = append(keys, k)
		total += v.kills
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d kills in %s\n", test, total, time.Since(start).Round(time.Second))
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-32s %s\n", k, stats[k])
	}
	t.Log(b.String())
}

// genericArgs are create's arguments for a generic machine on h.
func genericArgs(h *testhost.Host, extra ...string) []string {
	args := []string{"create", "-d", "generic",
		"--generic-ip-address", h.IP,
		"--generic-ssh-key", h.KeyPath,
		"--generic-ssh-user", h.User,
		"--generic-ssh-port", fmt.Sprint(h.SSHPort),
		"--engine-install-method", "none",
	}
	return append(args, extra...)
}

// startDockerHost starts an nspawn kit host with Docker, as it comes:
// these tests provision and regenerate one host many times a minute, past
// the 3 starts in 60 s Debian's docker.service allows, which the
// provisioner's restart (systemctl reset-failed first) must cope with.
func startDockerHost(t *testing.T) *testhost.Host {
	t.Helper()
	return testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
}

func requireHosts(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault: real hosts are skipped in -short mode")
	}
	if err := testhost.Available(); err != nil {
		t.Skip(err.Error())
	}
}

// dockerOverTLS runs the real docker CLI against the machine with the
// environment env prints, and returns the problem, if any.
func (s *store) dockerOverTLS(name string) []string {
	s.t.Helper()
	r := s.run("env", "--shell", "bash", name)
	if r.code != 0 {
		return []string{"env: " + r.String()}
	}
	cmd := s.command() // for its environment
	script := r.stdout + "\ndocker version --format '{{.Server.Version}}'\n"
	sh := execBash(cmd.Env, script)
	if sh.code != 0 || strings.TrimSpace(sh.stdout) == "" {
		return []string{"docker over TLS: " + sh.String()}
	}
	return nil
}

// TestKillGeneric sends SIGKILL at random moments to provision and
// regenerate-certs (with and without --client-certs) of a generic
// machine on a kit host: the commands that rewrite config.json, the
// machine's server pair and the store's CA. After every kill and one
// sweeping command the store is consistent, the machine is still there,
// and the CA is the old one or (--client-certs only) a complete new one.
// At the end an unkilled regenerate-certs and provision succeed and the
// docker CLI answers over TLS.
func TestKillGeneric(t *testing.T) {
	requireHosts(t)
	requireDocker(t)
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 9))
	fail := &failures{t: t}
	start := time.Now()
	h := startDockerHost(t)
	s := newStore(t)
	s.must(genericArgs(h, "g")...)
	ops := []struct {
		key   string
		args  []string
		quota int
	}{
		{"provision", []string{"provision", "g"}, killsProvision},
		{"regenerate-certs -f", []string{"regenerate-certs", "-f", "g"}, killsRegenerate},
		{"regenerate-certs -f --client-certs", []string{"regenerate-certs", "-f", "--client-certs", "g"}, killsRegenClient},
	}
	stats := map[string]*killStats{}
	for _, op := range ops {
		stats[op.key] = &killStats{dur: s.timeRun(op.args...)}
	}
	seq := 0
	staleAllowed := false
	for i := 0; ; i++ {
		var left []int
		for j, op := range ops {
			if stats[op.key].kills < op.quota {
				left = append(left, j)
			}
		}
		if len(left) == 0 {
			break
		}
		if i > 100 {
			t.Fatalf("too many runs finished before their kill: %v", stats)
		}
		op := ops[left[rng.IntN(len(left))]]
		st := stats[op.key]
		caBefore := s.readCA()
		delay := time.Duration(rng.Int64N(int64(st.dur)))
		r := s.killAfter(delay, op.args...)
		ctx := fmt.Sprintf("%s killed after %s", op.key, delay)
		if !killedOrOK(fail, ctx, r, st) {
			staleAllowed = staleAllowed && r.code != 0
			continue
		}
		_, problems := s.visibleNow("g")
		fail.report(ctx+": before the sweep", problems...)
		problems = s.sweepWith(rng, &seq, "g", op.key == "regenerate-certs -f --client-certs")
		a := s.check("g")
		if op.key == "regenerate-certs -f --client-certs" {
			staleAllowed = true
		}
		if len(a.staleServer) > 0 {
			st.staleServer++
			// Allowed only while a killed --client-certs run is the last
			// thing that touched the certificates.
			if !staleAllowed {
				a.checkStaleServer()
			}
			a.staleServer = nil
		}
		problems = append(problems, a.problems...)
		if !slices.Contains(a.machines, "g") {
			problems = append(problems, "machine g is gone")
		}
		if !bytes.Equal(caBefore, a.ca) {
			if op.key == "regenerate-certs -f --client-certs" {
				st.caReplaced++
			} else {
				problems = append(problems, "the CA changed")
			}
		}
		fail.report(ctx, problems...)
	}

	// Whatever the kills left, the machine can be repaired and used.
	for _, args := range [][]string{{"regenerate-certs", "-f", "g"}, {"provision", "g"}} {
		if r := s.run(args...); r.code != 0 {
			t.Fatalf("after the kills: %s", r)
		}
	}
	a := s.check("*")
	a.checkStaleServer()
	fail.report("after the kills and a repair", append(a.problems, s.dockerOverTLS("g")...)...)
	report(t, "TestKillGeneric", start, stats)
	fail.summary()
}
