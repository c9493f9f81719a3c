// Package amazonec2 creates Docker hosts as Amazon EC2 instances through
// github.com/aws/aws-sdk-go-v2/service/ec2, with the original driver's
// flags, environment variables and configuration fields. The original's
// bugs are fixed: the availability zone is always region+zone, empty
// answers are errors instead of panics, a spot request is recorded and
// cancelled, a security group the driver created is deleted once no
// instance uses it, the AMI defaults to the newest Ubuntu LTS of the
// region (looked up with DescribeImages) instead of a table of images
// that no longer exist.
package amazonec2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Name is the driver's registered name.
const Name = "amazonec2"

// Defaults, as the original's.
const (
	defaultRegion       = "us-east-1"
	defaultInstanceType = "t2.micro"
	defaultDeviceName   = "/dev/sda1"
	defaultRootSize     = 16
	defaultVolumeType   = "gp2"
	defaultZone         = "a"
	defaultSecurityGrp  = "docker-machine"
	defaultSSHUser      = "ubuntu"
	defaultSSHPort      = 22
	defaultSpotPrice    = "0.50"
	defaultRetries      = 5
	defaultWaitTimeout  = 600
	groupDescription    = "Docker Machine"
	ipRange             = "0.0.0.0/0"
	dockerPort          = 2376
	swarmPort           = 3376
	// canonicalOwner publishes Ubuntu's images; amiPattern is the name
	// of the current LTS's server images (ARCH: amd64 or arm64).
	canonicalOwner = "099720109477"
	amiPattern     = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-%s-server-*"
	// managedTag marks a security group the driver created: the last
	// machine using it deletes it.
	managedTag = "docker-machine-managed"
	// credentialsFile holds static credentials in the machine directory
	// (mode 0600), out of config.json, which `inspect` prints.
	credentialsFile = "amazonec2-credentials"
)

var (
	errorNoPrivateSSHKey                 = errors.New("using --amazonec2-keypair-name also requires --amazonec2-ssh-keypath")
	errorMissingCredentials              = errors.New("amazonec2 driver requires AWS credentials configured with the --amazonec2-access-key and --amazonec2-secret-key options, environment variables, ~/.aws/credentials, or an instance role")
	errorNoVPCIdFound                    = errors.New("amazonec2 driver requires either the --amazonec2-subnet-id or --amazonec2-vpc-id option or an AWS Account with a default vpc-id")
	errorNoSubnetsFound                  = errors.New("The desired subnet could not be located in this region. Is '--amazonec2-subnet-id' or AWS_SUBNET_ID configured correctly?")
	errorDisableSSLWithoutCustomEndpoint = errors.New("using --amazonec2-insecure-transport also requires --amazonec2-endpoint")
)

func init() {
	registry.Register(Name, func(machine, store string) drivers.Driver { return New(machine, store) })
}

// Driver is the amazonec2 driver. Its fields are the original's JSON
// (the credentials excepted: they are kept in the machine directory),
// plus SpotInstanceRequestId, ClientToken and WaitTimeout.
type Driver struct {
	*drivers.BaseDriver
	Id               string
	AccessKey        string `json:"-"`
	SecretKey        string `json:"-"`
	SessionToken     string `json:"-"`
	Region           string
	AMI              string
	SSHKeyID         int
	ExistingKey      bool
	KeyName          string
	InstanceId       string
	InstanceType     string
	PrivateIPAddress string

	SecurityGroupId  string
	SecurityGroupIds []string

	SecurityGroupName  string
	SecurityGroupNames []string

	SecurityGroupReadOnly   bool
	OpenPorts               []string
	Tags                    string
	ReservationId           string
	DeviceName              string
	RootSize                int64
	VolumeType              string
	IamInstanceProfile      string
	VpcId                   string
	SubnetId                string
	Zone                    string
	RequestSpotInstance     bool
	SpotPrice               string
	BlockDurationMinutes    int64
	PrivateIPOnly           bool
	UsePrivateIP            bool
	UseEbsOptimizedInstance bool
	Monitoring              bool
	SSHPrivateKeyPath       string
	RetryCount              int
	Endpoint                string
	DisableSSL              bool
	UserDataFile            string

	// SpotInstanceRequestId is recorded (the original kept it in memory
	// only), so rm cancels it.
	SpotInstanceRequestId string `json:",omitempty"`
	// ClientToken makes RunInstances idempotent and finds an instance
	// whose launch answer was lost.
	ClientToken string `json:",omitempty"`
	// WaitTimeout bounds every wait (address, running, spot fulfilment,
	// termination), seconds.
	WaitTimeout int `json:",omitempty"`

	mu       sync.Mutex
	snap     *snapshot
	swarmPrt int
}

// snapshot is an instance's state from a batch query, used for a few
// seconds by GetState and GetIP instead of asking again.
type snapshot struct {
	at                  time.Time
	st                  state.State
	err                 error
	publicIP, privateIP string
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
		Id:                 randomHex(16),
		Region:             defaultRegion,
		InstanceType:       defaultInstanceType,
		RootSize:           defaultRootSize,
		Zone:               defaultZone,
		SecurityGroupNames: []string{defaultSecurityGrp},
		SpotPrice:          defaultSpotPrice,
		DeviceName:         defaultDeviceName,
		VolumeType:         defaultVolumeType,
		RetryCount:         defaultRetries,
		BaseDriver: &drivers.BaseDriver{
			SSHUser:     defaultSSHUser,
			SSHPort:     defaultSSHPort,
			MachineName: machineName,
			StorePath:   storePath,
		},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DriverName returns "amazonec2".
func (d *Driver) DriverName() string { return Name }

// Capabilities: provisioned over SSH; an instance without an Elastic IP
// gets a new public address when it starts; ls asks for the instances of
// a region and account at once.
func (d *Driver) Capabilities() drivers.Capabilities {
	return drivers.Capabilities{SSH: true, BatchState: true}
}

// GetCreateFlags declares the original's flags and the new ones.
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "amazonec2-access-key", Usage: "AWS Access Key", EnvVar: "AWS_ACCESS_KEY_ID"},
		mcnflag.StringFlag{Name: "amazonec2-secret-key", Usage: "AWS Secret Key", EnvVar: "AWS_SECRET_ACCESS_KEY"},
		mcnflag.StringFlag{Name: "amazonec2-session-token", Usage: "AWS Session Token", EnvVar: "AWS_SESSION_TOKEN"},
		mcnflag.StringFlag{Name: "amazonec2-ami", Usage: "AWS machine image (default: the newest Ubuntu 24.04 LTS image of the region)", EnvVar: "AWS_AMI"},
		mcnflag.StringFlag{Name: "amazonec2-region", Usage: "AWS region", Value: defaultRegion, EnvVar: "AWS_DEFAULT_REGION"},
		mcnflag.StringFlag{Name: "amazonec2-vpc-id", Usage: "AWS VPC id", EnvVar: "AWS_VPC_ID"},
		mcnflag.StringFlag{Name: "amazonec2-zone", Usage: "AWS zone for instance (i.e. a,b,c,d,e)", Value: defaultZone, EnvVar: "AWS_ZONE"},
		mcnflag.StringFlag{Name: "amazonec2-subnet-id", Usage: "AWS VPC subnet id", EnvVar: "AWS_SUBNET_ID"},
		mcnflag.BoolFlag{Name: "amazonec2-security-group-readonly", Usage: "Skip adding default rules to security groups", EnvVar: "AWS_SECURITY_GROUP_READONLY"},
		mcnflag.StringSliceFlag{Name: "amazonec2-security-group", Usage: "AWS VPC security group", Value: []string{defaultSecurityGrp}, EnvVar: "AWS_SECURITY_GROUP"},
		mcnflag.StringSliceFlag{Name: "amazonec2-open-port", Usage: "Make the specified port number accessible from the Internet"},
		mcnflag.StringFlag{Name: "amazonec2-tags", Usage: "AWS Tags (e.g. key1,value1,key2,value2)", EnvVar: "AWS_TAGS"},
		mcnflag.StringFlag{Name: "amazonec2-instance-type", Usage: "AWS instance type", Value: defaultInstanceType, EnvVar: "AWS_INSTANCE_TYPE"},
		mcnflag.StringFlag{Name: "amazonec2-device-name", Usage: "AWS root device name", Value: defaultDeviceName, EnvVar: "AWS_DEVICE_NAME"},
		mcnflag.IntFlag{Name: "amazonec2-root-size", Usage: "AWS root disk size (in GB)", Value: defaultRootSize, EnvVar: "AWS_ROOT_SIZE"},
		mcnflag.StringFlag{Name: "amazonec2-volume-type", Usage: "Amazon EBS volume type", Value: defaultVolumeType, EnvVar: "AWS_VOLUME_TYPE"},
		mcnflag.StringFlag{Name: "amazonec2-iam-instance-profile", Usage: "AWS IAM Instance Profile", EnvVar: "AWS_INSTANCE_PROFILE"},
		mcnflag.IntFlag{Name: "amazonec2-ssh-port", Usage: "SSH port", Value: defaultSSHPort, EnvVar: "AWS_SSH_PORT"},
		mcnflag.StringFlag{Name: "amazonec2-ssh-user", Usage: "Set the name of the ssh user", Value: defaultSSHUser, EnvVar: "AWS_SSH_USER"},
		mcnflag.BoolFlag{Name: "amazonec2-request-spot-instance", Usage: "Set this flag to request spot instance"},
		mcnflag.StringFlag{Name: "amazonec2-spot-price", Usage: "AWS spot instance bid price (in dollar)", Value: defaultSpotPrice},
		mcnflag.IntFlag{Name: "amazonec2-block-duration-minutes", Usage: "AWS spot instance duration in minutes (60, 120, 180, 240, 300, or 360)", Value: 0},
		mcnflag.BoolFlag{Name: "amazonec2-private-address-only", Usage: "Only use a private IP address"},
		mcnflag.BoolFlag{Name: "amazonec2-use-private-address", Usage: "Force the usage of private IP address"},
		mcnflag.BoolFlag{Name: "amazonec2-monitoring", Usage: "Set this flag to enable CloudWatch monitoring"},
		mcnflag.BoolFlag{Name: "amazonec2-use-ebs-optimized-instance", Usage: "Create an EBS optimized instance"},
		mcnflag.StringFlag{Name: "amazonec2-ssh-keypath", Usage: "SSH Key for Instance", EnvVar: "AWS_SSH_KEYPATH"},
		mcnflag.StringFlag{Name: "amazonec2-keypair-name", Usage: "AWS keypair to use; requires --amazonec2-ssh-keypath", EnvVar: "AWS_KEYPAIR_NAME"},
		mcnflag.IntFlag{Name: "amazonec2-retries", Usage: "Set retry count for recoverable failures (use -1 to disable)", Value: defaultRetries},
		mcnflag.StringFlag{Name: "amazonec2-endpoint", Usage: "Optional endpoint URL (hostname only or fully qualified URI)", EnvVar: "AWS_ENDPOINT"},
		mcnflag.BoolFlag{Name: "amazonec2-insecure-transport", Usage: "Disable SSL when sending requests", EnvVar: "AWS_INSECURE_TRANSPORT"},
		mcnflag.StringFlag{Name: "amazonec2-userdata", Usage: "path to file with cloud-init user data", EnvVar: "AWS_USERDATA"},
		mcnflag.IntFlag{Name: "amazonec2-wait-timeout", Usage: "Seconds to wait for an instance (address, running, spot fulfilment, termination)", Value: defaultWaitTimeout, EnvVar: "AWS_WAIT_TIMEOUT"},
	}
}

var (
	regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	zoneName   = regexp.MustCompile(`^[a-z0-9-]+$`)
)

// SetConfigFromFlags reads and checks the flags, checks the credentials
// and finds the VPC and subnet, as the original.
func (d *Driver) SetConfigFromFlags(o drivers.Options) error {
	d.Endpoint = o.String("amazonec2-endpoint")
	d.DisableSSL = o.Bool("amazonec2-insecure-transport")
	d.Region = o.String("amazonec2-region")
	d.AMI = o.String("amazonec2-ami")
	d.AccessKey = o.String("amazonec2-access-key")
	d.SecretKey = o.String("amazonec2-secret-key")
	d.SessionToken = o.String("amazonec2-session-token")
	d.RequestSpotInstance = o.Bool("amazonec2-request-spot-instance")
	d.SpotPrice = o.String("amazonec2-spot-price")
	d.BlockDurationMinutes = int64(o.Int("amazonec2-block-duration-minutes"))
	d.InstanceType = o.String("amazonec2-instance-type")
	d.VpcId = o.String("amazonec2-vpc-id")
	d.SubnetId = o.String("amazonec2-subnet-id")
	d.SecurityGroupNames = o.StringSlice("amazonec2-security-group")
	d.SecurityGroupReadOnly = o.Bool("amazonec2-security-group-readonly")
	d.Tags = o.String("amazonec2-tags")
	d.Zone = o.String("amazonec2-zone")
	d.DeviceName = o.String("amazonec2-device-name")
	d.RootSize = int64(o.Int("amazonec2-root-size"))
	d.VolumeType = o.String("amazonec2-volume-type")
	d.IamInstanceProfile = o.String("amazonec2-iam-instance-profile")
	d.SSHUser = o.String("amazonec2-ssh-user")
	d.SSHPort = o.Int("amazonec2-ssh-port")
	d.PrivateIPOnly = o.Bool("amazonec2-private-address-only")
	d.UsePrivateIP = o.Bool("amazonec2-use-private-address")
	d.Monitoring = o.Bool("amazonec2-monitoring")
	d.UseEbsOptimizedInstance = o.Bool("amazonec2-use-ebs-optimized-instance")
	d.SSHPrivateKeyPath = o.String("amazonec2-ssh-keypath")
	d.KeyName = o.String("amazonec2-keypair-name")
	d.ExistingKey = d.KeyName != ""
	d.RetryCount = o.Int("amazonec2-retries")
	d.OpenPorts = o.StringSlice("amazonec2-open-port")
	d.UserDataFile = o.String("amazonec2-userdata")
	d.WaitTimeout = o.Int("amazonec2-wait-timeout")
	d.SetSwarmConfigFromFlags(o)
	d.ClientToken = randomHex(16)

	if err := d.checkFlags(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	if d.VpcId == "" {
		d.VpcId, err = defaultVPC(ctx, c)
		if err != nil {
			log.Warnf("Couldn't determine your account Default VPC ID : %q", err)
		}
	}
	if d.SubnetId == "" && d.VpcId == "" {
		return errorNoVPCIdFound
	}
	if d.SubnetId != "" && d.VpcId != "" {
		if err := checkSubnet(ctx, c, d.SubnetId, d.VpcId); err != nil {
			return err
		}
	}
	return nil
}

// checkFlags validates what needs no API call.
func (d *Driver) checkFlags() error {
	if d.DisableSSL && d.Endpoint == "" {
		return errorDisableSSLWithoutCustomEndpoint
	}
	if d.Endpoint != "" {
		if _, err := d.baseEndpoint(); err != nil {
			return err
		}
	}
	if !regionName.MatchString(d.Region) {
		return fmt.Errorf("--amazonec2-region %q is not a region name (e.g. %s)", d.Region, defaultRegion)
	}
	if d.Zone == "" || !zoneName.MatchString(d.Zone) {
		return fmt.Errorf("--amazonec2-zone %q is not a zone letter (a, b, c, …) or zone name", d.Zone)
	}
	if d.KeyName != "" && d.SSHPrivateKeyPath == "" {
		return errorNoPrivateSSHKey
	}
	if d.InstanceType == "" {
		return errors.New("--amazonec2-instance-type must not be empty")
	}
	if d.RootSize <= 0 {
		return fmt.Errorf("--amazonec2-root-size %d: give the size in GB, above 0", d.RootSize)
	}
	if d.VolumeType == "" || d.DeviceName == "" {
		return errors.New("--amazonec2-volume-type and --amazonec2-device-name must not be empty")
	}
	if d.SSHUser == "" {
		return errors.New("--amazonec2-ssh-user must not be empty")
	}
	if d.SSHPort <= 0 || d.SSHPort > 65535 {
		return fmt.Errorf("--amazonec2-ssh-port %d is not a TCP port", d.SSHPort)
	}
	if d.RetryCount < -1 {
		return fmt.Errorf("--amazonec2-retries %d: give a count, or -1 to disable retries", d.RetryCount)
	}
	if d.WaitTimeout <= 0 {
		return fmt.Errorf("--amazonec2-wait-timeout %d: give a number of seconds above 0", d.WaitTimeout)
	}
	if d.RequestSpotInstance {
		if _, err := strconv.ParseFloat(d.SpotPrice, 64); err != nil {
			return fmt.Errorf("--amazonec2-spot-price %q is not a price in dollars (e.g. 0.50)", d.SpotPrice)
		}
	}
	if m := d.BlockDurationMinutes; m != 0 && (m%60 != 0 || m < 60 || m > 360) {
		return fmt.Errorf("--amazonec2-block-duration-minutes %d: give 60, 120, 180, 240, 300 or 360", m)
	}
	if d.Tags != "" && len(strings.Split(d.Tags, ","))%2 != 0 {
		return fmt.Errorf("--amazonec2-tags %q: give key,value pairs (key1,value1,key2,value2)", d.Tags)
	}
	for _, p := range d.OpenPorts {
		if _, _, err := splitPortProto(p); err != nil {
			return err
		}
	}
	for _, n := range d.SecurityGroupNames {
		if strings.TrimSpace(n) == "" {
			return errors.New("--amazonec2-security-group: a group name must not be empty")
		}
	}
	d.swarmPrt = swarmPort
	if d.SwarmMaster && d.SwarmHost != "" {
		u, err := url.Parse(d.SwarmHost)
		if err != nil {
			return fmt.Errorf("error parsing swarm host: %s", err)
		}
		p, err := strconv.Atoi(u.Port())
		if err != nil {
			return fmt.Errorf("--swarm-host %q has no port", d.SwarmHost)
		}
		d.swarmPrt = p
	}
	return nil
}

// splitPortProto reads --amazonec2-open-port: PORT or PORT/PROTO.
func splitPortProto(s string) (int, string, error) {
	port, proto, found := strings.Cut(s, "/")
	if !found {
		proto = "tcp"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || (proto != "tcp" && proto != "udp") {
		return 0, "", fmt.Errorf("--amazonec2-open-port %q: give PORT or PORT/PROTO (tcp or udp), e.g. 8080/tcp", s)
	}
	return n, proto, nil
}

// regionZone is the availability zone: region+zone, or the zone when it
// is a whole zone name already. (The original sent the bare letter when
// an endpoint was set.)
func (d *Driver) regionZone() string {
	if strings.HasPrefix(d.Zone, d.Region) {
		return d.Zone
	}
	return d.Region + d.Zone
}

func (d *Driver) waitTimeout() time.Duration {
	if d.WaitTimeout <= 0 {
		return defaultWaitTimeout * time.Second
	}
	return time.Duration(d.WaitTimeout) * time.Second
}

// securityGroupNames and securityGroupIds read the fields of configs
// from before the lists (both are kept, as the original).
func (d *Driver) securityGroupNames() []string {
	return migrate(d.SecurityGroupName, d.SecurityGroupNames)
}

func (d *Driver) securityGroupIds() []string { return migrate(d.SecurityGroupId, d.SecurityGroupIds) }

func migrate(v string, vs []string) []string {
	var out []string
	if v != "" {
		out = append(out, v)
	}
	for _, x := range vs {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// staticCredentials is what the credentials file holds.
type staticCredentials struct {
	AccessKey, SecretKey, SessionToken string
}

// loadCredentials reads the machine's static credentials when the
// driver has none in memory (a stored machine).
func (d *Driver) loadCredentials() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.AccessKey != "" || d.BaseDriver == nil || d.MachineName == "" {
		return
	}
	b, err := os.ReadFile(d.ResolveStorePath(credentialsFile))
	if err != nil {
		return
	}
	var c staticCredentials
	if json.Unmarshal(b, &c) == nil {
		d.AccessKey, d.SecretKey, d.SessionToken = c.AccessKey, c.SecretKey, c.SessionToken
	}
}

// saveCredentials writes static credentials into the machine directory.
func (d *Driver) saveCredentials() error {
	d.mu.Lock()
	c := staticCredentials{d.AccessKey, d.SecretKey, d.SessionToken}
	d.mu.Unlock()
	if c.AccessKey == "" || c.SecretKey == "" {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(d.ResolveStorePath(credentialsFile), b, 0o600)
}

// UnmarshalJSON reads the configuration. One the original wrote carries
// the credentials in config.json: they are kept in memory and moved into
// the machine directory.
func (d *Driver) UnmarshalJSON(b []byte) error {
	type plain Driver
	aux := struct {
		*plain
		AccessKey    string `json:"AccessKey"`
		SecretKey    string `json:"SecretKey"`
		SessionToken string `json:"SessionToken"`
	}{plain: (*plain)(d)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.AccessKey != "" && aux.SecretKey != "" {
		d.AccessKey, d.SecretKey, d.SessionToken = aux.AccessKey, aux.SecretKey, aux.SessionToken
		if d.BaseDriver != nil && d.MachineName != "" {
			if _, err := os.Stat(d.ResolveStorePath(credentialsFile)); errors.Is(err, fs.ErrNotExist) {
				if err := d.saveCredentials(); err != nil {
					log.Debugf("amazonec2: moving the credentials out of config.json: %v", err)
				}
			}
		}
	}
	return nil
}
