// Package ec2fake is a fake of Amazon EC2's query protocol (API version
// 2016-11-15), as much as the amazonec2 driver uses: account attributes,
// subnets, images, key pairs, security groups, instances and their
// tags, spot requests. It answers with EC2's XML shapes and error codes
// (NotFound for named lookups of what is missing, Duplicate,
// IncorrectInstanceState, DependencyViolation, UnsupportedOperation, …),
// keeps terminated instances visible for a while as EC2 does, honours
// RunInstances' ClientToken, and keeps instances per region (the region
// of the request's SigV4 scope). Instances are backed by a
// fakecloud.Fleet.
package ec2fake

import (
	"crypto/md5"
	"encoding/base64"
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

// Credentials a new Server accepts (an access key id of the real shape,
// so that the project's secret masking recognises it).
const (
	AccessKey = "AKIAFAKECLOUD0000001"
	SecretKey = "fake/secret/key/0000000000000000000000000"
)

// Canonical's owner id, and the images the fake serves.
const (
	CanonicalOwner = "099720109477"
	// NobleAMI is the newest Ubuntu 24.04 amd64 image, OldNobleAMI an
	// older build of it, NobleArmAMI the arm64 one, JammyAMI 22.04.
	NobleAMI    = "ami-0f0a2d0e24a2b0002"
	OldNobleAMI = "ami-0f0a2d0e24a2b0001"
	NobleArmAMI = "ami-0f0a2d0e24a2b0a01"
	JammyAMI    = "ami-0f0a2d0e22a2b0001"
	// HangAMI's instances never finish booting.
	HangAMI = "ami-0fa4e000000000000"
	// DefaultVPC is the account's default VPC.
	DefaultVPC = "vpc-0fa4e0000000000d1"
)

// Server is the fake API.
type Server struct {
	AccessKey string
	Fleet     fakecloud.Fleet
	Journal   fakecloud.Journal
	Faults    fakecloud.Faults
	// TerminatedTTL is how long terminated instances stay visible
	// (default an hour, as EC2).
	TerminatedTTL time.Duration
	// SpotHold leaves spot requests open (never fulfilled).
	SpotHold bool

	once   sync.Once
	mu     sync.Mutex
	n      int
	images []*image
	keys   map[string]*keyPair // by name
	groups map[string]*group   // by id
	insts  map[string]*instance
	spots  map[string]*spot
	tokens map[string]string // region+client token -> reservation id
	reqs   int
}

type image struct {
	id, name, owner, arch, created, state string
}

type keyPair struct {
	id, name, fingerprint, material string
}

type perm struct {
	proto      string
	from, to   int
	cidrs      []string
	fromSource string
}

type group struct {
	id, name, desc, vpc string
	perms               []perm
	tags                map[string]string
}

type instance struct {
	id, region, reservation, image, typ, key, subnet, vpc, az string
	groups                                                    []string
	tags                                                      map[string]string
	launched                                                  time.Time
	clientToken, spotID, iamProfile                           string
	monitoring, ebsOptimized                                  bool
	device, volumeType                                        string
	volumeSize                                                int
	vm                                                        *fakecloud.VM
	reason                                                    string
}

type spot struct {
	id, region, state, status, instance, price string
	launch                                     params
	created                                    time.Time
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.AccessKey == "" {
			s.AccessKey = AccessKey
		}
		if s.TerminatedTTL == 0 {
			s.TerminatedTTL = time.Hour
		}
		s.images = []*image{
			{NobleAMI, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251201", CanonicalOwner, "x86_64", "2025-12-01T00:00:00.000Z", "available"},
			{OldNobleAMI, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250601", CanonicalOwner, "x86_64", "2025-06-01T00:00:00.000Z", "available"},
			{NobleArmAMI, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20251201", CanonicalOwner, "arm64", "2025-12-01T00:00:00.000Z", "available"},
			{JammyAMI, "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20251101", CanonicalOwner, "x86_64", "2025-11-01T00:00:00.000Z", "available"},
			{"ami-0fa4e0000000000b1", "someone-else/ubuntu-noble-24.04-amd64-server-20991231", "123456789012", "x86_64", "2099-12-31T00:00:00.000Z", "available"},
			{HangAMI, "fakecloud/never-boots", "123456789012", "x86_64", "2025-01-01T00:00:00.000Z", "available"},
		}
		s.keys = map[string]*keyPair{}
		s.groups = map[string]*group{"sg-0fa4e00000000de1": {id: "sg-0fa4e00000000de1", name: "default", desc: "default VPC security group", vpc: DefaultVPC, tags: map[string]string{}}}
		s.insts = map[string]*instance{}
		s.spots = map[string]*spot{}
		s.tokens = map[string]string{}
	})
}

// Close destroys every instance's machine.
func (s *Server) Close() { s.Fleet.Close() }

func (s *Server) id(prefix string) string {
	s.n++
	return fmt.Sprintf("%s-0fa4e%012x", prefix, s.n)
}

// zones are the availability zone letters of every region.
var zones = []string{"a", "b", "c"}

// subnetID is the default subnet of a region's zone.
func subnetID(az string) string {
	sum := md5.Sum([]byte(az))
	return fmt.Sprintf("subnet-%x", sum[:8])
}

// Leaks lists what exists beyond the seed: instances not terminated,
// key pairs, security groups but the default one, open or active spot
// requests, and the fleet's machines.
func (s *Server) Leaks() []string {
	s.init()
	s.mu.Lock()
	var out []string
	for _, in := range s.insts {
		if p := in.vm.State().Power; p != fakecloud.Terminated {
			out = append(out, fmt.Sprintf("instance %s (%s)", in.id, p))
		}
	}
	for _, k := range s.keys {
		out = append(out, "key pair "+k.name)
	}
	for _, g := range s.groups {
		if g.name != "default" {
			out = append(out, fmt.Sprintf("security group %s (%s)", g.id, g.name))
		}
	}
	for _, sp := range s.spots {
		if sp.state == "open" || sp.state == "active" {
			out = append(out, fmt.Sprintf("spot request %s (%s)", sp.id, sp.state))
		}
	}
	s.mu.Unlock()
	sort.Strings(out)
	return append(out, s.Fleet.Leaks()...)
}

// Instance returns the VM of an instance, or nil.
func (s *Server) Instance(id string) *fakecloud.VM {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.insts[id]; in != nil {
		return in.vm
	}
	return nil
}

// Forget removes an instance from the account at once, as if it had
// been terminated long ago (deleted behind the client's back).
func (s *Server) Forget(id string) bool {
	s.init()
	s.mu.Lock()
	in := s.insts[id]
	delete(s.insts, id)
	s.mu.Unlock()
	if in == nil {
		return false
	}
	s.Fleet.Terminate(in.vm)
	return true
}

// Instances lists the ids of instances that are not terminated.
func (s *Server) Instances() []string {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, in := range s.insts {
		if in.vm.State().Power != fakecloud.Terminated {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// apiErr is an EC2 error answer.
type apiErr struct {
	status        int
	code, message string
}

func (e *apiErr) Error() string { return e.code + ": " + e.message }

func bad(code, format string, args ...any) *apiErr {
	return &apiErr{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// region reads the region of the request's SigV4 credential scope.
func region(r *http.Request) (akid, reg string) {
	a := r.Header.Get("Authorization")
	i := strings.Index(a, "Credential=")
	if i < 0 {
		return "", ""
	}
	cred := a[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) < 3 {
		return parts[0], ""
	}
	return parts[0], parts[2]
}

// ServeHTTP serves the API and the admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	if fakecloud.IsAdmin(r) {
		fakecloud.Admin{Journal: &s.Journal, Faults: &s.Faults, Leaks: s.Leaks}.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p := params{}
	for k, v := range form {
		p[k] = v[0]
	}
	akid, reg := region(r)
	s.mu.Lock()
	s.reqs++
	reqID := fmt.Sprintf("fake-%08d", s.reqs)
	s.mu.Unlock()
	e := fakecloud.Entry{Action: p["Action"], Params: journalParams(p), Attempt: r.Header.Get("amz-sdk-request"), Region: reg}

	var out string
	var aerr *apiErr
	do := func() {
		switch {
		case akid == "":
			aerr = &apiErr{status: http.StatusUnauthorized, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials"}
		case akid != s.AccessKey:
			aerr = &apiErr{status: http.StatusUnauthorized, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials"}
		case reg == "":
			aerr = bad("AuthFailure", "no region in the credential scope")
		default:
			out, aerr = s.serve(p["Action"], reg, reqID, p)
		}
	}
	if f := s.Faults.Take(e.Action); f != nil {
		e.Fault = f.String()
		if f.Process {
			do()
		}
		if !f.Wait(r) {
			e.Code = "client gone"
			s.Journal.Add(e)
			return
		}
		switch {
		case f.Status != 0:
			code := f.Code
			if code == "" {
				code = map[int]string{429: "RequestLimitExceeded", 503: "Unavailable"}[f.Status]
				if code == "" {
					code = "InternalError"
				}
			}
			out, aerr = "", &apiErr{status: f.Status, code: code, message: "injected fault"}
		case !f.Process:
			do()
		}
	} else {
		do()
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if aerr != nil {
		e.Status, e.Code = aerr.status, aerr.code
		s.Journal.Add(e)
		w.WriteHeader(aerr.status)
		_, _ = io.WriteString(w, errorBody(aerr.code, aerr.message, reqID))
		return
	}
	e.Status = http.StatusOK
	s.Journal.Add(e)
	_, _ = io.WriteString(w, out)
}

func (s *Server) serve(action, reg, reqID string, p params) (string, *apiErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body []x
	var err *apiErr
	switch action {
	case "DescribeAccountAttributes":
		body = []x{set("accountAttributeSet",
			item(tx("attributeName", "supported-platforms"), set("attributeValueSet", item(tx("attributeValue", "VPC")))),
			item(tx("attributeName", "default-vpc"), set("attributeValueSet", item(tx("attributeValue", DefaultVPC)))),
		)}
	case "DescribeSubnets":
		body, err = s.describeSubnets(reg, p)
	case "DescribeImages":
		body, err = s.describeImages(p)
	case "DescribeKeyPairs":
		body, err = s.describeKeyPairs(p)
	case "ImportKeyPair":
		body, err = s.importKeyPair(p)
	case "DeleteKeyPair":
		name := p["KeyName"]
		if k := s.keys[name]; k != nil {
			delete(s.keys, name)
		}
		body = []x{bx("return", true)}
	case "DescribeSecurityGroups":
		body, err = s.describeGroups(p)
	case "CreateSecurityGroup":
		body, err = s.createGroup(p)
	case "AuthorizeSecurityGroupIngress":
		body, err = s.authorize(p)
	case "DeleteSecurityGroup":
		body, err = s.deleteGroup(p)
	case "RunInstances":
		body, err = s.runInstances(reg, p)
	case "DescribeInstances":
		body, err = s.describeInstances(reg, p)
	case "CreateTags":
		body, err = s.createTags(reg, p)
	case "StartInstances", "StopInstances", "RebootInstances", "TerminateInstances":
		body, err = s.power(action, reg, p)
	case "RequestSpotInstances":
		body, err = s.requestSpot(reg, p)
	case "DescribeSpotInstanceRequests":
		body, err = s.describeSpots(reg, p)
	case "CancelSpotInstanceRequests":
		body, err = s.cancelSpots(reg, p)
	default:
		err = bad("InvalidAction", "The action %s is not valid for this web service.", action)
	}
	if err != nil {
		return "", err
	}
	return response(action, reqID, body...), nil
}

func (s *Server) describeSubnets(reg string, p params) ([]x, *apiErr) {
	f := p.filters()
	ids := p.list("SubnetId")
	var items []x
	found := map[string]bool{}
	for i, z := range zones {
		az := reg + z
		id := subnetID(az)
		if len(ids) > 0 && !contains(ids, id) {
			continue
		}
		if v, ok := f["subnet-id"]; ok && !match(v, id) {
			continue
		}
		if v, ok := f["vpc-id"]; ok && !match(v, DefaultVPC) {
			continue
		}
		if v, ok := f["availability-zone"]; ok && !match(v, az) {
			continue
		}
		if v, ok := f["default-for-az"]; ok && !match(v, "true") {
			continue
		}
		found[id] = true
		items = append(items, item(tx("subnetId", id), tx("state", "available"), tx("vpcId", DefaultVPC),
			tx("cidrBlock", fmt.Sprintf("172.31.%d.0/20", i*16)), ix("availableIpAddressCount", 4091),
			tx("availabilityZone", az), bx("defaultForAz", true), bx("mapPublicIpOnLaunch", true)))
	}
	for _, id := range ids {
		if !found[id] {
			return nil, bad("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	return []x{set("subnetSet", items...)}, nil
}

// subnetAZ returns the zone of a subnet of the region, or "".
func subnetAZ(reg, id string) string {
	for _, z := range zones {
		if subnetID(reg+z) == id {
			return reg + z
		}
	}
	return ""
}

func (s *Server) describeImages(p params) ([]x, *apiErr) {
	f := p.filters()
	ids := p.list("ImageId")
	owners := p.list("Owner")
	var items []x
	found := map[string]bool{}
	for _, im := range s.images {
		if len(ids) > 0 && !contains(ids, im.id) {
			continue
		}
		if len(owners) > 0 && !contains(owners, im.owner) {
			continue
		}
		if v, ok := f["name"]; ok && !match(v, im.name) {
			continue
		}
		if v, ok := f["architecture"]; ok && !match(v, im.arch) {
			continue
		}
		if v, ok := f["state"]; ok && !match(v, im.state) {
			continue
		}
		if v, ok := f["owner-id"]; ok && !match(v, im.owner) {
			continue
		}
		found[im.id] = true
		items = append(items, item(tx("imageId", im.id), tx("imageLocation", im.owner+"/"+im.name), tx("imageState", im.state),
			tx("imageOwnerId", im.owner), tx("creationDate", im.created), bx("isPublic", true), tx("architecture", im.arch),
			tx("imageType", "machine"), tx("name", im.name), tx("rootDeviceType", "ebs"), tx("rootDeviceName", "/dev/sda1"),
			set("blockDeviceMapping", item(tx("deviceName", "/dev/sda1"), el("ebs", ix("volumeSize", 8), bx("deleteOnTermination", true), tx("volumeType", "gp3")))),
			tx("virtualizationType", "hvm")))
	}
	for _, id := range ids {
		if !found[id] {
			return nil, bad("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		}
	}
	return []x{set("imagesSet", items...)}, nil
}

func (s *Server) describeKeyPairs(p params) ([]x, *apiErr) {
	names := p.list("KeyName")
	var items []x
	for _, n := range sortedKeys(s.keys) {
		if len(names) > 0 && !contains(names, n) {
			continue
		}
		k := s.keys[n]
		items = append(items, item(tx("keyPairId", k.id), tx("keyName", k.name), tx("keyFingerprint", k.fingerprint), tx("keyType", "ed25519")))
	}
	for _, n := range names {
		if s.keys[n] == nil {
			return nil, bad("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", n)
		}
	}
	return []x{set("keySet", items...)}, nil
}

func (s *Server) importKeyPair(p params) ([]x, *apiErr) {
	name := p["KeyName"]
	if name == "" {
		return nil, bad("MissingParameter", "The request must contain the parameter KeyName")
	}
	if s.keys[name] != nil {
		return nil, bad("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
	}
	material, err := base64.StdEncoding.DecodeString(p["PublicKeyMaterial"])
	if err != nil {
		return nil, bad("InvalidParameterValue", "Value for parameter PublicKeyMaterial is invalid: not base64")
	}
	fields := strings.Fields(string(material))
	if len(fields) < 2 {
		return nil, bad("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return nil, bad("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
	}
	sum := md5.Sum(blob)
	k := &keyPair{id: s.id("key"), name: name, fingerprint: fmt.Sprintf("%x", sum), material: strings.TrimSpace(string(material))}
	s.keys[name] = k
	return []x{tx("keyFingerprint", k.fingerprint), tx("keyName", k.name), tx("keyPairId", k.id)}, nil
}

func (s *Server) groupItem(g *group) x {
	var perms []x
	for _, pm := range g.perms {
		var ranges []x
		for _, c := range pm.cidrs {
			ranges = append(ranges, item(tx("cidrIp", c)))
		}
		perms = append(perms, item(tx("ipProtocol", pm.proto), ix("fromPort", pm.from), ix("toPort", pm.to), set("groups"), set("ipRanges", ranges...)))
	}
	return item(tx("ownerId", "000000000000"), tx("groupId", g.id), tx("groupName", g.name), tx("groupDescription", g.desc),
		tx("vpcId", g.vpc), set("ipPermissions", perms...), set("ipPermissionsEgress"), tagSet(g.tags))
}

func (s *Server) describeGroups(p params) ([]x, *apiErr) {
	f := p.filters()
	ids := p.list("GroupId")
	names := p.list("GroupName")
	var items []x
	found := map[string]bool{}
	for _, id := range sortedKeys(s.groups) {
		g := s.groups[id]
		if len(ids) > 0 && !contains(ids, id) {
			continue
		}
		if len(names) > 0 && !contains(names, g.name) {
			continue
		}
		if v, ok := f["group-name"]; ok && !match(v, g.name) {
			continue
		}
		if v, ok := f["group-id"]; ok && !match(v, g.id) {
			continue
		}
		if v, ok := f["vpc-id"]; ok && !match(v, g.vpc) {
			continue
		}
		if !tagFilters(f, g.tags) {
			continue
		}
		found[id], found["name:"+g.name] = true, true
		items = append(items, s.groupItem(g))
	}
	for _, id := range ids {
		if !found[id] {
			return nil, bad("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	for _, n := range names {
		if !found["name:"+n] {
			return nil, bad("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", n, DefaultVPC)
		}
	}
	return []x{set("securityGroupInfo", items...)}, nil
}

func (s *Server) createGroup(p params) ([]x, *apiErr) {
	name, desc, vpc := p["GroupName"], p["GroupDescription"], p["VpcId"]
	if name == "" || desc == "" {
		return nil, bad("MissingParameter", "The request must contain the parameters GroupName and GroupDescription")
	}
	if vpc == "" {
		vpc = DefaultVPC
	}
	if vpc != DefaultVPC {
		return nil, bad("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpc)
	}
	for _, g := range s.groups {
		if g.name == name && g.vpc == vpc {
			return nil, bad("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpc)
		}
	}
	g := &group{id: s.id("sg"), name: name, desc: desc, vpc: vpc, tags: p.tagSpecs("security-group")}
	s.groups[g.id] = g
	return []x{bx("return", true), tx("groupId", g.id)}, nil
}

// perms reads IpPermissions.N.
func perms(p params) ([]perm, *apiErr) {
	var out []perm
	for i := 1; ; i++ {
		pre := "IpPermissions." + strconv.Itoa(i)
		proto, ok := p[pre+".IpProtocol"]
		if !ok {
			return out, nil
		}
		from, err1 := strconv.Atoi(p[pre+".FromPort"])
		to, err2 := strconv.Atoi(p[pre+".ToPort"])
		if err1 != nil || err2 != nil {
			return nil, bad("InvalidParameterValue", "Invalid port range in %s", pre)
		}
		pm := perm{proto: proto, from: from, to: to, cidrs: p.list(pre + ".IpRanges")}
		for j := 1; ; j++ {
			c, ok := p[pre+".IpRanges."+strconv.Itoa(j)+".CidrIp"]
			if !ok {
				break
			}
			pm.cidrs = append(pm.cidrs, c)
		}
		out = append(out, pm)
	}
}

func (s *Server) authorize(p params) ([]x, *apiErr) {
	g := s.groups[p["GroupId"]]
	if g == nil {
		return nil, bad("InvalidGroup.NotFound", "The security group '%s' does not exist", p["GroupId"])
	}
	add, err := perms(p)
	if err != nil {
		return nil, err
	}
	for _, a := range add {
		for _, have := range g.perms {
			if have.proto == a.proto && have.from == a.from && have.to == a.to {
				return nil, bad("InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists", strings.Join(a.cidrs, ","), strings.ToUpper(a.proto), a.from, a.to)
			}
		}
	}
	g.perms = append(g.perms, add...)
	return []x{bx("return", true)}, nil
}

func (s *Server) deleteGroup(p params) ([]x, *apiErr) {
	id := p["GroupId"]
	if id == "" {
		for gid, g := range s.groups {
			if g.name == p["GroupName"] {
				id = gid
			}
		}
	}
	g := s.groups[id]
	if g == nil {
		return nil, bad("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	if g.name == "default" {
		return nil, bad("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", id)
	}
	for _, in := range s.insts {
		if contains(in.groups, id) && in.vm.State().Power != fakecloud.Terminated {
			return nil, &apiErr{status: http.StatusBadRequest, code: "DependencyViolation", message: fmt.Sprintf("resource %s has a dependent object", id)}
		}
	}
	delete(s.groups, id)
	return []x{bx("return", true)}, nil
}

// launch validates a launch specification (RunInstances' parameters, or
// a spot request's LaunchSpecification.*) and starts an instance.
func (s *Server) launch(reg string, p params, pre, reservation, clientToken, spotID string) (*instance, *apiErr) {
	imageID := p[pre+"ImageId"]
	var img *image
	for _, im := range s.images {
		if im.id == imageID {
			img = im
		}
	}
	if img == nil {
		return nil, bad("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", imageID)
	}
	typ := p[pre+"InstanceType"]
	if typ == "" {
		typ = "m1.small"
	}
	var key *keyPair
	if name := p[pre+"KeyName"]; name != "" {
		if key = s.keys[name]; key == nil {
			return nil, bad("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", name)
		}
	}
	ni := pre + "NetworkInterface.1."
	subnet := p[ni+"SubnetId"]
	if subnet == "" {
		subnet = p[pre+"SubnetId"]
	}
	az := subnetAZ(reg, subnet)
	if subnet == "" {
		az = p[pre+"Placement.AvailabilityZone"]
		if az == "" {
			az = reg + "a"
		}
		subnet = subnetID(az)
		if subnetAZ(reg, subnet) == "" {
			return nil, bad("InvalidParameterValue", "Invalid availability zone: [%s]", az)
		}
	}
	if az == "" {
		return nil, bad("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnet)
	}
	if pz := p[pre+"Placement.AvailabilityZone"]; pz != "" && pz != az {
		return nil, bad("InvalidParameterValue", "Invalid availability zone: [%s]", pz)
	}
	groups := p.list(ni + "SecurityGroupId")
	if len(groups) == 0 {
		groups = p.list(pre + "SecurityGroupId")
	}
	for _, g := range groups {
		if s.groups[g] == nil {
			return nil, bad("InvalidGroup.NotFound", "The security group '%s' does not exist", g)
		}
	}
	if len(groups) == 0 {
		groups = []string{"sg-0fa4e00000000de1"}
	}
	ud, err := base64.StdEncoding.DecodeString(p[pre+"UserData"])
	if err != nil {
		return nil, bad("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
	}
	public := p[ni+"AssociatePublicIpAddress"] != "false"
	size, _ := strconv.Atoi(p[pre+"BlockDeviceMapping.1.Ebs.VolumeSize"])
	in := &instance{
		id: s.id("i"), region: reg, reservation: reservation, image: imageID, typ: typ, subnet: subnet, vpc: DefaultVPC, az: az,
		groups: groups, tags: p.tagSpecs("instance"), launched: time.Now().UTC(), clientToken: clientToken, spotID: spotID,
		iamProfile: p[pre+"IamInstanceProfile.Name"], monitoring: p.boolean(pre + "Monitoring.Enabled"), ebsOptimized: p.boolean(pre + "EbsOptimized"),
		device: p[pre+"BlockDeviceMapping.1.DeviceName"], volumeType: p[pre+"BlockDeviceMapping.1.Ebs.VolumeType"], volumeSize: size,
	}
	var keys []string
	if key != nil {
		in.key = key.name
		keys = []string{key.material}
	}
	in.vm = s.Fleet.Launch(in.id, fakecloud.BootSpec{Name: in.id, User: "ubuntu", AuthorizedKeys: keys, UserData: ud, Hang: imageID == HangAMI}, public)
	s.insts[in.id] = in
	return in, nil
}

func (s *Server) runInstances(reg string, p params) ([]x, *apiErr) {
	if p["MinCount"] != "1" || p["MaxCount"] != "1" {
		return nil, bad("InvalidParameterValue", "this fake launches one instance at a time (MinCount=MaxCount=1)")
	}
	token := p["ClientToken"]
	if token != "" {
		if res, ok := s.tokens[reg+"/"+token]; ok {
			return s.reservationBody(reg, res), nil
		}
	}
	res := s.id("r")
	if _, err := s.launch(reg, p, "", res, token, ""); err != nil {
		return nil, err
	}
	if token != "" {
		s.tokens[reg+"/"+token] = res
	}
	return s.reservationBody(reg, res), nil
}

func (s *Server) reservationBody(reg, res string) []x {
	var items []x
	for _, id := range sortedKeys(s.insts) {
		if in := s.insts[id]; in.reservation == res && in.region == reg {
			items = append(items, s.instanceItem(in))
		}
	}
	return []x{tx("reservationId", res), tx("ownerId", "000000000000"), set("groupSet"), set("instancesSet", items...)}
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// ec2State names a VM's state as EC2 does.
func ec2State(p fakecloud.Power) string {
	switch p {
	case fakecloud.Pending:
		return "pending"
	case fakecloud.Running:
		return "running"
	case fakecloud.Stopping:
		return "stopping"
	case fakecloud.Stopped:
		return "stopped"
	case fakecloud.Terminating:
		return "shutting-down"
	}
	return "terminated"
}

func (s *Server) instanceItem(in *instance) x {
	st := in.vm.State()
	name := ec2State(st.Power)
	kids := []x{
		tx("instanceId", in.id), tx("imageId", in.image),
		el("instanceState", ix("code", stateCodes[name]), tx("name", name)),
		tx("privateDnsName", ""), tx("dnsName", ""), tx("keyName", in.key), ix("amiLaunchIndex", 0),
		tx("instanceType", in.typ), tx("launchTime", in.launched.Format(time.RFC3339)),
		el("placement", tx("availabilityZone", in.az), tx("tenancy", "default")),
		el("monitoring", tx("state", map[bool]string{true: "enabled", false: "disabled"}[in.monitoring])),
		tx("subnetId", in.subnet), tx("vpcId", in.vpc),
	}
	if st.PrivateIP != "" {
		kids = append(kids, tx("privateIpAddress", st.PrivateIP))
	}
	if st.PublicIP != "" && (st.Power == fakecloud.Running || st.Power == fakecloud.Stopping) {
		kids = append(kids, tx("ipAddress", st.PublicIP))
	}
	var groups []x
	for _, g := range in.groups {
		name := ""
		if grp := s.groups[g]; grp != nil {
			name = grp.name
		}
		groups = append(groups, item(tx("groupId", g), tx("groupName", name)))
	}
	kids = append(kids, set("groupSet", groups...), tx("architecture", "x86_64"), tx("rootDeviceType", "ebs"), tx("rootDeviceName", in.device),
		set("blockDeviceMapping", item(tx("deviceName", in.device), el("ebs", tx("volumeId", "vol-"+strings.TrimPrefix(in.id, "i-")), tx("status", "attached"), bx("deleteOnTermination", true)))),
		tx("clientToken", in.clientToken), tagSet(in.tags), bx("ebsOptimized", in.ebsOptimized))
	if in.spotID != "" {
		kids = append(kids, tx("instanceLifecycle", "spot"), tx("spotInstanceRequestId", in.spotID))
	}
	if in.reason != "" {
		kids = append(kids, el("stateReason", tx("code", "Server.InternalError"), tx("message", in.reason)))
	}
	return item(kids...)
}

// visible tells whether an instance still shows in describes.
func (s *Server) visible(in *instance) bool {
	st := in.vm.State()
	return st.Power != fakecloud.Terminated || time.Since(st.Changed) < s.TerminatedTTL
}

func (s *Server) describeInstances(reg string, p params) ([]x, *apiErr) {
	ids := p.list("InstanceId")
	f := p.filters()
	maxResults, _ := strconv.Atoi(p["MaxResults"])
	if maxResults != 0 && len(ids) > 0 {
		return nil, bad("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	for _, id := range ids {
		if in := s.insts[id]; in == nil || in.region != reg || !s.visible(in) {
			return nil, bad("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	var matched []*instance
	for _, id := range sortedKeys(s.insts) {
		in := s.insts[id]
		if in.region != reg || !s.visible(in) || (len(ids) > 0 && !contains(ids, id)) {
			continue
		}
		if v, ok := f["instance-id"]; ok && !match(v, id) {
			continue
		}
		if v, ok := f["client-token"]; ok && !match(v, in.clientToken) {
			continue
		}
		if v, ok := f["instance-state-name"]; ok && !match(v, ec2State(in.vm.State().Power)) {
			continue
		}
		if !tagFilters(f, in.tags) {
			continue
		}
		matched = append(matched, in)
	}
	start := 0
	if tok := p["NextToken"]; tok != "" {
		start, _ = strconv.Atoi(tok)
	}
	end := len(matched)
	next := ""
	if maxResults > 0 && start+maxResults < end {
		end = start + maxResults
		next = strconv.Itoa(end)
	}
	start = min(start, end)
	var res []x
	for _, in := range matched[start:end] {
		res = append(res, item(tx("reservationId", in.reservation), tx("ownerId", "000000000000"), set("groupSet"), set("instancesSet", s.instanceItem(in))))
	}
	body := []x{set("reservationSet", res...)}
	if next != "" {
		body = append(body, tx("nextToken", next))
	}
	return body, nil
}

func (s *Server) createTags(reg string, p params) ([]x, *apiErr) {
	tags := p.tags("Tag")
	for _, id := range p.list("ResourceId") {
		switch {
		case strings.HasPrefix(id, "i-"):
			in := s.insts[id]
			if in == nil || in.region != reg {
				return nil, bad("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
			for k, v := range tags {
				in.tags[k] = v
			}
		case strings.HasPrefix(id, "sg-"):
			g := s.groups[id]
			if g == nil {
				return nil, bad("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
			}
			for k, v := range tags {
				g.tags[k] = v
			}
		default:
			return nil, bad("InvalidID", "The ID '%s' is not valid", id)
		}
	}
	return []x{bx("return", true)}, nil
}

func (s *Server) power(action, reg string, p params) ([]x, *apiErr) {
	ids := p.list("InstanceId")
	if len(ids) == 0 {
		return nil, bad("MissingParameter", "The request must contain the parameter InstanceId")
	}
	var items []x
	for _, id := range ids {
		in := s.insts[id]
		if in == nil || in.region != reg || !s.visible(in) {
			return nil, bad("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		before := in.vm.State()
		prev := ec2State(before.Power)
		var err error
		switch action {
		case "StartInstances":
			if before.Power == fakecloud.Terminated || before.Power == fakecloud.Terminating {
				return nil, bad("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", id)
			}
			if in.spotID != "" {
				return nil, bad("UnsupportedOperation", "The instance '%s' is a spot instance, which cannot be started.", id)
			}
			if before.Power != fakecloud.Running && before.Power != fakecloud.Pending {
				err = s.Fleet.Start(in.vm)
			}
		case "StopInstances":
			if in.spotID != "" {
				return nil, bad("UnsupportedOperation", "The instance '%s' is a spot instance and cannot be stopped.", id)
			}
			if before.Power == fakecloud.Terminated || before.Power == fakecloud.Terminating {
				return nil, bad("IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", id)
			}
			if before.Power != fakecloud.Stopped && before.Power != fakecloud.Stopping {
				err = s.Fleet.Stop(in.vm, p.boolean("Force"))
			}
		case "RebootInstances":
			if before.Power != fakecloud.Running {
				return nil, bad("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be rebooted.", id)
			}
			err = s.Fleet.Reboot(in.vm)
		case "TerminateInstances":
			s.Fleet.Terminate(in.vm)
			if sp := s.spots[in.spotID]; sp != nil && sp.state == "active" {
				sp.state, sp.status = "closed", "instance-terminated-by-user"
			}
		}
		if err != nil {
			return nil, bad("IncorrectInstanceState", "The instance '%s' is not in a state for %s.", id, action)
		}
		cur := ec2State(in.vm.State().Power)
		items = append(items, item(tx("instanceId", id),
			el("currentState", ix("code", stateCodes[cur]), tx("name", cur)),
			el("previousState", ix("code", stateCodes[prev]), tx("name", prev))))
	}
	if action == "RebootInstances" {
		return []x{bx("return", true)}, nil
	}
	return []x{set("instancesSet", items...)}, nil
}

func (s *Server) requestSpot(reg string, p params) ([]x, *apiErr) {
	if n := p["InstanceCount"]; n != "" && n != "1" {
		return nil, bad("InvalidParameterValue", "this fake requests one spot instance at a time")
	}
	if _, err := strconv.ParseFloat(p["SpotPrice"], 64); p["SpotPrice"] != "" && err != nil {
		return nil, bad("InvalidParameterValue", "Invalid value '%s' for SpotPrice", p["SpotPrice"])
	}
	if d := p["BlockDurationMinutes"]; d != "" {
		if m, err := strconv.Atoi(d); err != nil || m%60 != 0 || m < 60 || m > 360 {
			return nil, bad("InvalidParameterValue", "BlockDurationMinutes must be 60, 120, 180, 240, 300 or 360")
		}
	}
	sp := &spot{id: s.id("sir"), region: reg, state: "open", status: "pending-evaluation", price: p["SpotPrice"], launch: p, created: time.Now().UTC()}
	if !s.SpotHold {
		in, err := s.launch(reg, p, "LaunchSpecification.", s.id("r"), "", sp.id)
		if err != nil {
			return nil, err
		}
		sp.state, sp.status, sp.instance = "active", "fulfilled", in.id
	}
	s.spots[sp.id] = sp
	return []x{set("spotInstanceRequestSet", s.spotItem(sp))}, nil
}

func (s *Server) spotItem(sp *spot) x {
	kids := []x{tx("spotInstanceRequestId", sp.id), tx("spotPrice", sp.price), tx("type", "one-time"), tx("state", sp.state),
		el("status", tx("code", sp.status), tx("message", sp.status)), tx("createTime", sp.created.Format(time.RFC3339))}
	if sp.instance != "" {
		kids = append(kids, tx("instanceId", sp.instance))
	}
	return item(kids...)
}

func (s *Server) describeSpots(reg string, p params) ([]x, *apiErr) {
	ids := p.list("SpotInstanceRequestId")
	var items []x
	for _, id := range ids {
		if sp := s.spots[id]; sp == nil || sp.region != reg {
			return nil, bad("InvalidSpotInstanceRequestID.NotFound", "The spot instance request ID '%s' does not exist", id)
		}
	}
	for _, id := range sortedKeys(s.spots) {
		if sp := s.spots[id]; sp.region == reg && (len(ids) == 0 || contains(ids, id)) {
			items = append(items, s.spotItem(sp))
		}
	}
	return []x{set("spotInstanceRequestSet", items...)}, nil
}

func (s *Server) cancelSpots(reg string, p params) ([]x, *apiErr) {
	var items []x
	for _, id := range p.list("SpotInstanceRequestId") {
		sp := s.spots[id]
		if sp == nil || sp.region != reg {
			return nil, bad("InvalidSpotInstanceRequestID.NotFound", "The spot instance request ID '%s' does not exist", id)
		}
		if sp.state == "open" || sp.state == "active" {
			sp.state, sp.status = "cancelled", "request-canceled-and-instance-running"
			if sp.instance == "" {
				sp.status = "canceled-before-fulfillment"
			}
		}
		items = append(items, item(tx("spotInstanceRequestId", id), tx("state", sp.state)))
	}
	return []x{set("spotInstanceRequestSet", items...)}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
