package ssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyPolicy says how the server's host key is checked against
// Target.KnownHostsFile.
type HostKeyPolicy int

const (
	// HostKeyVerify requires the key to be present in KnownHostsFile and to
	// match. It is the policy of every command after create.
	HostKeyVerify HostKeyPolicy = iota
	// HostKeyRecord is trust on first use: when the file has no key for
	// host:port the presented key is recorded; a different recorded key is
	// still refused. Used by create.
	HostKeyRecord
	// HostKeyInsecure skips the check. Only for explicitly unpinned legacy
	// machines; callers decide.
	HostKeyInsecure
)

// PinPolicy is the policy for a machine whose host key is pinned in
// file: trust on first use while nothing is pinned (no file, or an empty
// one: a new machine, or one from an older store), then verify for ever.
func PinPolicy(file string) HostKeyPolicy {
	if fi, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return HostKeyRecord
	}
	return HostKeyVerify
}

// String returns the policy name.
func (p HostKeyPolicy) String() string {
	switch p {
	case HostKeyVerify:
		return "verify"
	case HostKeyRecord:
		return "record"
	case HostKeyInsecure:
		return "insecure"
	}
	return "HostKeyPolicy(" + strconv.Itoa(int(p)) + ")"
}

var (
	// ErrHostKeyChanged is matched (errors.Is) by the error returned when the
	// server presents a host key that differs from the pinned one.
	ErrHostKeyChanged = errors.New("ssh host key changed")
	// ErrHostKeyUnknown is matched (errors.Is) by the error returned in
	// HostKeyVerify mode when no key is pinned for the host.
	ErrHostKeyUnknown = errors.New("ssh host key not pinned")
	// ErrNoKnownHostsFile is returned when a checking policy is used without
	// a Target.KnownHostsFile.
	ErrNoKnownHostsFile = errors.New("ssh: host key checking requested but no known_hosts file is configured")
)

// HostKeyError describes a refused host key. It matches ErrHostKeyChanged or
// ErrHostKeyUnknown with errors.Is.
type HostKeyError struct {
	Addr    string // host:port as dialled
	File    string // the known_hosts file
	Changed bool   // true: mismatch with a pinned key; false: no key pinned
	Detail  string // optional extra text (e.g. the external ssh's message)
}

func (e *HostKeyError) Error() string {
	var msg string
	if e.Changed {
		msg = fmt.Sprintf("host key for %s does not match the key pinned in %s when the machine was created: "+
			"refusing to connect (possible man-in-the-middle attack; if the host was rebuilt, "+
			"remove the pinned key from %s and provision the machine again)", e.Addr, e.File, e.File)
	} else {
		msg = fmt.Sprintf("no host key for %s is pinned in %s: refusing to connect without a known host key "+
			"(the key is recorded when the machine is created; re-provision the machine to record it)", e.Addr, e.File)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrHostKeyChanged/ErrHostKeyUnknown) work.
func (e *HostKeyError) Is(target error) bool {
	if e.Changed {
		return target == ErrHostKeyChanged
	}
	return target == ErrHostKeyUnknown
}

// hostKeyChecker holds what a native dial needs to apply a HostKeyPolicy.
type hostKeyChecker struct {
	policy   HostKeyPolicy
	file     string
	addr     string   // host:port
	pinned   []string // key types pinned for addr
	callback ssh.HostKeyCallback
}

// newHostKeyChecker reads the known_hosts file (once per dial).
func newHostKeyChecker(t Target) (*hostKeyChecker, error) {
	c := &hostKeyChecker{policy: t.HostKeyPolicy, file: t.KnownHostsFile, addr: t.addr()}
	switch t.HostKeyPolicy {
	case HostKeyInsecure:
		return c, nil
	case HostKeyVerify, HostKeyRecord:
	default:
		return nil, fmt.Errorf("ssh: unknown host key policy %d", int(t.HostKeyPolicy))
	}
	if t.KnownHostsFile == "" {
		return nil, ErrNoKnownHostsFile
	}
	cb, keys, err := loadKnownHosts(t.KnownHostsFile, c.addr)
	if err != nil {
		return nil, err
	}
	c.callback = cb
	for _, k := range keys {
		c.pinned = append(c.pinned, k.Type())
	}
	return c, nil
}

// loadKnownHosts parses file (a missing file is an empty one) and returns
// its callback and the keys it holds for addr.
func loadKnownHosts(file, addr string) (ssh.HostKeyCallback, []ssh.PublicKey, error) {
	cb, err := knownhosts.New(file)
	if errors.Is(err, fs.ErrNotExist) {
		cb, err = knownhosts.New(os.DevNull)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading known hosts file %s: %w", file, err)
	}
	keys, err := pinnedKeys(cb, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("reading known hosts file %s: %w", file, err)
	}
	return cb, keys, nil
}

// pinnedKeys asks the knownhosts callback which keys it holds for addr by
// presenting a throw-away key that cannot match: the resulting KeyError
// lists them (and the lookup uses the library's own host matching, hashed
// names included).
func pinnedKeys(cb ssh.HostKeyCallback, addr string) ([]ssh.PublicKey, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	err = cb(addr, fakeAddr(addr), probe)
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		keys := make([]ssh.PublicKey, 0, len(ke.Want))
		for _, w := range ke.Want {
			keys = append(keys, w.Key)
		}
		return keys, nil
	}
	if err == nil {
		return nil, errors.New("unexpected match of a random probe key")
	}
	return nil, err
}

// fakeAddr gives the knownhosts callback a parseable remote address; the
// hostname argument takes precedence over it anyway.
func fakeAddr(addr string) net.Addr {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if ip == nil {
		ip = net.IPv4zero
	}
	return &net.TCPAddr{IP: ip, Port: p}
}

// preferredRecordAlgos is the host key algorithm order used when nothing is
// pinned yet. It follows OpenSSH's preference (ed25519 first) so that the
// native and the external client record the same kind of key.
var preferredRecordAlgos = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// hostKeyAlgorithms restricts negotiation to the algorithms of the pinned
// keys, so that a server with several host keys is not reported as
// "changed" because it offered a type that was not recorded.
func (c *hostKeyChecker) hostKeyAlgorithms() []string {
	if c.policy == HostKeyInsecure {
		return nil
	}
	if len(c.pinned) == 0 {
		return preferredRecordAlgos
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
	}
	for _, t := range c.pinned {
		switch t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
			add(ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// check is the ssh.HostKeyCallback.
func (c *hostKeyChecker) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	if c.policy == HostKeyInsecure {
		return nil
	}
	err := c.callback(c.addr, remote, key)
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &ke) && len(ke.Want) > 0:
		return &HostKeyError{Addr: c.addr, File: c.file, Changed: true}
	case errors.As(err, &ke):
		if c.policy == HostKeyRecord {
			return recordHostKey(c.file, c.addr, key)
		}
		return &HostKeyError{Addr: c.addr, File: c.file}
	case errors.As(err, &re):
		return fmt.Errorf("host key for %s is marked as revoked in %s: refusing to connect", c.addr, c.file)
	}
	return fmt.Errorf("checking host key for %s against %s: %w", c.addr, c.file, err)
}

// recordHostKey appends key for addr to file, unless a concurrent recorder
// did so first (then the recorded key must match). The write is atomic,
// mode 0600, and serialized with a lock file next to it.
func recordHostKey(file, addr string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("recording host key: %w", err)
	}
	lock, err := fsutil.LockFile(file + ".lock")
	if err != nil {
		return fmt.Errorf("recording host key: %w", err)
	}
	defer lock.Unlock()

	cb, keys, err := loadKnownHosts(file, addr)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		// Someone recorded a key meanwhile: it is the pinned one now.
		if cb(addr, fakeAddr(addr), key) == nil {
			return nil
		}
		return &HostKeyError{Addr: addr, File: file, Changed: true}
	}
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recording host key: %w", err)
	}
	var buf bytes.Buffer
	buf.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		buf.WriteByte('\n')
	}
	buf.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key))
	buf.WriteByte('\n')
	if err := fsutil.WriteFileAtomic(file, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("recording host key for %s in %s: %w", addr, file, err)
	}
	return nil
}
