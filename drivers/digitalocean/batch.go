package digitalocean

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/godo"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// GetStates answers for many machines with one droplet list per account
// (API URL and token), 200 droplets a page. A machine whose droplet is
// not in the list is left out of the answer; its GetState then reports
// the droplet as not found without asking again.
func (d *Driver) GetStates(ctx context.Context, machines []drivers.Driver) (map[string]state.State, error) {
	type account struct {
		url, token string
		ds         []*Driver
	}
	accounts := map[[2]string]*account{}
	for _, m := range machines {
		dd, ok := m.(*Driver)
		if !ok || dd.DropletID == 0 {
			continue
		}
		token, err := dd.accessToken()
		if err != nil {
			continue // asked alone, it reports the missing token
		}
		k := [2]string{dd.apiURL(), token}
		if accounts[k] == nil {
			accounts[k] = &account{url: k[0], token: token}
		}
		accounts[k].ds = append(accounts[k].ds, dd)
	}
	out := map[string]state.State{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, a := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses, err := listStatuses(ctx, a.url, a.token)
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, dd := range a.ds {
				status, ok := statuses[dd.DropletID]
				snap := &snapshot{at: now, notFound: !ok, st: dropletState(status)}
				dd.mu.Lock()
				dd.snap = snap
				dd.mu.Unlock()
				if ok {
					out[dd.MachineName] = snap.st
				}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// listStatuses lists every droplet of an account: id to status.
func listStatuses(ctx context.Context, apiURL, token string) (map[int]string, error) {
	c, err := newClient(apiURL, token)
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	opt := &godo.ListOptions{PerPage: 200, Page: 1}
	for {
		droplets, resp, err := c.Droplets.List(ctx, opt)
		if err != nil {
			return nil, fmt.Errorf("listing droplets: %w", err)
		}
		for _, dr := range droplets {
			out[dr.ID] = dr.Status
		}
		if resp == nil || resp.Links == nil || resp.Links.IsLastPage() || len(droplets) == 0 {
			break
		}
		opt.Page++
	}
	log.Debugf("digitalocean: %d droplets listed at once", len(out))
	return out, nil
}

// fingerprint is the MD5 fingerprint DigitalOcean gives an
// authorized_keys line.
func fingerprint(publicKey string) (string, error) {
	f := strings.Fields(publicKey)
	if len(f) < 2 {
		return "", errors.New("not an SSH public key")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "", fmt.Errorf("not an SSH public key: %w", err)
	}
	sum := md5.Sum(blob)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":"), nil
}
