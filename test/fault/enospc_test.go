package fault_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when the test ends.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("fault: mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// filler fills a file system and gives back parts of it.
type filler struct {
	t    *testing.T
	f    *os.File
	size int64
}

// fill writes a file in dir until the file system is full.
func fill(t *testing.T, dir string) *filler {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	fl := &filler{t: t, f: f}
	for _, chunk := range []int{1 << 20, 64 << 10, 4 << 10, 512, 1} {
		buf := bytes.Repeat([]byte{'x'}, chunk)
		for {
			n, err := f.Write(buf)
			fl.size += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatalf("filling %s: %v", dir, err)
			}
		}
	}
	return fl
}

// free leaves n bytes of the file system free (about: tmpfs counts pages).
func (fl *filler) free(n int64) {
	fl.t.Helper()
	if err := fl.f.Truncate(fl.size - n); err != nil {
		fl.t.Fatal(err)
	}
}

// remove deletes the filler: the file system has room again.
func (fl *filler) remove() {
	fl.t.Helper()
	fl.f.Close()
	if err := os.Remove(fl.f.Name()); err != nil {
		fl.t.Fatal(err)
	}
}

// frees are the amounts left free on a full file system, so that writes
// fail at different points of each command.
var frees = []int64{0, 4 << 10, 8 << 10, 12 << 10, 16 << 10, 24 << 10, 32 << 10, 64 << 10}

// noSpaceError reports whether a failed command named the problem.
func noSpaceError(r result) bool {
	return r.code != 0 && strings.Contains(strings.ToLower(r.stderr), "no space left on device")
}

// TestENOSPC runs every write path of none machines on a store on a small
// full tmpfs, with 0 to 64 KiB left: create (with and without a CA yet),
// rm -y and rm -f. Each run either succeeds completely or fails non-zero
// naming the full disk; rm succeeds even with nothing free; what the
// store held before (machine m1, the CA) still loads unchanged; once
// room is made, one sweeping create leaves a consistent store.
func TestENOSPC(t *testing.T) {
	t.Parallel()
	type tally struct{ ok, failed int }
	figures := map[string]*tally{}
	start := time.Now()
	for _, op := range []string{"create", "create (no CA yet)", "rm -y", "rm -f"} {
		figures[op] = &tally{}
		for _, free := range frees {
			t.Run(fmt.Sprintf("%s/free=%d", op, free), func(t *testing.T) {
				mnt := mountTmpfs(t, 4<<20)
				s := newStoreAt(t, filepath.Join(mnt, "store"))
				var ca []byte
				if op != "create (no CA yet)" {
					s.createNone("m1")
					s.createNone("m2")
					ca = s.readCA()
				}
				fl := fill(t, mnt)
				fl.free(free)
				var r result
				switch op {
				case "create", "create (no CA yet)":
					r = s.run("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "m3")
				case "rm -y":
					r = s.run("rm", "-y", "m2")
				case "rm -f":
					r = s.run("rm", "-f", "m2")
				}
				if r.code == 0 {
					figures[op].ok++
				} else {
					figures[op].failed++
				}
				listed, problems := s.visibleNow("*")
				for _, p := range problems {
					t.Errorf("on the full disk: %s", p)
				}
				switch {
				case strings.HasPrefix(op, "rm"):
					if r.code != 0 {
						t.Errorf("rm must succeed on a full disk: %s", r)
					}
					if slices.Contains(listed, "m2") {
						t.Errorf("m2 still listed after %s", r)
					}
				case r.code == 0:
					if !slices.Contains(listed, "m3") {
						t.Errorf("create succeeded but ls does not list m3: %s", r)
					}
				default:
					if !noSpaceError(r) {
						t.Errorf("a failed create must name the full disk: %s", r)
					}
					if slices.Contains(listed, "m3") {
						t.Errorf("a failed create left m3 visible: %s", r)
					}
				}
				if ca != nil {
					if !slices.Contains(listed, "m1") {
						t.Errorf("m1 was lost: ls lists %q", listed)
					}
					if !bytes.Equal(ca, s.readCA()) {
						t.Errorf("the CA changed or was lost")
					}
				}
				fl.remove()
				if r := s.run("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "sweep"); r.code != 0 {
					t.Errorf("create after room was made: %s", r)
				}
				a := s.check("*")
				a.checkStaleServer()
				for _, p := range a.problems {
					t.Errorf("after room was made and a sweeping create (%s exited %d): %s", op, r.code, p)
				}
				if ca != nil && !bytes.Equal(ca, a.ca) {
					t.Errorf("the CA changed or was lost")
				}
				if r.code != 0 && op != "rm -y" && op != "rm -f" && slices.Contains(a.machines, "m3") {
					t.Errorf("the failed create's m3 appeared later")
				}
			})
		}
	}
	for op, f := range figures {
		t.Logf("ENOSPC %-20s %d succeeded, %d failed naming the full disk (%d cases)", op, f.ok, f.failed, len(frees))
	}
	t.Logf("ENOSPC none cases took %s", time.Since(start).Round(time.Second))
}

// TestENOSPCGeneric runs provision and regenerate-certs --client-certs of
// a generic machine on a kit host with its store on a full tmpfs: each
// succeeds or fails naming the full disk, a failure leaves the CA and the
// machine as they were, and once room is made regenerate-certs and
// provision repair everything and the docker CLI answers over TLS.
func TestENOSPCGeneric(t *testing.T) {
	requireHosts(t)
	requireDocker(t)
	t.Parallel()
	h := startDockerHost(t)
	mnt := mountTmpfs(t, 4<<20)
	s := newStoreAt(t, filepath.Join(mnt, "store"))
	s.must(genericArgs(h, "g")...)
	figures := map[string][2]int{}
	for _, op := range [][]string{{"provision", "g"}, {"regenerate-certs", "-f", "--client-certs", "g"}} {
		key := strings.Join(op, " ")
		for _, free := range []int64{0, 4 << 10, 12 << 10, 32 << 10} {
			t.Run(fmt.Sprintf("%s/free=%d", key, free), func(t *testing.T) {
				ca := s.readCA()
				fl := fill(t, mnt)
				fl.free(free)
				r := s.run(op...)
				f := figures[key]
				if r.code == 0 {
					f[0]++
				} else {
					f[1]++
					if !noSpaceError(r) {
						t.Errorf("a failure on a full disk must name it: %s", r)
					}
					if !bytes.Equal(ca, s.readCA()) {
						t.Errorf("a failed %s changed the CA", key)
					}
				}
				figures[key] = f
				listed, problems := s.visibleNow("g")
				for _, p := range problems {
					t.Errorf("on the full disk: %s", p)
				}
				if !slices.Contains(listed, "g") {
					t.Errorf("g was lost: ls lists %q", listed)
				}
				fl.remove()
				s.must("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "sweep")
				s.must("rm", "-y", "sweep")
				a := s.check("g")
				for _, p := range a.problems {
					t.Errorf("after room was made and a sweep (%s exited %d): %s", key, r.code, p)
				}
				for _, args := range [][]string{{"regenerate-certs", "-f", "g"}, {"provision", "g"}} {
					if r := s.run(args...); r.code != 0 {
						t.Errorf("repair after room was made: %s", r)
					}
				}
				a = s.check("g")
				a.checkStaleServer()
				for _, p := range a.problems {
					t.Errorf("after the repair: %s", p)
				}
			})
		}
	}
	for _, p := range s.dockerOverTLS("g") {
		t.Error(p)
	}
	for k, f := range figures {
		t.Logf("ENOSPC %-40s %d succeeded, %d failed naming the full disk", k, f[0], f[1])
	}
}
