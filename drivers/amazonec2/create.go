package amazonec2

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

// PreCreateCheck checks the key pair, finds the subnet of the zone, and
// resolves (or checks) the AMI, before anything is made.
func (d *Driver) PreCreateCheck(ctx context.Context) error {
	if d.UserDataFile != "" {
		if _, err := os.Stat(d.UserDataFile); err != nil {
			return fmt.Errorf("unable to read --amazonec2-userdata file: %w", err)
		}
	}
	if d.SSHPrivateKeyPath != "" {
		if _, err := os.Stat(d.SSHPrivateKeyPath); err != nil {
			return fmt.Errorf("--amazonec2-ssh-keypath: %w", err)
		}
		if d.KeyName == "" {
			if _, err := os.Stat(d.SSHPrivateKeyPath + ".pub"); err != nil {
				return fmt.Errorf("--amazonec2-ssh-keypath: the public key must be beside the private key: %w", err)
			}
		}
	}
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	if err := d.checkKeyPair(ctx, c); err != nil {
		return err
	}
	if d.SubnetId == "" {
		if err := d.findSubnet(ctx, c); err != nil {
			return err
		}
	}
	return d.resolveAMI(ctx, c)
}

func (d *Driver) checkKeyPair(ctx context.Context, c *ec2.Client) error {
	name, shouldExist := d.KeyName, true
	if name == "" {
		name, shouldExist = d.MachineName, false
	}
	out, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{name}})
	switch {
	case code(err) == "InvalidKeyPair.NotFound":
		if shouldExist {
			return fmt.Errorf("There is no keypair with the name %s. Please verify the key name provided.", name)
		}
	case err != nil:
		return err
	case len(out.KeyPairs) != 0 && !shouldExist:
		return fmt.Errorf("There is already a keypair with the name %s.  Please either remove that keypair or use a different machine name.", d.MachineName)
	case len(out.KeyPairs) == 0 && shouldExist:
		return fmt.Errorf("There is no keypair with the name %s. Please verify the key name provided.", name)
	}
	return nil
}

func (d *Driver) findSubnet(ctx context.Context, c *ec2.Client) error {
	az := d.regionZone()
	out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{
		{Name: aws.String("availability-zone"), Values: []string{az}},
		{Name: aws.String("vpc-id"), Values: []string{d.VpcId}},
	}})
	if err != nil {
		return err
	}
	if len(out.Subnets) == 0 {
		return fmt.Errorf("unable to find a subnet that is both in the zone %s and belonging to VPC ID %s", az, d.VpcId)
	}
	d.SubnetId = aws.ToString(out.Subnets[0].SubnetId)
	for _, s := range out.Subnets {
		if aws.ToBool(s.DefaultForAz) {
			d.SubnetId = aws.ToString(s.SubnetId)
			break
		}
	}
	return nil
}

// armType tells instance types with Graviton processors (t4g, m7g, c6gn…).
var armType = regexp.MustCompile(`^[a-z]+\d+g[a-z]*\.`)

// resolveAMI looks the default image up: Canonical's newest current-LTS
// server image of the region for the instance type's architecture. The
// id is recorded in the machine's configuration. An explicit AMI is
// checked to exist.
func (d *Driver) resolveAMI(ctx context.Context, c *ec2.Client) error {
	if d.AMI != "" {
		_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{d.AMI}})
		if code(err) == "InvalidAMIID.NotFound" || code(err) == "InvalidAMIID.Malformed" {
			return fmt.Errorf("the AMI %s does not exist in region %s (--amazonec2-ami)", d.AMI, d.Region)
		}
		return err
	}
	arch, ec2Arch := "amd64", "x86_64"
	if armType.MatchString(d.InstanceType) {
		arch, ec2Arch = "arm64", "arm64"
	}
	name := fmt.Sprintf(amiPattern, arch)
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners: []string{canonicalOwner},
		Filters: []types.Filter{
			{Name: aws.String("name"), Values: []string{name}},
			{Name: aws.String("architecture"), Values: []string{ec2Arch}},
			{Name: aws.String("state"), Values: []string{"available"}},
		},
	})
	if err != nil {
		return fmt.Errorf("looking up the default AMI: %w", err)
	}
	if len(out.Images) == 0 {
		return fmt.Errorf("no Ubuntu 24.04 image (%s) of owner %s in region %s: give one with --amazonec2-ami", name, canonicalOwner, d.Region)
	}
	imgs := out.Images
	sort.Slice(imgs, func(i, j int) bool { return aws.ToString(imgs[i].CreationDate) > aws.ToString(imgs[j].CreationDate) })
	d.AMI = aws.ToString(imgs[0].ImageId)
	log.Infof("(%s) Using the AMI %s (%s)", d.MachineName, d.AMI, aws.ToString(imgs[0].Name))
	return nil
}

// Create makes the key pair, the security groups, the instance (or the
// spot request) and waits until the instance runs with an address. When
// it fails half-way it removes what it made.
func (d *Driver) Create(ctx context.Context) (err error) {
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.waitTimeout()+time.Minute)
		defer cancel()
		if rerr := d.Remove(cctx); rerr != nil {
			err = fmt.Errorf("%w (removing what was created also failed: %v)", err, rerr)
		}
	}()
	if err := d.saveCredentials(); err != nil {
		return err
	}
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	if d.SubnetId == "" {
		if err := d.findSubnet(ctx, c); err != nil {
			return err
		}
	}
	if d.AMI == "" {
		if err := d.resolveAMI(ctx, c); err != nil {
			return err
		}
	}
	log.Infof("(%s) Launching instance...", d.MachineName)
	if err := d.createKeyPair(ctx, c); err != nil {
		return fmt.Errorf("unable to create key pair: %w", err)
	}
	if err := d.configureSecurityGroups(ctx, c); err != nil {
		return err
	}
	var userdata string
	if d.UserDataFile != "" {
		b, err := os.ReadFile(d.UserDataFile)
		if err != nil {
			return fmt.Errorf("unable to read --amazonec2-userdata file: %w", err)
		}
		userdata = base64.StdEncoding.EncodeToString(b)
	}
	if d.RequestSpotInstance {
		err = d.launchSpot(ctx, c, userdata)
	} else {
		err = d.launch(ctx, c, userdata)
	}
	if err != nil {
		return err
	}
	if err := d.waitForInstance(ctx, c); err != nil {
		return err
	}
	log.Debugf("amazonec2: created instance ID %s, IP address %s, Private IP address %s", d.InstanceId, d.IPAddress, d.PrivateIPAddress)
	return nil
}

// keyPath is where the machine's private key is.
func (d *Driver) keyPath() string { return d.ResolveStorePath("id_rsa") }

func (d *Driver) createKeyPair(ctx context.Context, c *ec2.Client) error {
	d.SSHKeyPath = d.keyPath()
	if d.SSHPrivateKeyPath == "" {
		if err := ssh.GenerateKeyPair(d.keyPath()); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	} else {
		if err := fsutil.CopyFile(d.SSHPrivateKeyPath, d.keyPath(), 0o600); err != nil {
			return err
		}
		if _, err := os.Stat(d.SSHPrivateKeyPath + ".pub"); err == nil {
			if err := fsutil.CopyFile(d.SSHPrivateKeyPath+".pub", d.keyPath()+".pub", 0o600); err != nil {
				return err
			}
		}
		if d.KeyName != "" {
			log.Debugf("amazonec2: using the existing key pair %s", d.KeyName)
			return nil
		}
	}
	pub, err := ssh.PublicKey(d.keyPath())
	if err != nil {
		return err
	}
	_, err = c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String(d.MachineName), PublicKeyMaterial: []byte(pub + "\n")})
	// The name is the machine's, so a key pair of that name whose import
	// answer was lost is ours: Remove deletes it by name.
	d.KeyName = d.MachineName
	return err
}

// configureSecurityGroups finds or creates the groups (tagging those it
// creates, so the last machine using one deletes it) and opens the ports
// the machine needs in them.
func (d *Driver) configureSecurityGroups(ctx context.Context, c *ec2.Client) error {
	names := d.securityGroupNames()
	if len(names) == 0 {
		return nil
	}
	byName, err := d.groupsByName(ctx, c, names)
	if err != nil {
		return err
	}
	d.SecurityGroupIds, d.SecurityGroupId = nil, ""
	for _, name := range names {
		g, ok := byName[name]
		if !ok {
			log.Debugf("amazonec2: creating security group %s in %s", name, d.VpcId)
			out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
				GroupName:   aws.String(name),
				Description: aws.String(groupDescription),
				VpcId:       aws.String(d.VpcId),
				TagSpecifications: []types.TagSpecification{{
					ResourceType: types.ResourceTypeSecurityGroup,
					Tags:         []types.Tag{{Key: aws.String(managedTag), Value: aws.String("true")}},
				}},
			})
			switch {
			case code(err) == "InvalidGroup.Duplicate":
				// A concurrent create made it first.
				again, err := d.groupsByName(ctx, c, []string{name})
				if err != nil {
					return err
				}
				if g, ok = again[name]; !ok {
					return fmt.Errorf("security group %s exists and cannot be found", name)
				}
			case err != nil:
				return fmt.Errorf("creating security group %s: %w", name, err)
			case out.GroupId == nil:
				return fmt.Errorf("creating security group %s: the answer has no group id", name)
			default:
				g = types.SecurityGroup{GroupId: out.GroupId, GroupName: aws.String(name), VpcId: aws.String(d.VpcId)}
			}
		}
		d.SecurityGroupIds = append(d.SecurityGroupIds, aws.ToString(g.GroupId))
		perms, err := d.missingPermissions(g)
		if err != nil {
			return err
		}
		if len(perms) == 0 {
			continue
		}
		_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perms})
		if err != nil && code(err) != "InvalidPermission.Duplicate" {
			return fmt.Errorf("opening ports in security group %s: %w", name, err)
		}
	}
	return nil
}

func (d *Driver) groupsByName(ctx context.Context, c *ec2.Client, names []string) (map[string]types.SecurityGroup, error) {
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("group-name"), Values: names},
		{Name: aws.String("vpc-id"), Values: []string{d.VpcId}},
	}})
	if err != nil {
		return nil, err
	}
	m := map[string]types.SecurityGroup{}
	for _, g := range out.SecurityGroups {
		m[aws.ToString(g.GroupName)] = g
	}
	return m, nil
}

// missingPermissions are the ingress rules the machine needs that the
// group lacks: SSH, Docker, swarm (for a master), --amazonec2-open-port.
func (d *Driver) missingPermissions(g types.SecurityGroup) ([]types.IpPermission, error) {
	if d.SecurityGroupReadOnly {
		return nil, nil
	}
	has := map[string]bool{}
	for _, p := range g.IpPermissions {
		if p.FromPort != nil {
			has[fmt.Sprintf("%d/%s", *p.FromPort, aws.ToString(p.IpProtocol))] = true
		}
	}
	var out []types.IpPermission
	add := func(port int, proto string) {
		k := fmt.Sprintf("%d/%s", port, proto)
		if has[k] {
			return
		}
		has[k] = true
		out = append(out, types.IpPermission{
			IpProtocol: aws.String(proto), FromPort: aws.Int32(int32(port)), ToPort: aws.Int32(int32(port)),
			IpRanges: []types.IpRange{{CidrIp: aws.String(ipRange)}},
		})
	}
	add(d.SSHPort, "tcp")
	add(dockerPort, "tcp")
	if d.SwarmMaster {
		port := d.swarmPrt
		if port == 0 {
			port = swarmPort
		}
		add(port, "tcp")
	}
	for _, p := range d.OpenPorts {
		port, proto, err := splitPortProto(p)
		if err != nil {
			return nil, err
		}
		add(port, proto)
	}
	return out, nil
}

// tagList is Name=<machine> and the --amazonec2-tags pairs.
func (d *Driver) tagList() []types.Tag {
	tags := []types.Tag{{Key: aws.String("Name"), Value: aws.String(d.MachineName)}}
	if d.Tags != "" {
		t := strings.Split(d.Tags, ",")
		for i := 0; i+1 < len(t); i += 2 {
			tags = append(tags, types.Tag{Key: aws.String(t[i]), Value: aws.String(t[i+1])})
		}
	}
	return tags
}

func (d *Driver) netSpecs() []types.InstanceNetworkInterfaceSpecification {
	return []types.InstanceNetworkInterfaceSpecification{{
		DeviceIndex:              aws.Int32(0),
		Groups:                   d.securityGroupIds(),
		SubnetId:                 aws.String(d.SubnetId),
		AssociatePublicIpAddress: aws.Bool(!d.PrivateIPOnly),
	}}
}

func (d *Driver) blockDevices() []types.BlockDeviceMapping {
	return []types.BlockDeviceMapping{{
		DeviceName: aws.String(d.DeviceName),
		Ebs: &types.EbsBlockDevice{
			VolumeSize:          aws.Int32(int32(d.RootSize)),
			VolumeType:          types.VolumeType(d.VolumeType),
			DeleteOnTermination: aws.Bool(true),
		},
	}}
}

func (d *Driver) launch(ctx context.Context, c *ec2.Client, userdata string) error {
	log.Debugf("amazonec2: launching instance in subnet %s", d.SubnetId)
	in := &ec2.RunInstancesInput{
		ImageId:             aws.String(d.AMI),
		MinCount:            aws.Int32(1),
		MaxCount:            aws.Int32(1),
		ClientToken:         aws.String(d.ClientToken),
		Placement:           &types.Placement{AvailabilityZone: aws.String(d.regionZone())},
		KeyName:             aws.String(d.KeyName),
		InstanceType:        types.InstanceType(d.InstanceType),
		NetworkInterfaces:   d.netSpecs(),
		Monitoring:          &types.RunInstancesMonitoringEnabled{Enabled: aws.Bool(d.Monitoring)},
		EbsOptimized:        aws.Bool(d.UseEbsOptimizedInstance),
		BlockDeviceMappings: d.blockDevices(),
		TagSpecifications:   []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: d.tagList()}},
	}
	if d.IamInstanceProfile != "" {
		in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(d.IamInstanceProfile)}
	}
	if userdata != "" {
		in.UserData = aws.String(userdata)
	}
	out, err := c.RunInstances(ctx, in)
	if err != nil {
		return fmt.Errorf("Error launching instance: %w", err)
	}
	if len(out.Instances) == 0 || out.Instances[0].InstanceId == nil {
		return errors.New("Error launching instance: the answer names no instance")
	}
	d.InstanceId = aws.ToString(out.Instances[0].InstanceId)
	d.ReservationId = aws.ToString(out.ReservationId)
	return nil
}

func (d *Driver) launchSpot(ctx context.Context, c *ec2.Client, userdata string) error {
	spec := &types.RequestSpotLaunchSpecification{
		ImageId:             aws.String(d.AMI),
		Placement:           &types.SpotPlacement{AvailabilityZone: aws.String(d.regionZone())},
		KeyName:             aws.String(d.KeyName),
		InstanceType:        types.InstanceType(d.InstanceType),
		NetworkInterfaces:   d.netSpecs(),
		Monitoring:          &types.RunInstancesMonitoringEnabled{Enabled: aws.Bool(d.Monitoring)},
		EbsOptimized:        aws.Bool(d.UseEbsOptimizedInstance),
		BlockDeviceMappings: d.blockDevices(),
	}
	if d.IamInstanceProfile != "" {
		spec.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(d.IamInstanceProfile)}
	}
	if userdata != "" {
		spec.UserData = aws.String(userdata)
	}
	req := &ec2.RequestSpotInstancesInput{
		InstanceCount:       aws.Int32(1),
		SpotPrice:           aws.String(d.SpotPrice),
		ClientToken:         aws.String(d.ClientToken),
		LaunchSpecification: spec,
	}
	if d.BlockDurationMinutes != 0 {
		req.BlockDurationMinutes = aws.Int32(int32(d.BlockDurationMinutes))
	}
	out, err := c.RequestSpotInstances(ctx, req)
	if err != nil {
		return fmt.Errorf("Error request spot instance: %w", err)
	}
	if len(out.SpotInstanceRequests) == 0 || out.SpotInstanceRequests[0].SpotInstanceRequestId == nil {
		return errors.New("Error request spot instance: the answer names no request")
	}
	d.SpotInstanceRequestId = aws.ToString(out.SpotInstanceRequests[0].SpotInstanceRequestId)
	log.Infof("(%s) Waiting for spot instance...", d.MachineName)
	err = d.poll(ctx, "spot request "+d.SpotInstanceRequestId, func(ctx context.Context) (bool, error) {
		out, err := c.DescribeSpotInstanceRequests(ctx, &ec2.DescribeSpotInstanceRequestsInput{SpotInstanceRequestIds: []string{d.SpotInstanceRequestId}})
		if code(err) == "InvalidSpotInstanceRequestID.NotFound" {
			return false, nil // not visible yet
		}
		if err != nil {
			return false, err
		}
		if len(out.SpotInstanceRequests) == 0 {
			return false, nil
		}
		r := out.SpotInstanceRequests[0]
		switch r.State {
		case types.SpotInstanceStateActive:
			if r.InstanceId != nil {
				d.InstanceId = aws.ToString(r.InstanceId)
				return true, nil
			}
		case types.SpotInstanceStateCancelled, types.SpotInstanceStateFailed, types.SpotInstanceStateClosed:
			msg := ""
			if r.Status != nil {
				msg = aws.ToString(r.Status.Code)
			}
			return false, fmt.Errorf("Error fulfilling spot request: %s is %s (%s)", d.SpotInstanceRequestId, r.State, msg)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	log.Infof("(%s) Created spot instance request %s", d.MachineName, d.SpotInstanceRequestId)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{d.InstanceId}, Tags: d.tagList()})
	if err != nil {
		return fmt.Errorf("Unable to tag instance %s: %w", d.InstanceId, err)
	}
	return nil
}

// waitForInstance polls until the instance runs and has the address
// the flags ask for; it records the addresses.
func (d *Driver) waitForInstance(ctx context.Context, c *ec2.Client) error {
	return d.poll(ctx, "instance "+d.InstanceId+" running with an address", func(ctx context.Context) (bool, error) {
		inst, err := d.describe(ctx, c)
		if code(err) == "InvalidInstanceID.NotFound" {
			return false, nil // eventual consistency
		}
		if err != nil {
			return false, err
		}
		switch inst.State.Name {
		case types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated, types.InstanceStateNameStopping, types.InstanceStateNameStopped:
			reason := ""
			if inst.StateReason != nil {
				reason = ": " + aws.ToString(inst.StateReason.Message)
			}
			return false, fmt.Errorf("instance %s is %s instead of starting%s", d.InstanceId, inst.State.Name, reason)
		case types.InstanceStateNameRunning:
		default:
			return false, nil
		}
		ip, err := d.ipOf(inst)
		if err != nil {
			return false, nil
		}
		d.IPAddress = ip
		d.PrivateIPAddress = aws.ToString(inst.PrivateIpAddress)
		return true, nil
	})
}
