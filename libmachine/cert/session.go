package cert

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// SessionCache keeps one machine's TLS session ticket in a file, so the
// next process that checks the machine resumes the session instead of
// repeating the full handshake (two RSA signatures, one on each side).
//
// A ticket is only ever used with the exact material it was obtained
// with: the file carries a fingerprint of the daemon address, the CA and
// the client certificate and key, and a ticket whose fingerprint differs
// is ignored. crypto/tls itself re-checks the cached server certificate's
// expiry and name on resumption, and a daemon that lost its ticket keys
// (restarted) simply refuses the ticket, which means a full handshake.
// The file holds a resumption secret and is written 0600, like key.pem.
type SessionCache struct {
	path        string
	fingerprint [sha256.Size]byte
	// loaded caches the first read of the file: Has and Get in one
	// check read it once.
	loaded        bool
	ticket, state []byte
	ok            bool
}

// sessionMagic starts every session file (format version 1).
const sessionMagic = "dm-tls-session-1\n"

// NewSessionCache returns the cache in path for material whose contents
// and address are given (any change of them makes a new fingerprint).
func NewSessionCache(path, addr string, material ...[]byte) *SessionCache {
	h := sha256.New()
	h.Write([]byte(addr))
	for _, m := range material {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(m)))
		h.Write(n[:])
		h.Write(m)
	}
	c := &SessionCache{path: path}
	h.Sum(c.fingerprint[:0])
	return c
}

// Has reports whether the file holds a session for this fingerprint.
func (c *SessionCache) Has() bool {
	_, _, ok := c.read()
	return ok
}

func (c *SessionCache) read() (ticket, state []byte, ok bool) {
	if !c.loaded {
		c.loaded = true
		c.ticket, c.state, c.ok = c.readFile()
	}
	return c.ticket, c.state, c.ok
}

func (c *SessionCache) readFile() (ticket, state []byte, ok bool) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return nil, nil, false
	}
	rest, found := bytes.CutPrefix(data, []byte(sessionMagic))
	if !found || len(rest) < sha256.Size+4 || !bytes.Equal(rest[:sha256.Size], c.fingerprint[:]) {
		return nil, nil, false
	}
	rest = rest[sha256.Size:]
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, nil, false
	}
	return rest[:n], rest[n:], true
}

// Get implements tls.ClientSessionCache; the key is ignored (one file is
// one machine).
func (c *SessionCache) Get(string) (*tls.ClientSessionState, bool) {
	ticket, raw, ok := c.read()
	if !ok {
		return nil, false
	}
	state, err := tls.ParseSessionState(raw)
	if err != nil {
		return nil, false
	}
	cs, err := tls.NewResumptionState(ticket, state)
	if err != nil {
		return nil, false
	}
	return cs, true
}

// Put implements tls.ClientSessionCache: it stores the newest ticket, or
// deletes the file when crypto/tls drops the session. Failures (a full
// disk) only cost the next process a full handshake.
func (c *SessionCache) Put(_ string, cs *tls.ClientSessionState) {
	c.loaded = false
	if cs == nil {
		os.Remove(c.path)
		return
	}
	ticket, state, err := cs.ResumptionState()
	if err != nil || state == nil {
		return
	}
	raw, err := state.Bytes()
	if err != nil {
		return
	}
	var b bytes.Buffer
	b.WriteString(sessionMagic)
	b.Write(c.fingerprint[:])
	binary.Write(&b, binary.BigEndian, uint32(len(ticket)))
	b.Write(ticket)
	b.Write(raw)
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return
	}
	if err := fsutil.WriteFileAtomic(c.path, b.Bytes(), 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Debugf("tls: keeping the session for %s: %v", c.path, err)
	}
}
