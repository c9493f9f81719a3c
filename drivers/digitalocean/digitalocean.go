// Package digitalocean creates Docker hosts as DigitalOcean droplets,
// through the v2 API (github.com/digitalocean/godo), with the original
// driver's flags, environment variables and configuration fields, plus
// --digitalocean-api-url for an API-compatible endpoint and
// --digitalocean-wait-timeout.
package digitalocean

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/godo"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Name is the driver's registered name.
const Name = "digitalocean"

// Defaults. The image is the current Ubuntu LTS: the original's
// ubuntu-16-04-x64 no longer exists.
const (
	defaultImage       = "ubuntu-24-04-x64"
	defaultRegion      = "nyc3"
	defaultSize        = "s-1vcpu-1gb"
	defaultSSHUser     = "root"
	defaultSSHPort     = 22
	defaultAPIURL      = "https://api.digitalocean.com/"
	defaultWaitTimeout = 300
	// tokenFile holds the access token in the machine directory (mode
	// 0600), out of config.json, which `inspect` prints.
	tokenFile = "digitalocean-token"
)

func init() {
	registry.Register(Name, func(machine, store string) drivers.Driver { return New(machine, store) })
}

// Driver is the digitalocean driver. Its fields are the original's JSON
// (AccessToken excepted, kept in the machine directory instead), plus
// APIURL and WaitTimeout.
type Driver struct {
	*drivers.BaseDriver
	AccessToken       string `json:"-"`
	DropletID         int
	DropletName       string
	Image             string
	Region            string
	SSHKeyID          int
	SSHKeyFingerprint string
	SSHKey            string
	Size              string
	IPv6              bool
	Backups           bool
	PrivateNetworking bool
	UserDataFile      string
	Monitoring        bool
	Tags              string
	// APIURL is the API's base URL ("" reads as the public API).
	APIURL string `json:",omitempty"`
	// WaitTimeout bounds the wait for a new droplet's address, seconds.
	WaitTimeout int `json:",omitempty"`
	// CreationTag is a tag unique to this machine's create, recorded
	// before the droplet is requested: a create killed before it learnt
	// the droplet's id leaves a record whose Remove finds the droplet by
	// it.
	CreationTag string `json:",omitempty"`

	mu   sync.Mutex
	snap *snapshot
}

// snapshot is a droplet's state from a batch query (GetStates), used by
// GetState for a few seconds instead of asking again.
type snapshot struct {
	at       time.Time
	st       state.State
	notFound bool
}

// snapshotTTL is how long a batch answer stands in for asking again:
// long enough for one command's work after the batch (ls gives every
// machine up to its --timeout, 10 s by default, and on a loaded host it
// used the answers more than 5 s after the batch returned, so each
// machine asked again), short enough that a long-lived process (a plugin
// server) does not keep old states; operations that change the state
// forget it anyway.
const snapshotTTL = 30 * time.Second

// New returns an unconfigured driver.
func New(machineName, storePath string) *Driver {
	return &Driver{
		Image:  defaultImage,
		Region: defaultRegion,
		Size:   defaultSize,
		BaseDriver: &drivers.BaseDriver{
			MachineName: machineName,
			StorePath:   storePath,
			SSHUser:     defaultSSHUser,
			SSHPort:     defaultSSHPort,
		},
	}
}

// DriverName returns "digitalocean".
func (d *Driver) DriverName() string { return Name }

// Capabilities: provisioned over SSH; a droplet keeps its address when
// powered off and on; ls asks for all droplets of an account at once.
func (d *Driver) Capabilities() drivers.Capabilities {
	return drivers.Capabilities{SSH: true, BatchState: true}
}

// GetCreateFlags declares the original's flags and the new ones.
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_ACCESS_TOKEN", Name: "digitalocean-access-token", Usage: "Digital Ocean access token"},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_SSH_USER", Name: "digitalocean-ssh-user", Usage: "SSH username", Value: defaultSSHUser},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_SSH_KEY_FINGERPRINT", Name: "digitalocean-ssh-key-fingerprint", Usage: "SSH key fingerprint"},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_SSH_KEY_PATH", Name: "digitalocean-ssh-key-path", Usage: "SSH private key path "},
		mcnflag.IntFlag{EnvVar: "DIGITALOCEAN_SSH_PORT", Name: "digitalocean-ssh-port", Usage: "SSH port", Value: defaultSSHPort},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_IMAGE", Name: "digitalocean-image", Usage: "Digital Ocean Image", Value: defaultImage},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_REGION", Name: "digitalocean-region", Usage: "Digital Ocean region", Value: defaultRegion},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_SIZE", Name: "digitalocean-size", Usage: "Digital Ocean size", Value: defaultSize},
		mcnflag.BoolFlag{EnvVar: "DIGITALOCEAN_IPV6", Name: "digitalocean-ipv6", Usage: "enable ipv6 for droplet"},
		mcnflag.BoolFlag{EnvVar: "DIGITALOCEAN_PRIVATE_NETWORKING", Name: "digitalocean-private-networking", Usage: "enable private networking for droplet"},
		mcnflag.BoolFlag{EnvVar: "DIGITALOCEAN_BACKUPS", Name: "digitalocean-backups", Usage: "enable backups for droplet"},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_USERDATA", Name: "digitalocean-userdata", Usage: "path to file with cloud-init user-data"},
		mcnflag.BoolFlag{EnvVar: "DIGITALOCEAN_MONITORING", Name: "digitalocean-monitoring", Usage: "enable monitoring for droplet"},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_TAGS", Name: "digitalocean-tags", Usage: "comma-separated list of tags to apply to the Droplet"},
		mcnflag.StringFlag{EnvVar: "DIGITALOCEAN_API_URL", Name: "digitalocean-api-url", Usage: "Base URL of the DigitalOcean API, or of an API-compatible endpoint", Value: defaultAPIURL},
		mcnflag.IntFlag{EnvVar: "DIGITALOCEAN_WAIT_TIMEOUT", Name: "digitalocean-wait-timeout", Usage: "Seconds to wait for a new droplet to get its address", Value: defaultWaitTimeout},
	}
}

// tagName is what DigitalOcean accepts as a tag.
var tagName = regexp.MustCompile(`^[A-Za-z0-9:_-]{1,255}$`)

// SetConfigFromFlags reads and checks the flags; it makes no API call.
func (d *Driver) SetConfigFromFlags(o drivers.Options) error {
	d.CreationTag = newCreationTag()
	d.AccessToken = o.String("digitalocean-access-token")
	d.Image = o.String("digitalocean-image")
	d.Region = o.String("digitalocean-region")
	d.Size = o.String("digitalocean-size")
	d.IPv6 = o.Bool("digitalocean-ipv6")
	d.PrivateNetworking = o.Bool("digitalocean-private-networking")
	d.Backups = o.Bool("digitalocean-backups")
	d.UserDataFile = o.String("digitalocean-userdata")
	d.Monitoring = o.Bool("digitalocean-monitoring")
	d.SSHUser = o.String("digitalocean-ssh-user")
	d.SSHPort = o.Int("digitalocean-ssh-port")
	d.SSHKeyFingerprint = strings.TrimSpace(o.String("digitalocean-ssh-key-fingerprint"))
	d.SSHKey = o.String("digitalocean-ssh-key-path")
	d.Tags = o.String("digitalocean-tags")
	d.WaitTimeout = o.Int("digitalocean-wait-timeout")
	d.SetSwarmConfigFromFlags(o)

	if d.AccessToken == "" {
		return errors.New("digitalocean driver requires the --digitalocean-access-token option")
	}
	apiURL := o.String("digitalocean-api-url")
	if apiURL == "" {
		apiURL = defaultAPIURL
	}
	u, err := checkAPIURL(apiURL)
	if err != nil {
		return err
	}
	d.APIURL = u
	if d.SSHUser == "" {
		return errors.New("--digitalocean-ssh-user must not be empty (the image's user is root)")
	}
	if d.SSHPort <= 0 || d.SSHPort > 65535 {
		return fmt.Errorf("--digitalocean-ssh-port %d is not a TCP port", d.SSHPort)
	}
	for flag, v := range map[string]string{"image": d.Image, "region": d.Region, "size": d.Size} {
		if v == "" {
			return fmt.Errorf("--digitalocean-%s must not be empty", flag)
		}
	}
	if d.WaitTimeout <= 0 {
		return fmt.Errorf("--digitalocean-wait-timeout %d: give a number of seconds above 0", d.WaitTimeout)
	}
	for _, t := range d.tags() {
		if !tagName.MatchString(t) {
			return fmt.Errorf("--digitalocean-tags: %q is not a valid tag (letters, digits, colons, dashes and underscores, at most 255)", t)
		}
	}
	if d.SSHKey != "" && d.SSHKeyFingerprint == "" {
		return fmt.Errorf("ssh-key-fingerprint needs to be provided for %q (--digitalocean-ssh-key-fingerprint)", d.SSHKey)
	}
	return nil
}

// tags splits --digitalocean-tags: comma separated, trimmed, empty
// items dropped, as the original.
// newCreationTag returns a tag for one create.
func newCreationTag() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "docker-machine-create-" + hex.EncodeToString(b)
}

func (d *Driver) tags() []string {
	var out []string
	if d.CreationTag != "" {
		out = append(out, d.CreationTag)
	}
	for _, t := range strings.Split(d.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (d *Driver) apiURL() string {
	if d.APIURL == "" {
		return defaultAPIURL
	}
	return d.APIURL
}

func (d *Driver) waitTimeout() time.Duration {
	if d.WaitTimeout <= 0 {
		return defaultWaitTimeout * time.Second
	}
	return time.Duration(d.WaitTimeout) * time.Second
}

// accessToken is the token: from the flags for a new machine, from the
// machine directory (or the environment) for a stored one.
func (d *Driver) accessToken() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.AccessToken != "" {
		return d.AccessToken, nil
	}
	b, err := os.ReadFile(d.ResolveStorePath(tokenFile))
	if err == nil && strings.TrimSpace(string(b)) != "" {
		d.AccessToken = strings.TrimSpace(string(b))
		return d.AccessToken, nil
	}
	if t := os.Getenv("DIGITALOCEAN_ACCESS_TOKEN"); t != "" {
		d.AccessToken = t
		return t, nil
	}
	return "", fmt.Errorf("no DigitalOcean access token for machine %q: %s is missing; set DIGITALOCEAN_ACCESS_TOKEN", d.MachineName, d.ResolveStorePath(tokenFile))
}

// saveToken writes the token into the machine directory.
func (d *Driver) saveToken() error {
	token, err := d.accessToken()
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(d.ResolveStorePath(tokenFile), []byte(token+"\n"), 0o600)
}

// UnmarshalJSON reads the driver's configuration. A configuration the
// original wrote carries the token in config.json; it is kept in memory
// and moved into the machine directory.
func (d *Driver) UnmarshalJSON(b []byte) error {
	type plain Driver
	aux := struct {
		*plain
		AccessToken string `json:"AccessToken"`
	}{plain: (*plain)(d)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.AccessToken != "" {
		d.AccessToken = aux.AccessToken
		if d.BaseDriver != nil && d.MachineName != "" {
			p := d.ResolveStorePath(tokenFile)
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				if err := fsutil.WriteFileAtomic(p, []byte(aux.AccessToken+"\n"), 0o600); err != nil {
					log.Debugf("digitalocean: moving the token out of config.json: %v", err)
				}
			}
		}
	}
	return nil
}

// PreCreateCheck checks the files the flags name, the region (and that
// the size is offered there) and an existing key's fingerprint.
func (d *Driver) PreCreateCheck(ctx context.Context) error {
	if d.UserDataFile != "" {
		if _, err := os.Stat(d.UserDataFile); err != nil {
			return fmt.Errorf("user-data file %s could not be found (--digitalocean-userdata): %w", d.UserDataFile, err)
		}
	}
	if d.SSHKey != "" {
		if _, err := os.Stat(d.SSHKey); err != nil {
			return fmt.Errorf("SSH key does not exist: %q", d.SSHKey)
		}
	}
	c, err := d.client()
	if err != nil {
		return err
	}
	found := false
	opt := &godo.ListOptions{PerPage: 200}
	for !found {
		regions, resp, err := c.Regions.List(ctx, opt)
		if err != nil {
			return fmt.Errorf("listing regions: %w", err)
		}
		for _, r := range regions {
			if r.Slug != d.Region {
				continue
			}
			found = true
			if !r.Available {
				return fmt.Errorf("region %s is not available for new droplets; choose another with --digitalocean-region", d.Region)
			}
			if len(r.Sizes) > 0 && !contains(r.Sizes, d.Size) {
				return fmt.Errorf("size %s is not offered in region %s (--digitalocean-size); sizes there: %s", d.Size, d.Region, strings.Join(r.Sizes, ", "))
			}
		}
		if found || resp == nil || resp.Links == nil || resp.Links.IsLastPage() {
			break
		}
		p, err := resp.Links.CurrentPage()
		if err != nil {
			break
		}
		opt.Page = p + 1
	}
	if !found {
		return fmt.Errorf("digitalocean requires a valid region: %q is not one (--digitalocean-region)", d.Region)
	}
	if d.SSHKeyFingerprint != "" {
		key, _, err := c.Keys.GetByFingerprint(ctx, d.SSHKeyFingerprint)
		if statusOf(err) == 404 {
			return fmt.Errorf("Digital Ocean SSH key with fingerprint %s doesn't exist (--digitalocean-ssh-key-fingerprint)", d.SSHKeyFingerprint)
		}
		if err != nil {
			return fmt.Errorf("looking up the SSH key %s: %w", d.SSHKeyFingerprint, err)
		}
		d.SSHKeyID = key.ID
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Create uploads the machine's key (or uses the given one), creates the
// droplet and waits for its public address. When it fails half-way it
// removes what it made.
func (d *Driver) Create(ctx context.Context) (err error) {
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if rerr := d.Remove(cctx); rerr != nil {
			err = fmt.Errorf("%w (removing what was created also failed: %v)", err, rerr)
		}
	}()
	if err := d.saveToken(); err != nil {
		return err
	}
	var userdata string
	if d.UserDataFile != "" {
		b, err := os.ReadFile(d.UserDataFile)
		if err != nil {
			return fmt.Errorf("reading --digitalocean-userdata: %w", err)
		}
		userdata = string(b)
	}
	c, err := d.client()
	if err != nil {
		return err
	}
	if err := d.createKey(ctx, c); err != nil {
		return err
	}

	log.Infof("(%s) Creating Digital Ocean droplet...", d.MachineName)
	req := &godo.DropletCreateRequest{
		Name:              d.MachineName,
		Region:            d.Region,
		Size:              d.Size,
		Image:             godo.DropletCreateImage{Slug: d.Image},
		SSHKeys:           []godo.DropletCreateSSHKey{{ID: d.SSHKeyID}},
		Backups:           d.Backups,
		IPv6:              d.IPv6,
		PrivateNetworking: d.PrivateNetworking,
		Monitoring:        d.Monitoring,
		UserData:          userdata,
		Tags:              d.tags(),
	}
	started := time.Now()
	droplet, _, err := c.Droplets.Create(ctx, req)
	if err != nil {
		if ambiguous(err) {
			d.findLostDroplet(ctx, c, started)
		}
		return fmt.Errorf("creating the droplet: %w", err)
	}
	d.DropletID = droplet.ID
	d.DropletName = droplet.Name

	log.Infof("(%s) Waiting for IP address to be assigned to the Droplet...", d.MachineName)
	ip, err := d.waitForAddress(ctx, c)
	if err != nil {
		return err
	}
	d.IPAddress = ip
	log.Debugf("digitalocean: created droplet ID %d, IP address %s", d.DropletID, d.IPAddress)
	return nil
}

// createKey generates the machine's key and uploads it, or copies the
// given private key (--digitalocean-ssh-key-path) for an existing
// account key.
func (d *Driver) createKey(ctx context.Context, c *godo.Client) error {
	if d.SSHKeyFingerprint != "" {
		if d.SSHKey == "" {
			log.Infof("(%s) Assuming Digital Ocean private SSH is located at ~/.ssh/id_rsa", d.MachineName)
			return nil
		}
		dst := d.ResolveStorePath(filepath.Base(d.SSHKey))
		if err := fsutil.CopyFile(d.SSHKey, dst, 0o600); err != nil {
			return fmt.Errorf("unable to copy ssh key: %w", err)
		}
		d.SSHKeyPath = dst
		return nil
	}
	log.Infof("(%s) Creating SSH key...", d.MachineName)
	keyPath := d.ResolveStorePath("id_rsa")
	if err := ssh.GenerateKeyPair(keyPath); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	d.SSHKeyPath = keyPath
	pub, err := ssh.PublicKey(keyPath)
	if err != nil {
		return err
	}
	key, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: d.MachineName, PublicKey: pub})
	if err != nil {
		return fmt.Errorf("uploading the SSH key: %w", err)
	}
	d.SSHKeyID = key.ID
	return nil
}

// removeTagged deletes the droplets carrying this create's tag.
func (d *Driver) removeTagged(ctx context.Context, c *godo.Client) error {
	droplets, _, err := c.Droplets.ListByTag(ctx, d.CreationTag, &godo.ListOptions{PerPage: 200})
	if err != nil {
		return fmt.Errorf("looking for the droplet of an unfinished create (tag %s): %w", d.CreationTag, err)
	}
	for _, dr := range droplets {
		log.Debugf("digitalocean: removing droplet %d of an unfinished create", dr.ID)
		if _, err := c.Droplets.Delete(ctx, dr.ID); err != nil && statusOf(err) != 404 {
			return fmt.Errorf("deleting droplet %d: %w", dr.ID, err)
		}
	}
	return nil
}

// findLostDroplet looks for a droplet that a create whose answer was
// lost may have made: named after the machine and created since the
// request (less a minute of clock skew). It is recorded, so Remove
// deletes it.
func (d *Driver) findLostDroplet(ctx context.Context, c *godo.Client, since time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	droplets, _, err := c.Droplets.ListByName(ctx, d.MachineName, &godo.ListOptions{PerPage: 200})
	if err != nil {
		log.Debugf("digitalocean: looking for a droplet the failed create may have made: %v", err)
		return
	}
	for _, dr := range droplets {
		created, err := time.Parse(time.RFC3339, dr.Created)
		if err == nil && created.After(since.Add(-time.Minute)) {
			log.Debugf("digitalocean: the failed create made droplet %d; it will be removed", dr.ID)
			d.DropletID = dr.ID
			return
		}
	}
}

// waitForAddress polls the droplet until it has a public IPv4 address,
// with back-off, bounded by the wait timeout and ctx.
func (d *Driver) waitForAddress(ctx context.Context, c *godo.Client) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, d.waitTimeout(),
		fmt.Errorf("droplet %d got no public address within %s (--digitalocean-wait-timeout)", d.DropletID, d.waitTimeout()))
	defer cancel()
	delay := pollFirst
	for {
		dr, _, err := c.Droplets.Get(ctx, d.DropletID)
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		if err != nil {
			return "", fmt.Errorf("waiting for droplet %d: %w", d.DropletID, err)
		}
		if ip, err := dr.PublicIPv4(); err == nil && ip != "" {
			return ip, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", context.Cause(ctx)
		case <-t.C:
		}
		delay = min(delay*2, pollMax)
	}
}

// GetSSHHostname is the droplet's address.
func (d *Driver) GetSSHHostname(ctx context.Context) (string, error) { return d.GetIP(ctx) }

// GetSSHKeyPath is the machine's key, the copied key, or "" (the user's
// agent and default keys) for an account key without a key path.
func (d *Driver) GetSSHKeyPath() string {
	switch {
	case d.SSHKey != "":
		d.SSHKeyPath = d.ResolveStorePath(filepath.Base(d.SSHKey))
	case d.SSHKeyPath == "" && d.SSHKeyFingerprint == "":
		d.SSHKeyPath = d.ResolveStorePath("id_rsa")
	}
	return d.SSHKeyPath
}

// GetURL is tcp://IP:2376 of a running droplet.
func (d *Driver) GetURL(ctx context.Context) (string, error) {
	if err := drivers.MustBeRunning(ctx, d); err != nil {
		return "", err
	}
	ip, err := d.GetIP(ctx)
	if err != nil {
		return "", err
	}
	return drivers.TCPURL(ip, 2376), nil
}

// NotFoundError is a droplet that no longer exists.
type NotFoundError struct{ ID int }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("droplet %d not found: it was deleted outside docker-machine (docker-machine rm removes the machine)", e.ID)
}

// dropletState maps a droplet's status.
func dropletState(status string) state.State {
	switch status {
	case "new":
		return state.Starting
	case "active":
		return state.Running
	case "off":
		return state.Stopped
	}
	return state.None
}

// GetState asks for the droplet (or uses a batch answer of the last
// seconds).
func (d *Driver) GetState(ctx context.Context) (state.State, error) {
	d.mu.Lock()
	snap := d.snap
	d.mu.Unlock()
	if snap != nil && time.Since(snap.at) < snapshotTTL {
		if snap.notFound {
			return state.Error, &NotFoundError{ID: d.DropletID}
		}
		return snap.st, nil
	}
	if d.DropletID == 0 {
		return state.None, fmt.Errorf("machine %q has no droplet: its create did not finish", d.MachineName)
	}
	c, err := d.client()
	if err != nil {
		return state.Error, err
	}
	dr, _, err := c.Droplets.Get(ctx, d.DropletID)
	if statusOf(err) == 404 {
		return state.Error, &NotFoundError{ID: d.DropletID}
	}
	if err != nil {
		return state.Error, err
	}
	return dropletState(dr.Status), nil
}

func (d *Driver) action(ctx context.Context, what string, do func(context.Context, *godo.Client) (*godo.Action, *godo.Response, error)) error {
	d.mu.Lock()
	d.snap = nil
	d.mu.Unlock()
	c, err := d.client()
	if err != nil {
		return err
	}
	if _, _, err := do(ctx, c); err != nil {
		if statusOf(err) == 404 {
			return &NotFoundError{ID: d.DropletID}
		}
		return fmt.Errorf("%s droplet %d: %w", what, d.DropletID, err)
	}
	return nil
}

// Start powers the droplet on.
func (d *Driver) Start(ctx context.Context) error {
	return d.action(ctx, "powering on", func(ctx context.Context, c *godo.Client) (*godo.Action, *godo.Response, error) {
		return c.DropletActions.PowerOn(ctx, d.DropletID)
	})
}

// Stop shuts the droplet down.
func (d *Driver) Stop(ctx context.Context) error {
	return d.action(ctx, "shutting down", func(ctx context.Context, c *godo.Client) (*godo.Action, *godo.Response, error) {
		return c.DropletActions.Shutdown(ctx, d.DropletID)
	})
}

// Restart reboots the droplet.
func (d *Driver) Restart(ctx context.Context) error {
	return d.action(ctx, "rebooting", func(ctx context.Context, c *godo.Client) (*godo.Action, *godo.Response, error) {
		return c.DropletActions.Reboot(ctx, d.DropletID)
	})
}

// Kill powers the droplet off.
func (d *Driver) Kill(ctx context.Context) error {
	return d.action(ctx, "powering off", func(ctx context.Context, c *godo.Client) (*godo.Action, *godo.Response, error) {
		return c.DropletActions.PowerOff(ctx, d.DropletID)
	})
}

// Remove deletes the droplet and the key the driver uploaded (what is
// already gone is skipped), then the driver's files in the machine
// directory.
func (d *Driver) Remove(ctx context.Context) error {
	pubPath := d.ResolveStorePath("id_rsa.pub")
	_, pubErr := os.Stat(pubPath)
	remote := d.DropletID != 0 || (d.SSHKeyFingerprint == "" && (d.SSHKeyID != 0 || pubErr == nil))
	if remote {
		c, err := d.client()
		if err != nil {
			return err
		}
		if d.DropletID == 0 && d.CreationTag != "" {
			// A create that never learnt its droplet's id (killed, or
			// its answer lost): the droplet carries this create's tag.
			if err := d.removeTagged(ctx, c); err != nil {
				return err
			}
		}
		if d.DropletID != 0 {
			_, err := c.Droplets.Delete(ctx, d.DropletID)
			switch {
			case statusOf(err) == 404:
				log.Infof("(%s) Digital Ocean droplet doesn't exist, assuming it is already deleted", d.MachineName)
			case err != nil:
				return fmt.Errorf("deleting droplet %d: %w", d.DropletID, err)
			}
			d.DropletID = 0
		}
		if d.SSHKeyFingerprint == "" {
			var err error
			switch {
			case d.SSHKeyID != 0:
				_, err = c.Keys.DeleteByID(ctx, d.SSHKeyID)
			case pubErr == nil:
				// The upload's answer may have been lost: the key is
				// known by its fingerprint.
				var pub, fp string
				if pub, err = ssh.PublicKey(d.ResolveStorePath("id_rsa")); err == nil {
					if fp, err = fingerprint(pub); err == nil {
						_, err = c.Keys.DeleteByFingerprint(ctx, fp)
					}
				}
			}
			switch {
			case statusOf(err) == 404:
				if d.SSHKeyID != 0 {
					log.Infof("(%s) Digital Ocean SSH key doesn't exist, assuming it is already deleted", d.MachineName)
				}
			case err != nil:
				return fmt.Errorf("deleting SSH key %d: %w", d.SSHKeyID, err)
			}
			d.SSHKeyID = 0
		}
	}
	var errs []error
	files := []string{tokenFile}
	if d.SSHKeyFingerprint == "" {
		files = append(files, "id_rsa", "id_rsa.pub")
	} else if d.SSHKey != "" {
		files = append(files, filepath.Base(d.SSHKey))
	}
	for _, f := range files {
		if err := os.Remove(d.ResolveStorePath(f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
