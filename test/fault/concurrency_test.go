package fault_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestHundredProcesses starts 100 processes at once on one store: 30
// creates of distinct none machines, 10 names created by two processes
// each, 15 ls, 15 inspect, 10 regenerate-certs -f of none machines (an
// error: no SSH) and 10 rm -y. Exactly one create of each raced name
// wins, the other fails saying the machine exists or is being created;
// ls never shows anything but machines; the store afterwards holds
// exactly the expected machines, consistent, with the CA unchanged.
func TestHundredProcesses(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	var keep, removed []string
	for i := range 5 {
		n := fmt.Sprintf("k%d", i)
		s.createNone(n)
		keep = append(keep, n)
	}
	for i := range 10 {
		n := fmt.Sprintf("r%d", i)
		s.createNone(n)
		removed = append(removed, n)
	}
	ca := s.readCA()

	type proc struct {
		kind, name string
		cmd        *exec.Cmd
		out, err   bytes.Buffer
		res        result
	}
	var procs []*proc
	add := func(kind, name string, args ...string) {
		p := &proc{kind: kind, name: name}
		p.cmd = s.command(args...)
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
		procs = append(procs, p)
	}
	url := "tcp://127.0.0.1:2376"
	var unique, raced []string
	for i := range 30 {
		n := fmt.Sprintf("c%d", i)
		unique = append(unique, n)
		add("create", n, "create", "-d", "none", "--url", url, n)
	}
	for i := range 10 {
		n := fmt.Sprintf("p%d", i)
		raced = append(raced, n)
		add("race", n, "create", "-d", "none", "--url", url, n)
		add("race", n, "create", "-d", "none", "--url", url, n)
	}
	for i := range 15 {
		add("ls", "", "ls", "-q")
		add("inspect", keep[i%len(keep)], "inspect", keep[i%len(keep)])
	}
	for i := range 10 {
		add("regenerate", keep[i%len(keep)], "regenerate-certs", "-f", keep[i%len(keep)])
		add("rm", removed[i], "rm", "-y", removed[i])
	}
	if len(procs) != 100 {
		t.Fatalf("%d processes", len(procs))
	}
	// Interleave the kinds so that every kind runs while the others do.
	order := make([]*proc, 0, len(procs))
	for i := range procs {
		order = append(order, procs[(i*37)%len(procs)])
	}
	t0 := time.Now()
	for _, p := range order {
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range order {
		err := p.cmd.Wait()
		p.res = exitResult(t, p.cmd, err, p.out.String(), p.err.String())
	}
	elapsed := time.Since(t0)

	wins := map[string]int{}
	known := slices.Concat(keep, removed, unique, raced)
	for _, p := range procs {
		r := p.res
		switch p.kind {
		case "create":
			if r.code != 0 || r.stderr != "" {
				t.Errorf("create of a distinct name: %s", r)
			}
		case "race":
			if r.code == 0 {
				wins[p.name]++
				continue
			}
			exists := fmt.Sprintf("Docker machine %q already exists", p.name)
			if r.code != 1 || !(strings.Contains(r.stderr, exists) || strings.Contains(r.stderr, "being created")) {
				t.Errorf("the losing create of %s must say it exists or is being created: %s", p.name, r)
			}
		case "ls":
			if r.code != 0 {
				t.Errorf("ls: %s", r)
			}
			for _, n := range strings.Fields(r.stdout) {
				if !slices.Contains(known, n) {
					t.Errorf("ls listed %q, which no process creates", n)
				}
			}
		case "inspect":
			if r.code != 0 || !strings.Contains(r.stdout, `"ConfigVersion": 3`) {
				t.Errorf("inspect of an untouched machine: %s", r)
			}
		case "regenerate":
			if r.code != 1 || !strings.Contains(r.stderr, "does not support SSH") {
				t.Errorf("regenerate-certs of a none machine must fail saying it has no SSH: %s", r)
			}
		case "rm":
			if r.code != 0 || !strings.Contains(r.stdout, "Successfully removed "+p.name) {
				t.Errorf("rm: %s", r)
			}
		}
	}
	for _, n := range raced {
		if wins[n] != 1 {
			t.Errorf("%d creates of %s succeeded, want exactly 1", wins[n], n)
		}
	}

	s.must("create", "-d", "none", "--url", url, "sweep")
	s.must("rm", "-y", "sweep")
	a := s.check("*")
	a.checkStaleServer()
	for _, p := range a.problems {
		t.Error(p)
	}
	want := slices.Concat(keep, unique, raced)
	sort.Strings(want)
	if strings.Join(a.machines, " ") != strings.Join(want, " ") {
		t.Errorf("the store holds %q, want %q", a.machines, want)
	}
	if !bytes.Equal(ca, a.ca) {
		t.Error("the CA changed")
	}
	t.Logf("100 processes on one store: %s", elapsed.Round(time.Millisecond))
}
