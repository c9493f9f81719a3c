package qemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/state"
)

// QMP is a minimal client of the QEMU Machine Protocol on a unix socket:
// greeting, capabilities negotiation, then one command at a time.
type QMP struct {
	conn net.Conn
	dec  *json.Decoder
}

// QMPError is an error reply of QEMU.
type QMPError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *QMPError) Error() string { return fmt.Sprintf("qmp: %s: %s", e.Class, e.Desc) }

// DialQMP connects to the QMP socket at path and negotiates
// capabilities. Every read and write is bounded by timeout.
func DialQMP(path string, timeout time.Duration) (*QMP, error) {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	q := &QMP{conn: conn, dec: json.NewDecoder(conn)}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var greeting struct {
		QMP *json.RawMessage `json:"QMP"`
	}
	if err := q.dec.Decode(&greeting); err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: reading greeting: %w", err)
	}
	if greeting.QMP == nil {
		conn.Close()
		return nil, errors.New("qmp: no greeting")
	}
	if _, err := q.Execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// Close closes the connection.
func (q *QMP) Close() error { return q.conn.Close() }

// SetDeadline bounds the next exchanges.
func (q *QMP) SetDeadline(t time.Time) error { return q.conn.SetDeadline(t) }

// Execute runs one command and returns its "return" value. Asynchronous
// events that arrive in between are skipped.
func (q *QMP) Execute(command string, args any) (json.RawMessage, error) {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := q.conn.Write(append(data, '\n')); err != nil {
		return nil, fmt.Errorf("qmp: %s: %w", command, err)
	}
	for {
		var reply struct {
			Return json.RawMessage `json:"return"`
			Error  *QMPError       `json:"error"`
			Event  string          `json:"event"`
		}
		if err := q.dec.Decode(&reply); err != nil {
			return nil, fmt.Errorf("qmp: %s: %w", command, err)
		}
		switch {
		case reply.Event != "":
			continue
		case reply.Error != nil:
			return nil, reply.Error
		case reply.Return != nil:
			return reply.Return, nil
		}
	}
}

// QueryStatus returns the run state QEMU reports ("running", "paused", ...).
func (q *QMP) QueryStatus() (string, error) {
	raw, err := q.Execute("query-status", nil)
	if err != nil {
		return "", err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return "", fmt.Errorf("qmp: query-status: %w", err)
	}
	return st.Status, nil
}

// RunStateToState maps a QEMU run state to a machine state.
func RunStateToState(s string) state.State {
	switch s {
	case "running":
		return state.Running
	case "paused", "suspended", "prelaunch", "inmigrate", "postmigrate",
		"finish-migrate", "save-vm", "restore-vm", "debug", "watchdog", "colo":
		return state.Paused
	case "shutdown":
		return state.Stopping
	default: // internal-error, io-error, guest-panicked, unknown
		return state.Error
	}
}
