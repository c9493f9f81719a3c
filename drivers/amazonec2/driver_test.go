package amazonec2

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/ec2fake"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

func newDriver(t *testing.T, store, machine string, o drivers.Options) *Driver {
	t.Helper()
	d, err := configure(t, store, machine, o)
	require.NoError(t, err)
	return d
}

func configure(t *testing.T, store, machine string, o drivers.Options) (*Driver, error) {
	t.Helper()
	d := New(machine, store)
	require.NoError(t, os.MkdirAll(filepath.Join(store, "machines", machine), 0o700))
	opts := drivertest.Defaults(d.GetCreateFlags())
	for k, v := range o {
		opts[k] = v
	}
	return d, d.SetConfigFromFlags(opts)
}

func created(t *testing.T, d *Driver) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, d.PreCreateCheck(ctx))
	require.NoError(t, d.Create(ctx))
}

func waitState(t *testing.T, d drivers.Driver, want state.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		s, err := d.GetState(ctx)
		if err == nil && s == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("state %s not reached: %s %v", want, s, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sub returns the parameters with the prefix.
func sub(p map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// TestCallSequences: every operation's requests and parameters.
func TestCallSequences(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	store := t.TempDir()
	ud := filepath.Join(t.TempDir(), "ud")
	require.NoError(t, os.WriteFile(ud, []byte("#!/bin/sh\necho hi\n"), 0o600))
	o := options(url)
	o["amazonec2-tags"] = "env,test,team,infra"
	o["amazonec2-open-port"] = []string{"8080", "53/udp"}
	o["amazonec2-userdata"] = ud
	d := newDriver(t, store, "aws1", o)
	assert.Equal(t, []string{"DescribeAccountAttributes"}, fakecloud.Actions(srv.Journal.Entries()))
	assert.Equal(t, ec2fake.DefaultVPC, d.VpcId)
	created(t, d)

	j := srv.Journal.Entries()
	acts := fakecloud.Actions(j)
	want := []string{"DescribeAccountAttributes", "DescribeKeyPairs", "DescribeSubnets", "DescribeImages",
		"ImportKeyPair", "DescribeSecurityGroups", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances"}
	require.GreaterOrEqual(t, len(acts), len(want)+1, "%v", acts)
	assert.Equal(t, want, acts[:len(want)])
	for _, a := range acts[len(want):] {
		assert.Equal(t, "DescribeInstances", a)
	}
	for _, e := range j {
		assert.Equal(t, "us-east-1", e.Region, "%s is signed for the region", e.Action)
	}
	assert.Equal(t, map[string]string{"KeyName.1": "aws1"}, j[1].Params)
	assert.Equal(t, map[string]string{
		"Filter.1.Name": "availability-zone", "Filter.1.Value.1": "us-east-1a",
		"Filter.2.Name": "vpc-id", "Filter.2.Value.1": ec2fake.DefaultVPC,
	}, j[2].Params, "the zone is region+zone, also with a custom endpoint")
	assert.Equal(t, "099720109477", j[3].Params["Owner.1"])
	assert.Equal(t, ec2fake.NobleAMI, d.AMI, "the newest Ubuntu 24.04 amd64 image, recorded")
	pub, err := os.ReadFile(filepath.Join(store, "machines", "aws1", "id_rsa.pub"))
	require.NoError(t, err)
	assert.Equal(t, base64.StdEncoding.EncodeToString(pub), j[4].Params["PublicKeyMaterial"])
	assert.Equal(t, "Docker Machine", j[6].Params["GroupDescription"])
	assert.Equal(t, "docker-machine", j[6].Params["GroupName"])
	assert.Equal(t, managedTag, j[6].Params["TagSpecification.1.Tag.1.Key"])
	auth := j[7].Params
	var ports []string
	for i := 1; auth["IpPermissions."+itoa(i)+".FromPort"] != ""; i++ {
		pre := "IpPermissions." + itoa(i) + "."
		ports = append(ports, auth[pre+"FromPort"]+"/"+auth[pre+"IpProtocol"]+" "+auth[pre+"IpRanges.1.CidrIp"])
	}
	assert.Equal(t, []string{"22/tcp 0.0.0.0/0", "2376/tcp 0.0.0.0/0", "8080/tcp 0.0.0.0/0", "53/udp 0.0.0.0/0"}, ports)
	run := j[8].Params
	sg := d.SecurityGroupIds[0]
	assert.Equal(t, map[string]string{
		"ImageId": ec2fake.NobleAMI, "MinCount": "1", "MaxCount": "1", "ClientToken": d.ClientToken,
		"Placement.AvailabilityZone": "us-east-1a", "KeyName": "aws1", "InstanceType": "t2.micro",
		"NetworkInterface.1.DeviceIndex": "0", "NetworkInterface.1.SecurityGroupId.1": sg,
		"NetworkInterface.1.SubnetId": d.SubnetId, "NetworkInterface.1.AssociatePublicIpAddress": "true",
		"Monitoring.Enabled": "false", "EbsOptimized": "false",
		"BlockDeviceMapping.1.DeviceName": "/dev/sda1", "BlockDeviceMapping.1.Ebs.VolumeSize": "16",
		"BlockDeviceMapping.1.Ebs.VolumeType": "gp2", "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
		"TagSpecification.1.ResourceType": "instance",
		"TagSpecification.1.Tag.1.Key":    "Name", "TagSpecification.1.Tag.1.Value": "aws1",
		"TagSpecification.1.Tag.2.Key": "env", "TagSpecification.1.Tag.2.Value": "test",
		"TagSpecification.1.Tag.3.Key": "team", "TagSpecification.1.Tag.3.Value": "infra",
		"UserData": base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n")),
	}, run)
	assert.Regexp(t, `^127\.100\.`, d.IPAddress)
	assert.Regexp(t, `^127\.101\.`, d.PrivateIPAddress)

	// The credentials are in the machine directory, not in the configuration.
	raw, err := json.Marshal(d)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), ec2fake.SecretKey)
	assert.NotContains(t, string(raw), ec2fake.AccessKey)
	fi, err := os.Stat(filepath.Join(store, "machines", "aws1", credentialsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	d2 := New("aws1", store)
	require.NoError(t, json.Unmarshal(raw, d2))
	ctx := context.Background()
	op := func(name string, f func(context.Context) error, want state.State, action string, params map[string]string) {
		t.Helper()
		n := srv.Journal.Len()
		require.NoError(t, f(ctx), name)
		e := srv.Journal.Since(n)
		require.Len(t, e, 1, "%s: %v", name, fakecloud.Actions(e))
		assert.Equal(t, action, e[0].Action)
		assert.Equal(t, params, e[0].Params)
		waitState(t, d2, want)
	}
	id := map[string]string{"InstanceId.1": d.InstanceId}
	with := func(k, v string) map[string]string { return map[string]string{"InstanceId.1": d.InstanceId, k: v} }
	op("stop", d2.Stop, state.Stopped, "StopInstances", with("Force", "false"))
	op("start", d2.Start, state.Running, "StartInstances", id)
	op("restart", d2.Restart, state.Running, "RebootInstances", id)
	op("kill", d2.Kill, state.Stopped, "StopInstances", with("Force", "true"))
	require.NoError(t, d2.Start(ctx))
	waitState(t, d2, state.Running)

	n := srv.Journal.Len()
	u, err := d2.GetURL(ctx)
	require.NoError(t, err)
	assert.Equal(t, "tcp://"+d.IPAddress+":2376", u)
	assert.Equal(t, []string{"DescribeInstances"}, fakecloud.Actions(srv.Journal.Since(n)), "GetURL asks once")

	n = srv.Journal.Len()
	require.NoError(t, d2.Remove(ctx))
	acts = fakecloud.Actions(srv.Journal.Since(n))
	require.GreaterOrEqual(t, len(acts), 4, "%v", acts)
	assert.Equal(t, []string{"TerminateInstances", "DeleteKeyPair", "DescribeSecurityGroups"}, acts[:3])
	assert.Equal(t, "DeleteSecurityGroup", acts[len(acts)-1])
	assert.Empty(t, noLeaks(t, srv))
	entries, _ := os.ReadDir(filepath.Join(store, "machines", "aws1"))
	assert.Empty(t, entries)
}

func itoa(i int) string { return strconv.Itoa(i) }

type (
	ec2Client      = ec2.Client
	terminateInput = ec2.TerminateInstancesInput
)

// TestSharedGroup: two machines share the default group; rm of the first
// keeps it (the second's instance uses it), rm of the second deletes it.
// A group of the user's is never deleted.
func TestSharedGroup(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	store := t.TempDir()
	a := newDriver(t, store, "a", options(url))
	created(t, a)
	b := newDriver(t, store, "b", options(url))
	created(t, b)
	assert.Equal(t, a.SecurityGroupIds, b.SecurityGroupIds)
	assert.Equal(t, 1, fakecloud.Count(srv.Journal.Entries(), "CreateSecurityGroup"))
	assert.Equal(t, 1, fakecloud.Count(srv.Journal.Entries(), "AuthorizeSecurityGroupIngress"), "the second machine finds the ports open")
	require.NoError(t, a.Remove(context.Background()))
	assert.Contains(t, noLeaks(t, srv), "security group "+b.SecurityGroupIds[0]+" (docker-machine)")
	require.NoError(t, b.Remove(context.Background()))
	assert.Empty(t, noLeaks(t, srv))

	o := options(url)
	o["amazonec2-security-group"] = []string{"default"}
	o["amazonec2-security-group-readonly"] = true
	c := newDriver(t, store, "c", o)
	n := srv.Journal.Len()
	created(t, c)
	assert.Zero(t, fakecloud.Count(srv.Journal.Since(n), "AuthorizeSecurityGroupIngress"))
	require.NoError(t, c.Remove(context.Background()))
	assert.Zero(t, fakecloud.Count(srv.Journal.Since(n), "DeleteSecurityGroup"))
	assert.Empty(t, noLeaks(t, srv))
}

// TestPrivateAddress: --amazonec2-private-address-only launches without
// a public address; both private flags use the private one.
func TestPrivateAddress(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	for _, flag := range []string{"amazonec2-private-address-only", "amazonec2-use-private-address"} {
		o := options(url)
		o[flag] = true
		d := newDriver(t, t.TempDir(), "p", o)
		n := srv.Journal.Len()
		created(t, d)
		run := fakecloud.Find(srv.Journal.Since(n), "RunInstances")[0]
		assert.Equal(t, flag == "amazonec2-use-private-address", run.Params["NetworkInterface.1.AssociatePublicIpAddress"] == "true", flag)
		assert.Regexp(t, `^127\.101\.`, d.IPAddress, flag)
		ip, err := d.GetIP(context.Background())
		require.NoError(t, err)
		assert.Equal(t, d.IPAddress, ip)
		require.NoError(t, d.Remove(context.Background()))
	}
	assert.Empty(t, noLeaks(t, srv))
}

// TestSpot: the request is recorded, tagged, and cancelled by rm; a
// request never fulfilled ends the create at the wait timeout, cancelled.
func TestSpot(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	o := options(url)
	o["amazonec2-request-spot-instance"] = true
	o["amazonec2-spot-price"] = "0.03"
	o["amazonec2-block-duration-minutes"] = 60
	d := newDriver(t, t.TempDir(), "spot", o)
	created(t, d)
	assert.NotEmpty(t, d.SpotInstanceRequestId)
	raw, _ := json.Marshal(d)
	assert.Contains(t, string(raw), `"SpotInstanceRequestId":"`+d.SpotInstanceRequestId+`"`)
	j := srv.Journal.Entries()
	req := fakecloud.Find(j, "RequestSpotInstances")[0].Params
	assert.Equal(t, "0.03", req["SpotPrice"])
	assert.Equal(t, "60", req["BlockDurationMinutes"])
	assert.Equal(t, "1", req["InstanceCount"])
	assert.Equal(t, d.AMI, req["LaunchSpecification.ImageId"])
	assert.Equal(t, "us-east-1a", req["LaunchSpecification.Placement.AvailabilityZone"])
	tags := fakecloud.Find(j, "CreateTags")[0].Params
	assert.Equal(t, map[string]string{"ResourceId.1": d.InstanceId, "Tag.1.Key": "Name", "Tag.1.Value": "spot"}, tags)
	err := d.Stop(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "UnsupportedOperation")
	n := srv.Journal.Len()
	require.NoError(t, d.Remove(context.Background()))
	assert.Equal(t, "CancelSpotInstanceRequests", fakecloud.Actions(srv.Journal.Since(n))[0])
	assert.Empty(t, noLeaks(t, srv))

	srv.SpotHold = true
	o["amazonec2-wait-timeout"] = 1
	d = newDriver(t, t.TempDir(), "held", o)
	require.NoError(t, d.PreCreateCheck(context.Background()))
	err = d.Create(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--amazonec2-wait-timeout")
	assert.Empty(t, noLeaks(t, srv), "the open request was cancelled, the key pair and the group deleted")
}

// TestValidation: bad flags fail before anything exists, naming the flag.
func TestValidation(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	for _, c := range []struct {
		o    drivers.Options
		want string
	}{
		{drivers.Options{"amazonec2-endpoint": "", "amazonec2-insecure-transport": true}, "requires --amazonec2-endpoint"},
		{drivers.Options{"amazonec2-keypair-name": "k"}, "requires --amazonec2-ssh-keypath"},
		{drivers.Options{"amazonec2-region": "us_east_1"}, "--amazonec2-region"},
		{drivers.Options{"amazonec2-tags": "a,b,c"}, "--amazonec2-tags"},
		{drivers.Options{"amazonec2-open-port": []string{"http"}}, "--amazonec2-open-port"},
		{drivers.Options{"amazonec2-root-size": 0}, "--amazonec2-root-size"},
		{drivers.Options{"amazonec2-retries": -2}, "--amazonec2-retries"},
		{drivers.Options{"amazonec2-block-duration-minutes": 45}, "--amazonec2-block-duration-minutes"},
		{drivers.Options{"amazonec2-ssh-port": 0}, "--amazonec2-ssh-port"},
		{drivers.Options{"amazonec2-wait-timeout": 0}, "--amazonec2-wait-timeout"},
		{drivers.Options{"amazonec2-access-key": "", "amazonec2-secret-key": ""}, "requires AWS credentials"},
		{drivers.Options{"amazonec2-subnet-id": "subnet-nope"}, "could not be located"},
	} {
		o := options(url)
		for k, v := range c.o {
			o[k] = v
		}
		_, err := configure(t, t.TempDir(), "v", o)
		if assert.Error(t, err, "%v", c.o) {
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), ec2fake.SecretKey)
		}
	}
	for _, c := range []struct {
		o    drivers.Options
		want string
	}{
		{drivers.Options{"amazonec2-ami": "ami-0000000000000dead"}, "does not exist in region"},
		{drivers.Options{"amazonec2-keypair-name": "nokey", "amazonec2-ssh-keypath": os.Args[0]}, "no keypair with the name nokey"},
		{drivers.Options{"amazonec2-zone": "q"}, "unable to find a subnet"},
		{drivers.Options{"amazonec2-userdata": "/nonexistent"}, "--amazonec2-userdata"},
	} {
		o := options(url)
		for k, v := range c.o {
			o[k] = v
		}
		d := newDriver(t, t.TempDir(), "v", o)
		err := d.PreCreateCheck(context.Background())
		if assert.Error(t, err, "%v", c.o) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
	assert.Empty(t, noLeaks(t, srv))
}

// TestDefaultAMIArm: an arm instance type gets the arm64 image.
func TestDefaultAMIArm(t *testing.T) {
	env(t)
	fast(t)
	_, url := fake(t)
	o := options(url)
	o["amazonec2-instance-type"] = "t4g.small"
	d := newDriver(t, t.TempDir(), "arm", o)
	require.NoError(t, d.PreCreateCheck(context.Background()))
	assert.Equal(t, ec2fake.NobleArmAMI, d.AMI)
}

// TestCredentialChain: without flags the standard chain is used (here a
// profile of the shared credentials file), nothing is written to the
// machine directory, and a stored machine works with the same chain.
func TestCredentialChain(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(creds, []byte("[ci]\naws_access_key_id = "+ec2fake.AccessKey+"\naws_secret_access_key = "+ec2fake.SecretKey+"\n"), 0o600))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_PROFILE", "ci")
	store := t.TempDir()
	d := newDriver(t, store, "chain", drivers.Options{"amazonec2-endpoint": url})
	created(t, d)
	_, err := os.Stat(filepath.Join(store, "machines", "chain", credentialsFile))
	assert.ErrorIs(t, err, os.ErrNotExist)
	raw, _ := json.Marshal(d)
	d2 := New("chain", store)
	require.NoError(t, json.Unmarshal(raw, d2))
	st, err := d2.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Running, st)
	require.NoError(t, d2.Remove(context.Background()))
	assert.Empty(t, noLeaks(t, srv))
}

// TestLegacyConfig: the original's config.json carries the keys; they
// move into the machine directory and never back.
func TestLegacyConfig(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	store := t.TempDir()
	d := newDriver(t, store, "old", options(url))
	created(t, d)
	require.NoError(t, os.Remove(filepath.Join(store, "machines", "old", credentialsFile)))
	raw, _ := json.Marshal(d)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	m["AccessKey"], m["SecretKey"], m["SessionToken"] = ec2fake.AccessKey, ec2fake.SecretKey, ""
	legacy, _ := json.Marshal(m)
	d2 := New("old", store)
	require.NoError(t, json.Unmarshal(legacy, d2))
	b, err := os.ReadFile(filepath.Join(store, "machines", "old", credentialsFile))
	require.NoError(t, err)
	assert.Contains(t, string(b), ec2fake.SecretKey)
	raw2, _ := json.Marshal(d2)
	assert.NotContains(t, string(raw2), ec2fake.SecretKey)
	require.NoError(t, d2.Remove(context.Background()))
	assert.Empty(t, noLeaks(t, srv))
}

// TestGetStates: one DescribeInstances per region and account, filtered
// on the ids; a deleted instance is missing and its GetState says so
// without another request; a terminated one likewise.
func TestGetStates(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	store := t.TempDir()
	var ds []drivers.Driver
	for i, region := range []string{"us-east-1", "us-east-1", "us-east-1", "us-east-1", "eu-west-1"} {
		o := options(url)
		o["amazonec2-region"] = region
		d := newDriver(t, store, "m"+itoa(i), o)
		created(t, d)
		ds = append(ds, d)
	}
	require.NoError(t, ds[1].Stop(context.Background()))
	waitState(t, ds[1], state.Stopped)
	require.True(t, srv.Forget(ds[2].(*Driver).InstanceId))
	require.NoError(t, ds[3].(*Driver).op(context.Background(), "terminating", func(ctx context.Context, c *ec2Client) error {
		_, err := c.TerminateInstances(ctx, &terminateInput{InstanceIds: []string{ds[3].(*Driver).InstanceId}})
		return err
	}))
	var loaded []drivers.Driver
	for _, d := range ds {
		raw, _ := json.Marshal(d)
		d2 := New(d.GetMachineName(), store)
		require.NoError(t, json.Unmarshal(raw, d2))
		loaded = append(loaded, d2)
	}
	n := srv.Journal.Len()
	states, err := loaded[0].(drivers.StateBatcher).GetStates(context.Background(), loaded)
	require.NoError(t, err)
	assert.Equal(t, map[string]state.State{"m0": state.Running, "m1": state.Stopped, "m4": state.Running}, states)
	e := srv.Journal.Since(n)
	assert.Equal(t, []string{"DescribeInstances", "DescribeInstances"}, fakecloud.Actions(e))
	regions := []string{e[0].Region, e[1].Region}
	assert.ElementsMatch(t, []string{"us-east-1", "eu-west-1"}, regions)
	assert.Equal(t, "instance-id", e[0].Params["Filter.1.Name"])

	_, err = loaded[2].GetState(context.Background())
	var nf *NotFoundError
	assert.ErrorAs(t, err, &nf)
	_, err = loaded[3].GetState(context.Background())
	var te *TerminatedError
	assert.ErrorAs(t, err, &te)
	u, err := loaded[0].GetURL(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tcp://"+ds[0].(*Driver).IPAddress+":2376", u)
	assert.Equal(t, 2, srv.Journal.Len()-n, "the batch answer stands in for GetState and GetIP")

	for _, d := range loaded {
		require.NoError(t, d.Remove(context.Background()))
	}
	assert.Empty(t, noLeaks(t, srv))
}

// TestFaults: throttling and server errors are retried (the SDK's
// attempt header shows it), a launch whose answer was lost is not
// repeated (same client token), a launch refused for good and an
// instance that never runs leave nothing, a slow answer times out.
func TestFaults(t *testing.T) {
	env(t)
	fast(t)
	ctx := context.Background()

	t.Run("throttled and 500", func(t *testing.T) {
		srv, url := fake(t)
		srv.Faults.Add(fakecloud.Fault{Action: "RunInstances", Status: http.StatusTooManyRequests, Code: "RequestLimitExceeded"})
		srv.Faults.Add(fakecloud.Fault{Action: "DescribeInstances", Status: http.StatusInternalServerError, Times: 2})
		srv.Faults.Add(fakecloud.Fault{Action: "ImportKeyPair", Status: http.StatusServiceUnavailable, Code: "Unavailable"})
		d := newDriver(t, t.TempDir(), "f", options(url))
		created(t, d)
		runs := fakecloud.Find(srv.Journal.Entries(), "RunInstances")
		require.Len(t, runs, 2)
		assert.Equal(t, "attempt=1; max=6", runs[0].Attempt)
		assert.Equal(t, "attempt=2; max=6", runs[1].Attempt)
		assert.Equal(t, 2, fakecloud.Count(srv.Journal.Entries(), "ImportKeyPair"))
		srv.Faults.Add(fakecloud.Fault{Action: "TerminateInstances", Status: http.StatusServiceUnavailable, Code: "Unavailable", Times: 2})
		require.NoError(t, d.Remove(ctx))
		assert.Empty(t, noLeaks(t, srv))
	})

	t.Run("launch answer lost", func(t *testing.T) {
		srv, url := fake(t)
		srv.Faults.Add(fakecloud.Fault{Action: "RunInstances", Status: http.StatusInternalServerError, Process: true})
		d := newDriver(t, t.TempDir(), "lost", options(url))
		created(t, d)
		assert.Len(t, srv.Instances(), 1, "the retry with the same client token launched nothing more")
		require.NoError(t, d.Remove(ctx))
		assert.Empty(t, noLeaks(t, srv))
	})

	t.Run("launch answer lost for good", func(t *testing.T) {
		srv, url := fake(t)
		srv.Faults.Add(fakecloud.Fault{Action: "RunInstances", Status: http.StatusInternalServerError, Process: true, Times: -1})
		o := options(url)
		o["amazonec2-retries"] = 1
		d := newDriver(t, t.TempDir(), "lost2", o)
		require.NoError(t, d.PreCreateCheck(ctx))
		require.Error(t, d.Create(ctx))
		assert.Empty(t, noLeaks(t, srv), "the instance is found by its client token and terminated")
	})

	t.Run("launch refused", func(t *testing.T) {
		srv, url := fake(t)
		srv.Faults.Add(fakecloud.Fault{Action: "RunInstances", Status: http.StatusBadRequest, Code: "InsufficientInstanceCapacity"})
		d := newDriver(t, t.TempDir(), "refused", options(url))
		require.NoError(t, d.PreCreateCheck(ctx))
		err := d.Create(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "InsufficientInstanceCapacity")
		assert.Empty(t, noLeaks(t, srv), "key pair and security group removed")
	})

	t.Run("timeout", func(t *testing.T) {
		requestTimeout = 300 * time.Millisecond
		defer func() { requestTimeout = 60 * time.Second }()
		srv, url := fake(t)
		d := newDriver(t, t.TempDir(), "slow", options(url))
		srv.Faults.Add(fakecloud.Fault{Action: "DescribeKeyPairs", Delay: time.Hour})
		require.NoError(t, d.PreCreateCheck(ctx), "the timed-out attempt is retried")
		assert.Equal(t, 2, fakecloud.Count(srv.Journal.Entries(), "DescribeKeyPairs"))
	})

	t.Run("never running", func(t *testing.T) {
		srv, url := fake(t)
		o := options(url)
		o["amazonec2-ami"] = ec2fake.HangAMI
		o["amazonec2-wait-timeout"] = 1
		d := newDriver(t, t.TempDir(), "hang", o)
		require.NoError(t, d.PreCreateCheck(ctx))
		err := d.Create(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--amazonec2-wait-timeout")
		assert.Empty(t, noLeaks(t, srv))
	})

	t.Run("rm of what is gone", func(t *testing.T) {
		srv, url := fake(t)
		d := newDriver(t, t.TempDir(), "gone", options(url))
		created(t, d)
		require.True(t, srv.Forget(d.InstanceId))
		require.NoError(t, d.Remove(ctx))
		assert.Empty(t, noLeaks(t, srv))
		require.NoError(t, d.Remove(ctx))
	})
}

// Without --amazonec2-endpoint, the SDK's own AWS_ENDPOINT_URL_EC2 points
// the driver at an EC2-compatible endpoint.
func TestEndpointFromTheSDKEnvironment(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	t.Setenv("AWS_ENDPOINT_URL_EC2", url)
	o := options(url)
	delete(o, "amazonec2-endpoint")
	d := newDriver(t, t.TempDir(), "sdkenv", o)
	created(t, d)
	assert.Contains(t, fakecloud.Actions(srv.Journal.Entries()), "RunInstances", "the requests reached the endpoint of AWS_ENDPOINT_URL_EC2")
	require.NoError(t, d.Remove(context.Background()))
	assert.Empty(t, noLeaks(t, srv))
}
