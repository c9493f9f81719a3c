package cloud_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/ec2fake"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

// ec2Cloud is the EC2 fake backed by kit hosts (configured by setup,
// before it serves), and a store whose environment carries the
// credentials.
func ec2Cloud(t *testing.T, setup ...func(*ec2fake.Server)) (*ec2fake.Server, string, *store) {
	t.Helper()
	srv := &ec2fake.Server{}
	srv.Fleet.Backend = kit(t)
	for _, f := range setup {
		f(srv)
	}
	url := serve(t, srv, srv.Close)
	return srv, url, newStore(t, "AWS_ACCESS_KEY_ID="+ec2fake.AccessKey, "AWS_SECRET_ACCESS_KEY="+ec2fake.SecretKey)
}

func instanceHost(t *testing.T, srv *ec2fake.Server, s *store, name string) *testhost.Host {
	t.Helper()
	id := strings.TrimSpace(s.mustDM("inspect", "-f", "{{.Driver.InstanceId}}", name))
	vm := srv.Instance(id)
	require.NotNil(t, vm, "instance %s", id)
	h := fakecloud.KitHost(vm.Machine())
	require.NotNil(t, h)
	return h
}

// TestAmazonEC2Flow: create (the default AMI looked up, the key pair
// imported and installed for ubuntu by the fake's cloud-init, the real
// provisioner over SSH with sudo), ls in one DescribeInstances, env and
// docker over TLS, stop, start, restart, kill, an instance deleted behind
// our back, rm deleting the instance, the key pair and the group.
func TestAmazonEC2Flow(t *testing.T) {
	requireKit(t)
	srv, url, s := ec2Cloud(t)
	out := s.mustDM("create", "-d", "amazonec2", "--amazonec2-endpoint", url,
		"--amazonec2-tags", "env,ci", "--engine-install-method", "none", "aws1")
	assert.Contains(t, out, "Docker is up and running!")
	assert.Equal(t, ec2fake.NobleAMI+"\n", s.mustDM("inspect", "-f", "{{.Driver.AMI}}", "aws1"), "the resolved AMI is recorded")
	h := instanceHost(t, srv, s, "aws1")
	who, err := h.Run("stat -c %U /etc/docker/server.pem; id -un ubuntu")
	require.NoError(t, err)
	assert.Equal(t, "root\nubuntu\n", who)

	n := srv.Journal.Len()
	ls := s.mustDM("ls", "--format", "{{.Name}} {{.DriverName}} {{.State}} {{.URL}} {{.DockerVersion}} {{.Error}}")
	assert.Regexp(t, `^aws1 amazonec2 Running tcp://`+h.IP+`:2376 v\d+\S* \n$`, ls)
	assert.Equal(t, []string{"DescribeInstances"}, fakecloud.Actions(srv.Journal.Since(n)), "ls: one describe")

	r := s.bash(`eval "$($DM env aws1)"; docker version --format '{{.Server.Version}}'; docker info --format '{{json .Labels}}'`)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "provider=amazonec2")

	insp := s.mustDM("inspect", "aws1")
	cfg, err := os.ReadFile(filepath.Join(s.path, "machines", "aws1", "config.json"))
	require.NoError(t, err)
	for _, text := range []string{insp, string(cfg), out, ls, s.dm("-D", "ls").Stderr} {
		assert.NotContains(t, text, ec2fake.SecretKey)
		assert.NotContains(t, text, ec2fake.AccessKey)
	}

	s.mustDM("stop", "aws1")
	assert.Equal(t, "Stopped\n", s.mustDM("status", "aws1"))
	assert.False(t, h.Running())
	s.mustDM("start", "aws1")
	assert.True(t, h.Running())
	r = s.bash(`eval "$($DM env aws1)"; docker version --format '{{.Server.Version}}'`)
	require.Equal(t, 0, r.Code, "docker after start: %s", r)
	s.mustDM("restart", "aws1")
	assert.Equal(t, "Running\n", s.mustDM("status", "aws1"))
	s.mustDM("kill", "aws1")
	assert.Equal(t, "Stopped\n", s.mustDM("status", "aws1"))
	r = s.dm("kill", "aws1")
	assert.NotEqual(t, 0, r.Code)
	assert.Contains(t, r.Stderr, "already stopped")

	id := strings.TrimSpace(s.mustDM("inspect", "-f", "{{.Driver.InstanceId}}", "aws1"))
	require.True(t, srv.Forget(id))
	r = s.dm("ls", "--format", "{{.Name}} {{.State}} {{.Error}}")
	require.Equal(t, 0, r.Code, r.String())
	assert.Regexp(t, `^aws1 Error instance `+id+` not found`, r.Stdout)

	s.mustDM("rm", "-y", "aws1")
	assert.Empty(t, s.machines())
	assert.Empty(t, settle(t, &srv.Fleet, srv.Leaks))
}

// TestAmazonEC2GitLabOptions: the options GitLab Runner documents,
// passed as --key=value: a spot instance reached at its private address
// (the fake makes only the private address reachable), tags, a
// security group of its own, the VPC and a zone.
func TestAmazonEC2GitLabOptions(t *testing.T) {
	requireKit(t)
	srv, url, s := ec2Cloud(t, func(srv *ec2fake.Server) { srv.Fleet.PrivateReachable = true })
	out := s.mustDM("create", "-d", "amazonec2",
		"--amazonec2-endpoint="+url,
		"--amazonec2-region=eu-west-1",
		"--amazonec2-vpc-id="+ec2fake.DefaultVPC,
		"--amazonec2-zone=b",
		"--amazonec2-use-private-address=true",
		"--amazonec2-request-spot-instance=true",
		"--amazonec2-spot-price=0.03",
		"--amazonec2-tags=runner-manager-name,gitlab-aws-autoscaler,gitlab,true",
		"--amazonec2-security-group=gitlab-runners",
		"--amazonec2-instance-type=m5.large",
		"--engine-install-method=none", "runner-1")
	assert.Contains(t, out, "Docker is up and running!")
	h := instanceHost(t, srv, s, "runner-1")
	assert.Equal(t, "tcp://"+h.IP+":2376\n", s.mustDM("url", "runner-1"), "the private address")
	j := srv.Journal.Entries()
	spot := fakecloud.Find(j, "RequestSpotInstances")
	require.Len(t, spot, 1)
	assert.Equal(t, "eu-west-1b", spot[0].Params["LaunchSpecification.Placement.AvailabilityZone"])
	assert.Equal(t, "m5.large", spot[0].Params["LaunchSpecification.InstanceType"])
	tags := fakecloud.Find(j, "CreateTags")
	require.Len(t, tags, 1)
	assert.Equal(t, "runner-manager-name", tags[0].Params["Tag.2.Key"])
	assert.Equal(t, "gitlab-aws-autoscaler", tags[0].Params["Tag.2.Value"])
	groups := fakecloud.Find(j, "CreateSecurityGroup")
	require.Len(t, groups, 1)
	assert.Equal(t, "gitlab-runners", groups[0].Params["GroupName"])
	r := s.bash(`eval "$($DM env runner-1)"; docker version --format '{{.Server.Version}}'`)
	require.Equal(t, 0, r.Code, r.String())

	s.mustDM("rm", "-y", "runner-1")
	assert.Equal(t, 1, fakecloud.Count(srv.Journal.Entries(), "CancelSpotInstanceRequests"))
	assert.Empty(t, settle(t, &srv.Fleet, srv.Leaks))
}

// TestParallelCreates: 10 creates at once against one fake cloud (the
// same security group raced for by all of them) all succeed, ls sees
// all 10 in one describe, and rm of all leaves the cloud empty.
func TestParallelCreates(t *testing.T) {
	requireKit(t)
	srv, url, s := ec2Cloud(t)
	const n = 10
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.dm("create", "-d", "amazonec2", "--amazonec2-endpoint", url,
				"--engine-install-method", "none", fmt.Sprintf("p%d", i))
		}()
	}
	wg.Wait()
	for i, r := range results {
		require.Equal(t, 0, r.Code, "create p%d: %s", i, r)
	}
	assert.Len(t, srv.Instances(), n)
	groups := 0
	for _, e := range fakecloud.Find(srv.Journal.Entries(), "CreateSecurityGroup") {
		if e.Status == 200 {
			groups++
		}
	}
	assert.Equal(t, 1, groups, "one group made; the racing creates found it, or got Duplicate and then found it")

	m := srv.Journal.Len()
	ls := s.mustDM("ls", "-q", "--filter", "state=Running")
	assert.Len(t, strings.Fields(ls), n)
	assert.Equal(t, 1, fakecloud.Count(srv.Journal.Since(m), "DescribeInstances"))

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p%d", i)
	}
	s.mustDM(append([]string{"rm", "-y"}, names...)...)
	assert.Empty(t, s.machines())
	assert.Empty(t, settle(t, &srv.Fleet, srv.Leaks))
}
