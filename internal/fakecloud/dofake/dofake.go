// Package dofake is a fake of the DigitalOcean v2 REST API, as much as
// the digitalocean driver uses: regions, sizes, images, account SSH keys,
// droplets with their actions, with DigitalOcean's status codes, error
// bodies, pagination and rate-limit headers. Droplets are backed by a
// fakecloud.Fleet (loopback addresses, or kit hosts started with the
// droplet's SSH keys and user data).
package dofake

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
)

// Token is the access token a new Server accepts.
const Token = "fake-do-token"

// HangImage is an image whose droplets never finish booting.
const HangImage = "fakecloud-never-boots"

// Server is the fake API.
type Server struct {
	// Token is the bearer token it accepts (default Token).
	Token   string
	Fleet   fakecloud.Fleet
	Journal fakecloud.Journal
	Faults  fakecloud.Faults
	// Regions, Sizes and Images are what the account may use (defaults
	// below, set before the first request).
	Regions []string
	Sizes   []string
	Images  []string

	once     sync.Once
	mu       sync.Mutex
	next     int
	keys     map[int]*key
	droplets map[int]*droplet
	actions  map[int]*action
}

type key struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
}

type droplet struct {
	id                  int
	name, region, size  string
	image               string
	tags                []string
	ipv6, privateNet    bool
	backups, monitoring bool
	userData            string
	keys                []int
	created             time.Time
	vm                  *fakecloud.VM
	booted              bool // was active once (a powered-on droplet is "off" until active)
}

type action struct {
	ID         int       `json:"id"`
	Status     string    `json:"status"`
	Type       string    `json:"type"`
	StartedAt  time.Time `json:"started_at"`
	ResourceID int       `json:"resource_id"`
	Resource   string    `json:"resource_type"`
	droplet    *droplet
	want       fakecloud.Power
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Token == "" {
			s.Token = Token
		}
		if s.Regions == nil {
			s.Regions = []string{"nyc1", "nyc3", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1"}
		}
		if s.Sizes == nil {
			s.Sizes = []string{"s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb"}
		}
		if s.Images == nil {
			s.Images = []string{"ubuntu-24-04-x64", "ubuntu-22-04-x64", "debian-12-x64", HangImage}
		}
		s.keys = map[int]*key{}
		s.droplets = map[int]*droplet{}
		s.actions = map[int]*action{}
		s.next = 1000
	})
}

func (s *Server) id() int {
	s.next++
	return s.next
}

// Close destroys every droplet's machine.
func (s *Server) Close() { s.Fleet.Close() }

// Leaks lists the droplets, keys and backing machines that still exist.
func (s *Server) Leaks() []string {
	s.init()
	s.mu.Lock()
	var out []string
	for _, d := range s.droplets {
		out = append(out, fmt.Sprintf("droplet %d (%s)", d.id, d.name))
	}
	for _, k := range s.keys {
		out = append(out, fmt.Sprintf("ssh key %d (%s)", k.ID, k.Name))
	}
	s.mu.Unlock()
	sort.Strings(out)
	return append(out, s.Fleet.Leaks()...)
}

// Droplet returns the VM of the droplet with id, or nil.
func (s *Server) Droplet(id int) *fakecloud.VM {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.droplets[id]; d != nil {
		return d.vm
	}
	return nil
}

// DeleteDroplet deletes a droplet behind the client's back.
func (s *Server) DeleteDroplet(id int) bool {
	s.init()
	s.mu.Lock()
	d := s.droplets[id]
	delete(s.droplets, id)
	s.mu.Unlock()
	if d == nil {
		return false
	}
	s.Fleet.Terminate(d.vm)
	return true
}

// Droplets returns the ids of the droplets, sorted.
func (s *Server) Droplets() []int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for id := range s.droplets {
		out = append(out, id)
	}
	sort.Ints(out)
	return out
}

// apiError is DigitalOcean's error body.
type apiError struct {
	ID        string `json:"id"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

type reply struct {
	status int
	body   any
	code   string
}

func errReply(status int, id, msg string) reply {
	return reply{status: status, body: apiError{ID: id, Message: msg}, code: id}
}

var notFound = errReply(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")

// route names a request for the journal and for faults: the method and
// the path with ids replaced by {id}.
func route(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for i, p := range parts {
		if i >= 2 && p != "" && (p[0] >= '0' && p[0] <= '9' || strings.Contains(p, ":")) {
			parts[i] = "{id}"
		}
	}
	return r.Method + " /" + strings.Join(parts, "/")
}

// ServeHTTP serves the API and the admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	if fakecloud.IsAdmin(r) {
		fakecloud.Admin{Journal: &s.Journal, Faults: &s.Faults, Leaks: s.Leaks}.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	e := fakecloud.Entry{Action: route(r), Path: r.URL.Path, Query: r.URL.RawQuery, Body: strings.TrimSpace(string(body))}
	var rep reply
	if f := s.Faults.Take(e.Action); f != nil {
		e.Fault = f.String()
		if f.Process {
			rep = s.serve(r, body)
		}
		if !f.Wait(r) {
			e.Status, e.Code = 0, "client gone"
			s.Journal.Add(e)
			return
		}
		switch {
		case f.Status != 0:
			id := "server_error"
			if f.Status == http.StatusTooManyRequests {
				id = "too_many_requests"
			}
			if f.Code != "" {
				id = f.Code
			}
			rep = errReply(f.Status, id, "injected fault: "+http.StatusText(f.Status))
		case !f.Process:
			rep = s.serve(r, body)
		}
	} else {
		rep = s.serve(r, body)
	}
	e.Status, e.Code = rep.status, rep.code
	s.Journal.Add(e)
	w.Header().Set("RateLimit-Limit", "5000")
	w.Header().Set("RateLimit-Remaining", "4999")
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	if rep.status == http.StatusTooManyRequests {
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Unix(), 10))
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(rep.body)
}

func (s *Server) serve(r *http.Request, body []byte) reply {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		return errReply(http.StatusUnauthorized, "unauthorized", "Unable to authenticate you")
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "v2" {
		return notFound
	}
	parts = parts[1:]
	switch {
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "regions":
		return s.listRegions(r)
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "sizes":
		return s.listSizes(r)
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "images":
		return s.listImages(r)
	case len(parts) == 2 && parts[0] == "account" && parts[1] == "keys":
		switch r.Method {
		case http.MethodGet:
			return s.listKeys(r)
		case http.MethodPost:
			return s.createKey(body)
		}
	case len(parts) == 3 && parts[0] == "account" && parts[1] == "keys":
		switch r.Method {
		case http.MethodGet:
			return s.getKey(parts[2])
		case http.MethodDelete:
			return s.deleteKey(parts[2])
		}
	case len(parts) == 1 && parts[0] == "droplets":
		switch r.Method {
		case http.MethodGet:
			return s.listDroplets(r)
		case http.MethodPost:
			return s.createDroplet(body)
		}
	case len(parts) == 2 && parts[0] == "droplets":
		id, err := strconv.Atoi(parts[1])
		if err != nil {
			return notFound
		}
		switch r.Method {
		case http.MethodGet:
			return s.getDroplet(id)
		case http.MethodDelete:
			return s.deleteDroplet(id)
		}
	case len(parts) == 3 && parts[0] == "droplets" && parts[2] == "actions" && r.Method == http.MethodPost:
		id, err := strconv.Atoi(parts[1])
		if err != nil {
			return notFound
		}
		return s.dropletAction(id, body)
	case len(parts) == 2 && parts[0] == "actions" && r.Method == http.MethodGet:
		id, err := strconv.Atoi(parts[1])
		if err != nil {
			return notFound
		}
		return s.getAction(id)
	}
	return notFound
}

// page cuts a list by the page and per_page parameters (default 20, at
// most 200, as the API) and returns the links and meta of the envelope.
func page[T any](r *http.Request, all []T) ([]T, map[string]any, map[string]any) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 20
	}
	per = min(per, 200)
	p, _ := strconv.Atoi(q.Get("page"))
	if p <= 0 {
		p = 1
	}
	lo := min((p-1)*per, len(all))
	hi := min(lo+per, len(all))
	links := map[string]any{}
	if hi < len(all) {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		v := u.Query()
		v.Set("page", strconv.Itoa(p+1))
		v.Set("per_page", strconv.Itoa(per))
		u.RawQuery = v.Encode()
		links["pages"] = map[string]string{"next": u.String()}
	}
	return all[lo:hi], links, map[string]any{"total": len(all)}
}

func (s *Server) listRegions(r *http.Request) reply {
	type region struct {
		Slug      string   `json:"slug"`
		Name      string   `json:"name"`
		Sizes     []string `json:"sizes"`
		Available bool     `json:"available"`
		Features  []string `json:"features"`
	}
	var all []region
	for _, slug := range s.Regions {
		all = append(all, region{Slug: slug, Name: strings.ToUpper(slug), Sizes: s.Sizes, Available: true, Features: []string{"private_networking", "backups", "ipv6", "metadata", "install_agent"}})
	}
	items, links, meta := page(r, all)
	return reply{status: http.StatusOK, body: map[string]any{"regions": items, "links": links, "meta": meta}}
}

func (s *Server) listSizes(r *http.Request) reply {
	type size struct {
		Slug      string   `json:"slug"`
		Available bool     `json:"available"`
		Regions   []string `json:"regions"`
	}
	var all []size
	for _, slug := range s.Sizes {
		all = append(all, size{Slug: slug, Available: true, Regions: s.Regions})
	}
	items, links, meta := page(r, all)
	return reply{status: http.StatusOK, body: map[string]any{"sizes": items, "links": links, "meta": meta}}
}

func (s *Server) listImages(r *http.Request) reply {
	var all []map[string]any
	for i, slug := range s.Images {
		all = append(all, map[string]any{"id": 100 + i, "slug": slug, "name": slug, "distribution": strings.SplitN(slug, "-", 2)[0], "public": true, "regions": s.Regions, "type": "base", "status": "available"})
	}
	items, links, meta := page(r, all)
	return reply{status: http.StatusOK, body: map[string]any{"images": items, "links": links, "meta": meta}}
}

// Fingerprint is the MD5 fingerprint DigitalOcean shows for an
// authorized_keys line ("aa:bb:…").
func Fingerprint(publicKey string) (string, error) {
	f := strings.Fields(publicKey)
	if len(f) < 2 {
		return "", fmt.Errorf("not an SSH public key")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "", fmt.Errorf("not an SSH public key: %w", err)
	}
	sum := md5.Sum(blob)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(hexes, ":"), nil
}

func (s *Server) listKeys(r *http.Request) reply {
	s.mu.Lock()
	all := make([]key, 0, len(s.keys))
	for _, k := range s.keys {
		all = append(all, *k)
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	items, links, meta := page(r, all)
	return reply{status: http.StatusOK, body: map[string]any{"ssh_keys": items, "links": links, "meta": meta}}
}

func (s *Server) createKey(body []byte) reply {
	var req struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errReply(http.StatusBadRequest, "bad_request", "The request body is not valid JSON.")
	}
	if req.Name == "" {
		return errReply(http.StatusUnprocessableEntity, "unprocessable_entity", "Name is required")
	}
	fp, err := Fingerprint(req.PublicKey)
	if err != nil {
		return errReply(http.StatusUnprocessableEntity, "unprocessable_entity", "Key invalid type, we support 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', or 'ecdsa-sha2-nistp521'")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.Fingerprint == fp {
			return errReply(http.StatusUnprocessableEntity, "unprocessable_entity", "SSH Key is already in use on your account")
		}
	}
	k := &key{ID: s.id(), Name: req.Name, Fingerprint: fp, PublicKey: strings.TrimSpace(req.PublicKey)}
	s.keys[k.ID] = k
	return reply{status: http.StatusCreated, body: map[string]any{"ssh_key": k}}
}

// findKey looks a key up by id or fingerprint; s.mu is held.
func (s *Server) findKey(ref string) *key {
	if id, err := strconv.Atoi(ref); err == nil {
		return s.keys[id]
	}
	ref, _ = url.PathUnescape(ref)
	for _, k := range s.keys {
		if k.Fingerprint == ref {
			return k
		}
	}
	return nil
}

func (s *Server) getKey(ref string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.findKey(ref)
	if k == nil {
		return notFound
	}
	return reply{status: http.StatusOK, body: map[string]any{"ssh_key": k}}
}

func (s *Server) deleteKey(ref string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.findKey(ref)
	if k == nil {
		return notFound
	}
	delete(s.keys, k.ID)
	return reply{status: http.StatusNoContent}
}

func (s *Server) createDroplet(body []byte) reply {
	var req struct {
		Name              string   `json:"name"`
		Region            string   `json:"region"`
		Size              string   `json:"size"`
		Image             any      `json:"image"`
		SSHKeys           []any    `json:"ssh_keys"`
		Backups           bool     `json:"backups"`
		IPv6              bool     `json:"ipv6"`
		PrivateNetworking bool     `json:"private_networking"`
		Monitoring        bool     `json:"monitoring"`
		UserData          string   `json:"user_data"`
		Tags              []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errReply(http.StatusBadRequest, "bad_request", "The request body is not valid JSON.")
	}
	unprocessable := func(msg string) reply { return errReply(http.StatusUnprocessableEntity, "unprocessable_entity", msg) }
	if req.Name == "" {
		return unprocessable("Name is required")
	}
	if !contains(s.Regions, req.Region) {
		return unprocessable("Region is not available")
	}
	if !contains(s.Sizes, req.Size) {
		return unprocessable("Size is not available in this region.")
	}
	image, _ := req.Image.(string)
	if !contains(s.Images, image) {
		return unprocessable("You specified an invalid image for Droplet creation.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &droplet{
		name: req.Name, region: req.Region, size: req.Size, image: image, tags: req.Tags,
		ipv6: req.IPv6, privateNet: req.PrivateNetworking, backups: req.Backups, monitoring: req.Monitoring,
		userData: req.UserData, created: time.Now().UTC(),
	}
	var pubs []string
	for _, ref := range req.SSHKeys {
		var k *key
		switch v := ref.(type) {
		case float64:
			k = s.keys[int(v)]
		case string:
			k = s.findKey(v)
		}
		if k == nil {
			return unprocessable("You specified an invalid SSH key ID or fingerprint.")
		}
		d.keys = append(d.keys, k.ID)
		pubs = append(pubs, k.PublicKey)
	}
	d.id = s.id()
	d.vm = s.Fleet.Launch(strconv.Itoa(d.id), fakecloud.BootSpec{
		Name: req.Name, User: "root", AuthorizedKeys: pubs, UserData: []byte(req.UserData), Hang: image == HangImage,
	}, true)
	s.droplets[d.id] = d
	a := s.newAction(d, "create", fakecloud.Running)
	return reply{status: http.StatusAccepted, body: map[string]any{
		"droplet": s.view(d),
		"links":   map[string]any{"actions": []map[string]any{{"id": a.ID, "rel": "create", "href": fmt.Sprintf("/v2/actions/%d", a.ID)}}},
	}}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// newAction records an action on d that completes when d reaches want;
// s.mu is held.
func (s *Server) newAction(d *droplet, typ string, want fakecloud.Power) *action {
	a := &action{ID: s.id(), Status: "in-progress", Type: typ, StartedAt: time.Now().UTC(), ResourceID: d.id, Resource: "droplet", droplet: d, want: want}
	s.actions[a.ID] = a
	return a
}

// status is the droplet's status; s.mu is held.
func (s *Server) status(d *droplet, st fakecloud.VMState) string {
	switch st.Power {
	case fakecloud.Pending:
		if d.booted {
			return "off"
		}
		return "new"
	case fakecloud.Running, fakecloud.Stopping:
		d.booted = true
		return "active"
	case fakecloud.Stopped:
		return "off"
	}
	return "archive"
}

// view renders a droplet as the API does; s.mu is held.
func (s *Server) view(d *droplet) map[string]any {
	st := d.vm.State()
	status := s.status(d, st)
	v4 := []map[string]any{}
	v6 := []map[string]any{}
	if status == "active" || (status == "off" && d.booted) {
		if st.PublicIP != "" {
			v4 = append(v4, map[string]any{"ip_address": st.PublicIP, "netmask": "255.255.255.0", "gateway": "127.0.0.1", "type": "public"})
		}
		if d.privateNet && st.PrivateIP != "" {
			v4 = append(v4, map[string]any{"ip_address": st.PrivateIP, "netmask": "255.255.0.0", "gateway": "127.0.0.1", "type": "private"})
		}
		if d.ipv6 {
			v6 = append(v6, map[string]any{"ip_address": fmt.Sprintf("fd00:fa6e::%x", d.id), "netmask": 64, "gateway": "fd00:fa6e::1", "type": "public"})
		}
	}
	tags := d.tags
	if tags == nil {
		tags = []string{}
	}
	features := []string{}
	if d.backups {
		features = append(features, "backups")
	}
	if d.ipv6 {
		features = append(features, "ipv6")
	}
	if d.privateNet {
		features = append(features, "private_networking")
	}
	if d.monitoring {
		features = append(features, "monitoring")
	}
	return map[string]any{
		"id": d.id, "name": d.name, "memory": 1024, "vcpus": 1, "disk": 25, "locked": false,
		"status": status, "created_at": d.created.Format(time.RFC3339),
		"region":    map[string]any{"slug": d.region, "name": strings.ToUpper(d.region), "available": true},
		"image":     map[string]any{"slug": d.image, "name": d.image, "public": true},
		"size_slug": d.size, "size": map[string]any{"slug": d.size},
		"networks": map[string]any{"v4": v4, "v6": v6},
		"tags":     tags, "features": features, "volume_ids": []string{},
	}
}

func (s *Server) listDroplets(r *http.Request) reply {
	q := r.URL.Query()
	s.mu.Lock()
	ids := make([]int, 0, len(s.droplets))
	for id, d := range s.droplets {
		if tag := q.Get("tag_name"); tag != "" && !contains(d.tags, tag) {
			continue
		}
		if name := q.Get("name"); name != "" && d.name != name {
			continue
		}
		ids = append(ids, id)
	}
	sort.Ints(ids)
	all := make([]map[string]any, len(ids))
	for i, id := range ids {
		all[i] = s.view(s.droplets[id])
	}
	s.mu.Unlock()
	items, links, meta := page(r, all)
	return reply{status: http.StatusOK, body: map[string]any{"droplets": items, "links": links, "meta": meta}}
}

func (s *Server) getDroplet(id int) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.droplets[id]
	if d == nil {
		return notFound
	}
	return reply{status: http.StatusOK, body: map[string]any{"droplet": s.view(d)}}
}

func (s *Server) deleteDroplet(id int) reply {
	s.mu.Lock()
	d := s.droplets[id]
	delete(s.droplets, id)
	s.mu.Unlock()
	if d == nil {
		return notFound
	}
	s.Fleet.Terminate(d.vm)
	return reply{status: http.StatusNoContent}
}

func (s *Server) dropletAction(id int, body []byte) reply {
	var req struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errReply(http.StatusBadRequest, "bad_request", "The request body is not valid JSON.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.droplets[id]
	if d == nil {
		return notFound
	}
	var err error
	var want fakecloud.Power
	switch req.Type {
	case "power_on":
		want, err = fakecloud.Running, s.Fleet.Start(d.vm)
	case "shutdown":
		want, err = fakecloud.Stopped, s.Fleet.Stop(d.vm, false)
	case "power_off":
		want, err = fakecloud.Stopped, s.Fleet.Stop(d.vm, true)
	case "reboot", "power_cycle":
		want, err = fakecloud.Running, s.Fleet.Reboot(d.vm)
	default:
		return errReply(http.StatusUnprocessableEntity, "unprocessable_entity", "Action type is not valid")
	}
	if err != nil {
		return errReply(http.StatusUnprocessableEntity, "unprocessable_entity", "Droplet already has a pending event or is not in a state for "+req.Type+".")
	}
	a := s.newAction(d, req.Type, want)
	return reply{status: http.StatusCreated, body: map[string]any{"action": a}}
}

func (s *Server) getAction(id int) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.actions[id]
	if a == nil {
		return notFound
	}
	st := a.droplet.vm.State()
	if a.Status == "in-progress" && !st.Busy {
		if st.Power == a.want {
			a.Status = "completed"
		} else {
			a.Status = "errored"
		}
	}
	return reply{status: http.StatusOK, body: map[string]any{"action": a}}
}
