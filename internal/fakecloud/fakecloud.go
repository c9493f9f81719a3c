// Package fakecloud is what the fake clouds of the tests share: a
// request journal, fault injection, the life of fake instances (a small
// state machine driven by a Backend that boots, powers off and destroys
// what backs each instance), a leak check and the admin endpoints of the
// fakecloud binary.
//
// The clouds themselves are in subpackages: ec2fake speaks EC2's query
// protocol, dofake DigitalOcean's v2 REST API. Both run in-process
// (httptest) in Go tests and behind cmd/fakecloud for CLI tests.
//
// Every address a fake hands out is a loopback address (Loopback) or the
// address of a test-host kit machine in a network namespace the kit
// created (Kit): a test never dials anything else.
package fakecloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Entry is one request in the journal.
type Entry struct {
	Seq int `json:"seq"`
	// Action is the EC2 action ("RunInstances") or, for REST, the method
	// and the route ("POST /v2/droplets", "GET /v2/droplets/{id}").
	Action string `json:"action"`
	// Path is the request path (REST), Query its query string.
	Path  string `json:"path,omitempty"`
	Query string `json:"query,omitempty"`
	// Params are the EC2 form parameters without Action and Version.
	Params map[string]string `json:"params,omitempty"`
	// Body is the JSON body of a REST request.
	Body string `json:"body,omitempty"`
	// Status is the HTTP status answered, Code the error code if any.
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	// Attempt is the SDK's retry header (amz-sdk-request), if sent.
	Attempt string `json:"attempt,omitempty"`
	// Fault names the injected fault that answered, if one did.
	Fault string `json:"fault,omitempty"`
	// Region is the region of the request's SigV4 scope (EC2).
	Region string `json:"region,omitempty"`
}

// Journal records every request a fake served.
type Journal struct {
	mu      sync.Mutex
	entries []Entry
}

// Add appends e and returns its sequence number.
func (j *Journal) Add(e Entry) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	e.Seq = len(j.entries) + 1
	j.entries = append(j.entries, e)
	return e.Seq
}

// Entries returns a copy of the journal.
func (j *Journal) Entries() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Entry(nil), j.entries...)
}

// Len is the number of requests recorded.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}

// Since returns the entries after the first n.
func (j *Journal) Since(n int) []Entry {
	all := j.Entries()
	if n > len(all) {
		n = len(all)
	}
	return all[n:]
}

// Actions returns the actions of entries, in order.
func Actions(entries []Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Action
	}
	return out
}

// Count returns how many entries have the action.
func Count(entries []Entry, action string) int {
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

// Find returns the entries with the action.
func Find(entries []Entry, action string) []Entry {
	var out []Entry
	for _, e := range entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// Reset empties the journal.
func (j *Journal) Reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = nil
}

// Fault is an injected failure. A request whose action matches (an
// empty Action matches every request) is answered by the fault instead
// of the fake, Times times (0: once; -1: until removed).
type Fault struct {
	Action string `json:"action"`
	// Status and Code are the HTTP status and the cloud's error code of
	// the answer (e.g. 429 and RequestLimitExceeded, 500 and
	// InternalError). Zero Status: the request is served normally after
	// the delay.
	Status int    `json:"status"`
	Code   string `json:"code"`
	// Delay holds the answer back. When the client gives up first, the
	// request is dropped unprocessed, unless Process.
	Delay time.Duration `json:"delay"`
	// Process serves the request at once, before the delay and the
	// failure: the cloud did the work, the client never heard (a lost
	// response).
	Process bool `json:"process"`
	Times   int  `json:"times"`
}

func (f Fault) String() string {
	var parts []string
	if f.Status != 0 {
		parts = append(parts, fmt.Sprintf("%d %s", f.Status, f.Code))
	}
	if f.Delay != 0 {
		parts = append(parts, "delay "+f.Delay.String())
	}
	if f.Process {
		parts = append(parts, "processed")
	}
	return strings.Join(parts, ", ")
}

// Faults is a list of faults; the first matching one answers.
type Faults struct {
	mu    sync.Mutex
	rules []*Fault
}

// Add installs a fault.
func (fs *Faults) Add(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = append(fs.rules, &f)
}

// Clear removes every fault.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = nil
}

// Take returns the fault that answers a request of action, using it up
// once, or nil.
func (fs *Faults) Take(action string) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.rules {
		if f.Action != "" && f.Action != action {
			continue
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				fs.rules = append(fs.rules[:i:i], fs.rules[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

// Pending is the number of faults not used up.
func (fs *Faults) Pending() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.rules)
}

// Wait holds a request for the fault's delay. It reports false when the
// client went away first (nobody is left to answer).
func (f *Fault) Wait(r *http.Request) bool {
	if f.Delay <= 0 {
		return true
	}
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Admin serves the admin endpoints of a fake under /_fake/:
//
//	GET  /_fake/journal   the journal (JSON list of entries)
//	POST /_fake/reset     empty the journal and remove the faults
//	POST /_fake/faults    add a fault (JSON Fault)
//	GET  /_fake/leaks     what still exists (JSON list of strings)
type Admin struct {
	Journal *Journal
	Faults  *Faults
	Leaks   func() []string
}

// ServeHTTP implements the admin endpoints.
func (a Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_fake/journal":
		_ = json.NewEncoder(w).Encode(a.Journal.Entries())
	case r.Method == http.MethodPost && r.URL.Path == "/_fake/reset":
		a.Journal.Reset()
		a.Faults.Clear()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/_fake/faults":
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.Faults.Add(f)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && r.URL.Path == "/_fake/leaks":
		leaks := a.Leaks()
		if leaks == nil {
			leaks = []string{}
		}
		sort.Strings(leaks)
		_ = json.NewEncoder(w).Encode(leaks)
	default:
		http.NotFound(w, r)
	}
}

// IsAdmin tells whether a request is for the admin endpoints.
func IsAdmin(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/_fake/") }

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
