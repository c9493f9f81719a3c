package qemu

import (
	"context"
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
	// ctx is the one DialQMP was given; its end closes the connection.
	ctx  context.Context
	stop func() bool
}

// QMPError is an error reply of QEMU.
type QMPError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *QMPError) Error() string { return fmt.Sprintf("qmp: %s: %s", e.Class, e.Desc) }

// DialQMP connects to the QMP socket at path and negotiates
// capabilities. Every read and write is bounded by timeout; when ctx
// ends, the connection is closed and what waits on it fails with ctx's
// cause.
func DialQMP(ctx context.Context, path string, timeout time.Duration) (*QMP, error) {
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	q := &QMP{conn: conn, dec: json.NewDecoder(conn), ctx: ctx}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	q.stop = context.AfterFunc(ctx, func() { conn.Close() })
	var greeting struct {
		QMP *json.RawMessage `json:"QMP"`
	}
	if err := q.dec.Decode(&greeting); err != nil {
		q.Close()
		return nil, fmt.Errorf("qmp: reading greeting: %w", q.cause(err))
	}
	if greeting.QMP == nil {
		q.Close()
		return nil, errors.New("qmp: no greeting")
	}
	if _, err := q.Execute("qmp_capabilities", nil); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// Close closes the connection.
func (q *QMP) Close() error {
	q.stop()
	return q.conn.Close()
}

// cause is err, or ctx's cause when ctx's end closed the connection.
func (q *QMP) cause(err error) error {
	if q.ctx.Err() != nil {
		return context.Cause(q.ctx)
	}
	return err
}

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
		return nil, fmt.Errorf("qmp: %s: %w", command, q.cause(err))
	}
	for {
		var reply struct {
			Return json.RawMessage `json:"return"`
			Error  *QMPError       `json:"error"`
			Event  string          `json:"event"`
		}
		if err := q.dec.Decode(&reply); err != nil {
			return nil, fmt.Errorf("qmp: %s: %w", command, q.cause(err))
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
