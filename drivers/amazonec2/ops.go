package amazonec2

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// NotFoundError is an instance EC2 does not know (any more).
type NotFoundError struct{ ID string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("instance %s not found: it was deleted outside docker-machine (docker-machine rm removes the machine)", e.ID)
}

// TerminatedError is an instance that was terminated.
type TerminatedError struct{ ID string }

func (e *TerminatedError) Error() string {
	return fmt.Sprintf("instance %s is terminated (docker-machine rm removes the machine)", e.ID)
}

// describe returns the machine's instance.
func (d *Driver) describe(ctx context.Context, c *ec2.Client) (types.Instance, error) {
	if d.InstanceId == "" {
		return types.Instance{}, fmt.Errorf("machine %q has no instance: its create did not finish", d.MachineName)
	}
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{d.InstanceId}})
	if code(err) == "InvalidInstanceID.NotFound" {
		return types.Instance{}, &notFound{NotFoundError{ID: d.InstanceId}, err}
	}
	if err != nil {
		return types.Instance{}, err
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == d.InstanceId && in.State != nil {
				return in, nil
			}
		}
	}
	return types.Instance{}, &NotFoundError{ID: d.InstanceId}
}

// notFound is a NotFoundError that keeps the API's error for code().
type notFound struct {
	NotFoundError
	api error
}

func (e *notFound) Unwrap() []error { return []error{&e.NotFoundError, e.api} }

// ipOf picks the address the flags ask for.
func (d *Driver) ipOf(in types.Instance) (string, error) {
	if d.PrivateIPOnly || d.UsePrivateIP {
		if in.PrivateIpAddress == nil {
			return "", fmt.Errorf("No private IP for instance %v", d.InstanceId)
		}
		return *in.PrivateIpAddress, nil
	}
	if in.PublicIpAddress == nil {
		return "", fmt.Errorf("No IP for instance %v", d.InstanceId)
	}
	return *in.PublicIpAddress, nil
}

func instanceState(in types.Instance, id string) (state.State, error) {
	switch in.State.Name {
	case types.InstanceStateNamePending:
		return state.Starting, nil
	case types.InstanceStateNameRunning:
		return state.Running, nil
	case types.InstanceStateNameStopping, types.InstanceStateNameShuttingDown:
		return state.Stopping, nil
	case types.InstanceStateNameStopped:
		return state.Stopped, nil
	case types.InstanceStateNameTerminated:
		return state.Error, &TerminatedError{ID: id}
	}
	log.Warnf("unrecognized instance state: %v", in.State.Name)
	return state.Error, nil
}

// fresh returns the batch answer of the last seconds, or nil.
func (d *Driver) fresh() *snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.snap != nil && time.Since(d.snap.at) < snapshotTTL {
		return d.snap
	}
	return nil
}

func (d *Driver) forget() {
	d.mu.Lock()
	d.snap = nil
	d.mu.Unlock()
}

// GetState asks EC2 for the instance (or uses a batch answer).
func (d *Driver) GetState(ctx context.Context) (state.State, error) {
	if s := d.fresh(); s != nil {
		return s.st, s.err
	}
	c, err := d.client(ctx)
	if err != nil {
		return state.Error, err
	}
	in, err := d.describe(ctx, c)
	if err != nil {
		return state.Error, err
	}
	return instanceState(in, d.InstanceId)
}

// GetIP asks EC2 for the instance's address: the public one, or the
// private one with --amazonec2-private-address-only or
// --amazonec2-use-private-address.
func (d *Driver) GetIP(ctx context.Context) (string, error) {
	if s := d.fresh(); s != nil {
		if s.err != nil {
			return "", s.err
		}
		ip := s.publicIP
		if d.PrivateIPOnly || d.UsePrivateIP {
			ip = s.privateIP
		}
		if ip == "" {
			return "", fmt.Errorf("No IP for instance %v", d.InstanceId)
		}
		return ip, nil
	}
	c, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	in, err := d.describe(ctx, c)
	if err != nil {
		return "", err
	}
	return d.ipOf(in)
}

// GetSSHHostname is the instance's address.
func (d *Driver) GetSSHHostname(ctx context.Context) (string, error) { return d.GetIP(ctx) }

// GetSSHKeyPath is the machine's key (generated, or the copy of
// --amazonec2-ssh-keypath).
func (d *Driver) GetSSHKeyPath() string {
	if d.SSHKeyPath == "" {
		d.SSHKeyPath = d.keyPath()
	}
	return d.SSHKeyPath
}

// GetURL is tcp://IP:2376 of a running instance, from one describe.
func (d *Driver) GetURL(ctx context.Context) (string, error) {
	if s := d.fresh(); s != nil {
		if s.err != nil {
			return "", s.err
		}
		if s.st != state.Running {
			return "", drivers.ErrHostIsNotRunning
		}
		ip, err := d.GetIP(ctx)
		if err != nil {
			return "", err
		}
		return drivers.TCPURL(ip, dockerPort), nil
	}
	c, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	in, err := d.describe(ctx, c)
	if err != nil {
		return "", err
	}
	st, err := instanceState(in, d.InstanceId)
	if err != nil {
		return "", err
	}
	if st != state.Running {
		return "", drivers.ErrHostIsNotRunning
	}
	ip, err := d.ipOf(in)
	if err != nil {
		return "", err
	}
	return drivers.TCPURL(ip, dockerPort), nil
}

func (d *Driver) op(ctx context.Context, what string, f func(context.Context, *ec2.Client) error) error {
	d.forget()
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	if err := f(ctx, c); err != nil {
		if code(err) == "InvalidInstanceID.NotFound" {
			return &NotFoundError{ID: d.InstanceId}
		}
		return fmt.Errorf("%s instance %s: %w", what, d.InstanceId, err)
	}
	return nil
}

// Start starts the instance.
func (d *Driver) Start(ctx context.Context) error {
	return d.op(ctx, "starting", func(ctx context.Context, c *ec2.Client) error {
		_, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{d.InstanceId}})
		return err
	})
}

// Stop stops the instance.
func (d *Driver) Stop(ctx context.Context) error {
	return d.op(ctx, "stopping", func(ctx context.Context, c *ec2.Client) error {
		_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{d.InstanceId}, Force: aws.Bool(false)})
		return err
	})
}

// Restart reboots the instance.
func (d *Driver) Restart(ctx context.Context) error {
	return d.op(ctx, "rebooting", func(ctx context.Context, c *ec2.Client) error {
		_, err := c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{d.InstanceId}})
		return err
	})
}

// Kill stops the instance at once.
func (d *Driver) Kill(ctx context.Context) error {
	return d.op(ctx, "killing", func(ctx context.Context, c *ec2.Client) error {
		_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{d.InstanceId}, Force: aws.Bool(true)})
		return err
	})
}

// Remove deletes what Create made, as far as the configuration says:
// the spot request (cancelled first, so it launches nothing more), the
// instance (also one whose launch answer was lost, found by the client
// token), the key pair unless it was the user's, and each security group
// the driver created that no instance uses any more (after the instance
// is terminated). What is already gone is skipped. Then the driver's
// files in the machine directory.
func (d *Driver) Remove(ctx context.Context) error {
	d.forget()
	if d.InstanceId != "" || d.SpotInstanceRequestId != "" || d.KeyName != "" || len(d.securityGroupIds()) > 0 {
		if err := d.removeRemote(ctx); err != nil {
			return err
		}
	}
	var errs []error
	files := []string{credentialsFile, "id_rsa", "id_rsa.pub"}
	for _, f := range files {
		if err := os.Remove(d.ResolveStorePath(f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *Driver) removeRemote(ctx context.Context) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	if d.SpotInstanceRequestId != "" {
		out, err := c.CancelSpotInstanceRequests(ctx, &ec2.CancelSpotInstanceRequestsInput{SpotInstanceRequestIds: []string{d.SpotInstanceRequestId}})
		switch {
		case code(err) == "InvalidSpotInstanceRequestID.NotFound":
		case err != nil:
			return fmt.Errorf("cancelling spot request %s: %w", d.SpotInstanceRequestId, err)
		default:
			_ = out
		}
		if d.InstanceId == "" {
			// Fulfilled before the cancel: find its instance.
			dsr, err := c.DescribeSpotInstanceRequests(ctx, &ec2.DescribeSpotInstanceRequestsInput{SpotInstanceRequestIds: []string{d.SpotInstanceRequestId}})
			if err == nil && len(dsr.SpotInstanceRequests) > 0 && dsr.SpotInstanceRequests[0].InstanceId != nil {
				d.InstanceId = aws.ToString(dsr.SpotInstanceRequests[0].InstanceId)
			}
		}
		d.SpotInstanceRequestId = ""
	}
	if d.InstanceId == "" && d.ClientToken != "" && !d.RequestSpotInstance {
		// A launch whose answer was lost made an instance we do not know.
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("client-token"), Values: []string{d.ClientToken}}}})
		if err != nil {
			return fmt.Errorf("looking for the instance of a failed launch: %w", err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if in.State != nil && in.State.Name != types.InstanceStateNameTerminated {
					d.InstanceId = aws.ToString(in.InstanceId)
				}
			}
		}
	}
	terminated := d.InstanceId == ""
	if d.InstanceId != "" {
		log.Debugf("amazonec2: terminating instance %s", d.InstanceId)
		_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{d.InstanceId}})
		switch {
		case code(err) == "InvalidInstanceID.NotFound":
			log.Infof("(%s) Remote instance does not exist, proceeding with removing local reference", d.MachineName)
			terminated = true
		case err != nil:
			return fmt.Errorf("unable to terminate instance: %w", err)
		}
	}
	if !d.ExistingKey && d.KeyName != "" {
		log.Debugf("amazonec2: deleting key pair %s", d.KeyName)
		if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(d.KeyName)}); err != nil && code(err) != "InvalidKeyPair.NotFound" {
			return fmt.Errorf("deleting key pair %s: %w", d.KeyName, err)
		}
		d.KeyName = ""
	}
	managed, err := d.managedGroups(ctx, c)
	if err != nil {
		return err
	}
	if len(managed) > 0 && !terminated {
		// A group cannot be deleted while the instance is attached.
		err := d.poll(ctx, "termination of instance "+d.InstanceId, func(ctx context.Context) (bool, error) {
			in, err := d.describe(ctx, c)
			var nf *NotFoundError
			if errors.As(err, &nf) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			return in.State.Name == types.InstanceStateNameTerminated, nil
		})
		if err != nil {
			return err
		}
	}
	d.InstanceId = ""
	for _, id := range managed {
		_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
		switch code(err) {
		case "":
			if err != nil {
				return fmt.Errorf("deleting security group %s: %w", id, err)
			}
			log.Debugf("amazonec2: deleted security group %s", id)
		case "DependencyViolation":
			log.Debugf("amazonec2: security group %s is still used by other instances; kept", id)
		case "InvalidGroup.NotFound":
		default:
			return fmt.Errorf("deleting security group %s: %w", id, err)
		}
	}
	d.SecurityGroupIds, d.SecurityGroupId = nil, ""
	return nil
}

// managedGroups are the machine's security groups that docker-machine
// created (tagged so), which the last machine using them deletes.
func (d *Driver) managedGroups(ctx context.Context, c *ec2.Client) ([]string, error) {
	ids := d.securityGroupIds()
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("group-id"), Values: ids},
		{Name: aws.String("tag:" + managedTag), Values: []string{"true"}},
	}})
	if err != nil {
		return nil, fmt.Errorf("reading the machine's security groups: %w", err)
	}
	var m []string
	for _, g := range out.SecurityGroups {
		m = append(m, aws.ToString(g.GroupId))
	}
	return m, nil
}
