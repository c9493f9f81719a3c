package persist

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Names of the hidden entries of machines/ (never machines: List skips
// names that start with a dot).
const (
	// stagingPrefix: a machine being created, machines/.staging-<hex>/,
	// reached through the link machines/NAME -> .staging-<hex>.
	stagingPrefix = ".staging-"
	// trashPrefix: a machine being removed, machines/.rm-<hex>/.
	trashPrefix = ".rm-"
	// oldTrashPrefix: what earlier versions renamed removed machines to
	// (.removing-NAME-<n>/).
	oldTrashPrefix = ".removing-"
)

// ErrBeingCreated is returned for a machine whose create has not
// finished: Held says another process is creating it right now; without
// it, the create was interrupted (the process was killed) and the next
// create or rm cleans it up.
type ErrBeingCreated struct {
	Name string
	Held bool
}

func (e *ErrBeingCreated) Error() string {
	if e.Held {
		return fmt.Sprintf("Docker machine %q is being created by another docker-machine process; try again when it has finished", e.Name)
	}
	return fmt.Sprintf("Docker machine %q was not completely created (its create was interrupted); remove it with \"docker-machine rm -f %s\"", e.Name, e.Name)
}

// stagingOf returns the staging directory of a machine being created: a
// machines/NAME that is a link to .staging-<hex>.
func (s *Store) stagingOf(name string) (string, bool) {
	target, err := fsutil.ReadSiblingLink(s.MachineDir(name))
	if err != nil || !strings.HasPrefix(target, stagingPrefix) {
		return "", false
	}
	return filepath.Join(s.MachinesDir(), target), true
}

// BeginCreate reserves name for a new machine and gives it a hidden
// staging directory: machines/NAME becomes a link to
// machines/.staging-<hex>, so drivers and provisioners use the machine's
// usual paths, while listings do not show it (it is not a directory) and
// loading it says it is being created. Publish makes it a machine;
// Remove discards it. Callers hold the machine's Lock.
//
// The link is made first: it claims the name atomically (ErrExists when
// taken), and a staging directory always has a link to it, so a sweep
// never mistakes a live one for a leftover.
func (s *Store) BeginCreate(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.MkdirAll(s.MachinesDir(), DirMode); err != nil {
		return err
	}
	base := stagingPrefix + randomHex()
	if err := fsutil.LinkSibling(base, s.MachineDir(name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &ErrExists{Name: name}
		}
		return fmt.Errorf("creating machine %q: %w", name, err)
	}
	if err := os.Mkdir(filepath.Join(s.MachinesDir(), base), DirMode); err != nil {
		os.Remove(s.MachineDir(name))
		return fmt.Errorf("creating machine %q: %w", name, err)
	}
	return nil
}

// Publish turns a machine being created into a machine: its staging
// directory takes the place of the link in one rename (an exchange where
// the system has one), so the machine appears whole or not at all.
func (s *Store) Publish(name string) error {
	staging, ok := s.stagingOf(name)
	if !ok {
		return fmt.Errorf("publishing machine %q: it is not being created", name)
	}
	dir := s.MachineDir(name)
	if err := exchange(staging, dir); err == nil {
		// The link now has the staging name.
		os.Remove(staging)
	} else {
		log.Debugf("store: no atomic exchange (%v); replacing the link", err)
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("publishing machine %q: %w", name, err)
		}
		if err := os.Rename(staging, dir); err != nil {
			return fmt.Errorf("publishing machine %q: %w", name, err)
		}
	}
	return fsutil.SyncDir(s.MachinesDir())
}

// discard deletes a machine that was never published: the staging
// directory first, then the link (a link without its directory is still
// recognised as an unfinished create; a directory without its link would
// not be).
func (s *Store) discard(name, staging string) error {
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("removing machine %q: %w", name, err)
	}
	if err := os.Remove(s.MachineDir(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing machine %q: %w", name, err)
	}
	return nil
}

// renameAside renames path to machines/<prefix><hex> and returns the new
// path.
func (s *Store) renameAside(path, prefix string) (string, error) {
	var err error
	for range 3 {
		to := filepath.Join(s.MachinesDir(), prefix+randomHex())
		if err = os.Rename(path, to); err == nil {
			return to, nil
		}
		if !errors.Is(err, fs.ErrExist) && !isNotEmpty(err) {
			break
		}
	}
	return "", err
}

func randomHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tempMarkers are the infixes of temporary files in a machine directory:
// fsutil.WriteFileAtomic's ".<file>.tmp<n>" and the certificate pair
// writer's ".<file>.pair-tmp-<n>".
var tempMarkers = []string{".tmp", ".pair-tmp-"}

// machineFiles are the files of a machine directory written under the
// machine's lock; their temporary files are leftovers whenever the lock
// is held. (known_hosts has a lock of its own and is not among them.)
var machineFiles = []string{"config.json", "config.json.bak", "server.pem", "server-key.pem", "ca.pem", "cert.pem", "key.pem", "id_rsa", "id_rsa.pub"}

// sweepTemps removes what interrupted writes left in a machine
// directory. Callers hold the machine's lock.
func sweepTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if isTempOf(e.Name(), machineFiles) && e.Type().IsRegular() {
			p := filepath.Join(dir, e.Name())
			if os.Remove(p) == nil {
				log.Debugf("store: removed %s, left by an interrupted write", p)
			}
		}
	}
}

// sweepMachineTemps removes what a killed writer left in the directory of
// machine name, if nobody holds the machine (the lock is taken only when
// there is something to remove).
func (s *Store) sweepMachineTemps(name string) {
	dir := s.MachineDir(name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !isTempOf(e.Name(), machineFiles) {
			continue
		}
		if l, err := fsutil.TryLockFile(s.lockPath(name)); err == nil && l != nil {
			sweepTemps(dir)
			l.Unlock()
		}
		return
	}
}

func isTempOf(entry string, files []string) bool {
	for _, f := range files {
		rest, ok := strings.CutPrefix(entry, "."+f)
		if !ok {
			continue
		}
		for _, m := range tempMarkers {
			if strings.HasPrefix(rest, m) {
				return true
			}
		}
	}
	return false
}

// Cleanup undoes what an interrupted create left outside the store: the
// driver's resources (a VM, a cloud instance). It gets the machine as far
// as it was recorded; h is nil when nothing was recorded yet.
type Cleanup func(name string, h *host.Host) error

// Sweep deletes what killed processes left in machines/: directories of
// removals (.rm-*, and .removing-* of earlier versions), unfinished
// creates nobody holds (cleanup is called for what their driver made;
// when it fails, the create is kept for the next sweep), and lock files
// nobody holds. Live operations of other processes are never touched:
// their lock is held. Sweep returns the names of the unfinished creates
// it removed.
func (s *Store) Sweep(cleanup Cleanup) []string {
	dir := s.MachinesDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	linked := map[string]bool{}
	var creates, orphans []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case fsutil.IsLink(e.Type()) && !strings.HasPrefix(n, "."):
			if staging, ok := s.stagingOf(n); ok {
				linked[filepath.Base(staging)] = true
				creates = append(creates, n)
			}
		case strings.HasPrefix(n, trashPrefix) || strings.HasPrefix(n, oldTrashPrefix):
			s.removeLeftover(filepath.Join(dir, n))
		case strings.HasPrefix(n, stagingPrefix):
			if fsutil.IsLink(e.Type()) {
				// A published machine's link under its staging name (the
				// publisher was killed right after the exchange).
				s.removeLeftover(filepath.Join(dir, n))
			} else {
				orphans = append(orphans, n)
			}
		case e.IsDir() && !strings.HasPrefix(n, "."):
			s.sweepMachineTemps(n)
		case strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".lock") || strings.HasPrefix(n, ".lock-")):
			// Taking and releasing a lock nobody holds deletes its file.
			if l, err := fsutil.TryLockFile(filepath.Join(dir, n)); err == nil && l != nil {
				l.Unlock()
			}
		}
	}
	s.sweepSessions()
	// The certificate lock of a killed bootstrap (the store's own certs/;
	// --tls-* paths elsewhere are the user's).
	// Only an existing one: a sweep with nothing to do changes nothing.
	if certsLock := filepath.Join(s.CertsDir(), ".lock"); exists(certsLock) {
		if l, err := fsutil.TryLockFile(certsLock); err == nil && l != nil {
			l.Unlock()
		}
	}
	var swept []string
	for _, n := range creates {
		if s.sweepCreate(n, cleanup) {
			swept = append(swept, n)
		}
	}
	for _, o := range orphans {
		if !linked[o] {
			s.sweepOrphan(o)
		}
	}
	return swept
}

// sweepCreate removes the unfinished create of name if nobody holds it.
func (s *Store) sweepCreate(name string, cleanup Cleanup) bool {
	l, err := fsutil.TryLockFile(s.lockPath(name))
	if err != nil || l == nil {
		return false
	}
	defer l.Unlock()
	staging, ok := s.stagingOf(name)
	if !ok {
		return false // published or removed meanwhile
	}
	if err := s.CleanupStaged(name, staging, cleanup); err != nil {
		log.Warnf("Could not clean up the interrupted create of %q: %v (the next create or rm tries again)", name, err)
		return false
	}
	log.Debugf("store: removed the interrupted create of %q", name)
	return true
}

// CleanupStaged runs cleanup for the machine being created in staging
// and discards it. Callers hold the machine's lock.
func (s *Store) CleanupStaged(name, staging string, cleanup Cleanup) error {
	h, err := s.load(name, staging)
	if err != nil {
		h = nil // nothing recorded (or not readable): nothing to undo
	}
	if cleanup != nil {
		if err := cleanup(name, h); err != nil {
			return err
		}
	}
	return s.discard(name, staging)
}

// StagingDir returns the staging directory of a machine being created.
func (s *Store) StagingDir(name string) (string, bool) { return s.stagingOf(name) }

// orphanAge is how old a staging directory without a link must be to be
// swept. A creator makes its link before its directory and discards the
// directory before the link, so such a directory is a leftover; the only
// live one is a Publish without an atomic exchange, between removing the
// link and renaming the directory, for microseconds.
const orphanAge = 10 * time.Minute

// sweepOrphan removes a staging directory that no link points to, unless
// the listing missed a link made while it was read (it looks again) or
// the directory is younger than orphanAge.
func (s *Store) sweepOrphan(base string) {
	path := filepath.Join(s.MachinesDir(), base)
	if fi, err := os.Lstat(path); err != nil || time.Since(fi.ModTime()) < orphanAge {
		return
	}
	entries, err := os.ReadDir(s.MachinesDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if !fsutil.IsLink(e.Type()) {
			continue
		}
		if t, err := fsutil.ReadSiblingLink(filepath.Join(s.MachinesDir(), e.Name())); err == nil && t == base {
			return
		}
	}
	s.removeLeftover(path)
}

func (s *Store) removeLeftover(path string) {
	if err := os.RemoveAll(path); err != nil {
		log.Debugf("store: could not remove the leftover %s: %v", path, err)
		return
	}
	log.Debugf("store: removed the leftover %s", path)
}

// sweepSessions removes TLS session caches of machines that no longer
// exist (an rm killed before it got to them) and temporary files of
// interrupted cache writes. Those are written without the machine's
// lock, so only old ones count as leftovers.
func (s *Store) sweepSessions() {
	dir := filepath.Dir(s.TLSSessionPath("x"))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		p := filepath.Join(dir, n)
		if strings.HasPrefix(n, ".") {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > orphanAge {
				s.removeLeftover(p)
			}
			continue
		}
		if _, err := os.Lstat(s.MachineDir(n)); errors.Is(err, fs.ErrNotExist) {
			s.removeLeftover(p)
		}
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
