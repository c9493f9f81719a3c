package amazonec2

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// batchSize is how many instance ids one DescribeInstances filters on
// (EC2 takes up to 200 values a filter).
const batchSize = 200

// GetStates answers for many machines with one DescribeInstances per
// endpoint, region and account (per 200 machines), filtering on the
// instance ids (a filter, unlike a list of ids, does not fail on an id
// EC2 no longer knows). A machine whose instance is missing or
// terminated is left out; its GetState then reports that without asking
// again. The answer also stands in, for a few seconds, for the
// GetState and GetIP of ls's URL column.
func (d *Driver) GetStates(ctx context.Context, machines []drivers.Driver) (map[string]state.State, error) {
	type group struct {
		client *ec2.Client
		ds     []*Driver
	}
	groups := map[string]*group{}
	for _, m := range machines {
		dd, ok := m.(*Driver)
		if !ok || dd.InstanceId == "" {
			continue
		}
		creds, err := dd.credentialsKey(ctx)
		if err != nil {
			continue // asked alone, it reports the error
		}
		k := dd.Endpoint + "\x00" + dd.Region + "\x00" + creds
		g := groups[k]
		if g == nil {
			c, err := dd.client(ctx)
			if err != nil {
				continue
			}
			g = &group{client: c}
			groups[k] = g
		}
		g.ds = append(g.ds, dd)
	}
	out := map[string]state.State{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, g := range groups {
		for i := 0; i < len(g.ds); i += batchSize {
			chunk := g.ds[i:min(i+batchSize, len(g.ds))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				found, err := describeMany(ctx, g.client, chunk)
				now := time.Now()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				for _, dd := range chunk {
					snap := &snapshot{at: now}
					in, ok := found[dd.InstanceId]
					if ok {
						snap.st, snap.err = instanceState(in, dd.InstanceId)
						snap.publicIP = aws.ToString(in.PublicIpAddress)
						snap.privateIP = aws.ToString(in.PrivateIpAddress)
					} else {
						snap.st, snap.err = state.Error, &NotFoundError{ID: dd.InstanceId}
					}
					dd.mu.Lock()
					dd.snap = snap
					dd.mu.Unlock()
					if snap.err == nil {
						out[dd.MachineName] = snap.st
					}
				}
			}()
		}
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// describeMany describes the instances of ds, all pages.
func describeMany(ctx context.Context, c *ec2.Client, ds []*Driver) (map[string]types.Instance, error) {
	ids := make([]string, len(ds))
	for i, dd := range ds {
		ids[i] = dd.InstanceId
	}
	found := map[string]types.Instance{}
	in := &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: ids}}}
	for {
		out, err := c.DescribeInstances(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describing %d instances: %w", len(ids), err)
		}
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				if inst.State != nil {
					found[aws.ToString(inst.InstanceId)] = inst
				}
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	log.Debugf("amazonec2: %d instances described at once", len(ids))
	return found, nil
}
