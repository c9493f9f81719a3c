// Package persist is the on-disk machine store: <root>/machines/<name>/
// config.json plus keys and certificates, compatible with the original.
// Writes are atomic and serialized per machine by a lock file; reads never
// write.
package persist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
	"github.com/docker-machine-ng/machine/libmachine/registry"
)

// Modes of store files and directories.
const (
	DirMode  = 0o700
	FileMode = 0o600
)

// ErrNotExist is returned for a machine the store does not have.
type ErrNotExist struct{ Name string }

func (e *ErrNotExist) Error() string {
	return fmt.Sprintf("Docker machine %q does not exist. Use \"docker-machine ls\" to list machines. Use \"docker-machine create\" to add a new one.", e.Name)
}

// ErrExists is returned when creating a machine whose directory exists.
type ErrExists struct{ Name string }

func (e *ErrExists) Error() string { return fmt.Sprintf("Docker machine %q already exists", e.Name) }

// ErrNotRegular refuses a config file that is not a regular file (a FIFO,
// a device, a directory).
var ErrNotRegular = errors.New("not a regular file; move it away and restore the machine's config.json from a backup, or remove the machine with \"docker-machine rm -f\"")

// Store is a machine store rooted at Root.
type Store struct {
	Root string
}

// New returns the store at root.
func New(root string) *Store { return &Store{Root: root} }

// MachinesDir is <root>/machines.
func (s *Store) MachinesDir() string { return filepath.Join(s.Root, "machines") }

// CertsDir is <root>/certs.
func (s *Store) CertsDir() string { return filepath.Join(s.Root, "certs") }

// MachineDir is the directory of one machine.
func (s *Store) MachineDir(name string) string { return filepath.Join(s.MachinesDir(), name) }

// TLSSessionPath is where the connection check keeps the TLS session of
// a machine's daemon (<root>/cache/tls-sessions/<name>): a cache, never
// needed, removed with the machine.
func (s *Store) TLSSessionPath(name string) string {
	return filepath.Join(s.Root, "cache", "tls-sessions", name)
}

func (s *Store) configPath(name string) string {
	return filepath.Join(s.MachineDir(name), "config.json")
}

func (s *Store) lockPath(name string) string {
	return filepath.Join(s.MachinesDir(), lockName(name))
}

// lockName is ".NAME.lock"; for names too long to leave room for the
// affixes (possible in stores the original wrote: it had no cap) it is
// ".lock-<sha256 of NAME>", so every machine can be locked and removed.
func lockName(name string) string {
	if len(name) <= host.MaxNameLength {
		return "." + name + ".lock"
	}
	sum := sha256.Sum256([]byte(name))
	return ".lock-" + hex.EncodeToString(sum[:16])
}

// List returns the machine names, sorted. Entries starting with "." are
// not machines (lock and temp files live there).
func (s *Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.MachinesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing machines: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// checkName refuses a name that is not a plain entry of machines/
// ("../x", "a/b", ".", ".."): every operation builds paths from the name,
// and none may reach outside the machine's own directory. Such a name can
// never be a machine, so it "does not exist".
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return &ErrNotExist{Name: name}
	}
	return nil
}

// Exists reports whether the machine directory exists.
func (s *Store) Exists(name string) (bool, error) {
	if checkName(name) != nil {
		return false, nil
	}
	// Lstat: a machine being created (a link to its staging directory)
	// exists too, even while its link dangles.
	_, err := os.Lstat(s.MachineDir(name))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// Load reads one machine. Older config versions are migrated in memory;
// nothing is written.
func (s *Store) Load(name string) (*host.Host, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, ok := s.stagingOf(name); ok {
		return nil, &ErrBeingCreated{Name: name, Held: fsutil.Held(s.lockPath(name))}
	}
	return s.load(name, s.MachineDir(name))
}

// load reads the machine name from dir (its directory, or its staging
// directory while it is being created).
func (s *Store) load(name, dir string) (*host.Host, error) {
	data, err := readFile(filepath.Join(dir, "config.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if ok, _ := s.Exists(name); ok {
				if fsutil.Held(s.lockPath(name)) {
					// Being removed or changed right now: no advice to
					// remove it by force.
					return nil, fmt.Errorf("machine %q is being changed by another docker-machine process (it has no config.json at the moment); try again when that process has finished", name)
				}
				return nil, fmt.Errorf("machine %q has no config.json; remove it with \"docker-machine rm -f %s\"", name, name)
			}
			return nil, &ErrNotExist{Name: name}
		}
		return nil, err
	}
	st, migrated, err := host.Decode(data, dir)
	if err != nil {
		return nil, err
	}
	d, err := registry.Load(st.DriverName, name, s.Root, st.Driver)
	if err != nil {
		return nil, err
	}
	h := &host.Host{
		ConfigVersion: host.ConfigVersion,
		Driver:        d,
		DriverName:    st.DriverName,
		HostOptions:   st.HostOptions,
		Name:          name,
		RawDriver:     st.Driver,
	}
	if migrated {
		h.Migrated = data
	}
	return h, nil
}

// LoadResult is one machine of LoadAll: a host or the error loading it.
type LoadResult struct {
	Name string
	Host *host.Host
	Err  error
}

// LoadAll loads every machine concurrently, in name order. A broken
// machine yields an error entry and never stops the others.
func (s *Store) LoadAll() ([]LoadResult, error) {
	names, err := s.List()
	if err != nil {
		return nil, err
	}
	out := make([]LoadResult, len(names))
	workers := min(runtime.GOMAXPROCS(0)*2, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer procutil.GuardDone(wg.Done)
			for i := range next {
				// List returned real directories only: no machine in
				// creation among them.
				h, err := s.load(names[i], s.MachineDir(names[i]))
				out[i] = LoadResult{Name: names[i], Host: h, Err: err}
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, nil
}

// Lock serializes writers of one machine across processes. It waits as
// long as another process holds the machine; LockContext can be
// interrupted.
func (s *Store) Lock(name string) (*fsutil.Lock, error) {
	return s.LockContext(context.Background(), name)
}

// LockContext is Lock until ctx ends. A wait is announced on stderr once,
// naming the process waited for.
func (s *Store) LockContext(ctx context.Context, name string) (*fsutil.Lock, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.MachinesDir(), DirMode); err != nil {
		return nil, err
	}
	l, err := fsutil.LockFileContext(ctx, s.lockPath(name), func(pid int) {
		who := "another docker-machine process"
		if pid > 0 {
			who = fmt.Sprintf("docker-machine process %d", pid)
		}
		log.Errorf("Waiting for %s, which is using machine %q...", who, name)
	})
	if err != nil {
		return nil, fmt.Errorf("machine %q: %w", name, err)
	}
	return l, nil
}

// CreateDir makes the machine directory directly (no staging); it fails
// with ErrExists when the name is taken (mkdir is atomic, so two creators
// cannot both succeed). Create uses BeginCreate instead.
func (s *Store) CreateDir(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.MkdirAll(s.MachinesDir(), DirMode); err != nil {
		return err
	}
	if err := os.Mkdir(s.MachineDir(name), DirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &ErrExists{Name: name}
		}
		return err
	}
	return nil
}

// Save writes config.json atomically. When the host was migrated from an
// older version, the original bytes are kept once as config.json.bak.
// Callers hold the machine's Lock.
func (s *Store) Save(h *host.Host) error {
	if err := checkName(h.Name); err != nil {
		return err
	}
	dir := s.MachineDir(h.Name)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("saving machine %q: %w", h.Name, err)
	}
	if h.Migrated != nil {
		bak := filepath.Join(dir, "config.json.bak")
		if _, err := os.Stat(bak); errors.Is(err, fs.ErrNotExist) {
			if err := fsutil.WriteFileAtomic(bak, h.Migrated, FileMode); err != nil {
				return fmt.Errorf("saving machine %q: backup: %w", h.Name, err)
			}
		}
		h.Migrated = nil
	}
	h.ConfigVersion = host.ConfigVersion
	data, err := h.Marshal()
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(s.configPath(h.Name), data, FileMode); err != nil {
		return fmt.Errorf("saving machine %q: %w", h.Name, err)
	}
	// The lock is held: temporary files in the directory are leftovers
	// of interrupted writes.
	sweepTemps(dir)
	return nil
}

// Remove deletes the machine directory. Callers hold the machine's Lock.
//
// The directory is first renamed to machines/.rm-<random>, so that a
// half-deleted directory never looks like a machine; the new name is
// short and fixed, and a rename needs no free space, so this works for
// every name and on a full disk. When even the rename fails, the
// directory is deleted in place, config.json first. Leftovers of a
// removal that was killed are deleted by Sweep.
func (s *Store) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	dir := s.MachineDir(name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return &ErrNotExist{Name: name}
	}
	if staging, ok := s.stagingOf(name); ok {
		return s.discard(name, staging)
	}
	// The session ticket is a cache; a later machine of the same name
	// would not match its fingerprint anyway.
	os.Remove(s.TLSSessionPath(name))
	trash, err := s.renameAside(dir, trashPrefix)
	if err != nil {
		log.Debugf("store: removing %s in place: %v", dir, err)
		if err := os.Remove(filepath.Join(dir, "config.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing machine %q: %w", name, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing machine %q: %w", name, err)
		}
		return nil
	}
	if err := os.RemoveAll(trash); err != nil {
		log.Debugf("store: %s is left for the next sweep: %v", trash, err)
	}
	return nil
}
