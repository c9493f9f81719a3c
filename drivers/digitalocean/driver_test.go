package digitalocean

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/dofake"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// fast shortens the client's back-offs and polls for one test.
func fast(t *testing.T) {
	t.Helper()
	saved := []time.Duration{requestTimeout, retryBase, retryMax, pollFirst, pollMax}
	retryBase, retryMax, pollFirst, pollMax = 10*time.Millisecond, 50*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() {
		requestTimeout, retryBase, retryMax, pollFirst, pollMax = saved[0], saved[1], saved[2], saved[3], saved[4]
	})
}

// newDriver configures a driver for machine with the defaults, the
// fake's options and extra.
func newDriver(t *testing.T, store, machine string, o drivers.Options) *Driver {
	t.Helper()
	d := New(machine, store)
	require.NoError(t, os.MkdirAll(filepath.Join(store, "machines", machine), 0o700))
	opts := drivertest.Defaults(d.GetCreateFlags())
	for k, v := range o {
		opts[k] = v
	}
	require.NoError(t, d.SetConfigFromFlags(opts))
	return d
}

func created(t *testing.T, d *Driver) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, d.PreCreateCheck(ctx))
	require.NoError(t, d.Create(ctx))
}

func bodyOf(t *testing.T, e fakecloud.Entry) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(e.Body), &m), e.Body)
	return m
}

// waitState polls the driver until it reports want.
func waitState(t *testing.T, d *Driver, want state.State) {
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

// TestCallSequences checks every operation's requests and their
// parameters in the fake's journal.
func TestCallSequences(t *testing.T) {
	fast(t)
	srv, url := fake(t)
	store := t.TempDir()
	ud := filepath.Join(t.TempDir(), "user-data")
	require.NoError(t, os.WriteFile(ud, []byte("#cloud-config\n"), 0o600))
	o := options(url)
	o["digitalocean-tags"] = " docker, test,,"
	o["digitalocean-private-networking"] = true
	o["digitalocean-ipv6"] = true
	o["digitalocean-userdata"] = ud
	d := newDriver(t, store, "do1", o)
	created(t, d)

	j := srv.Journal.Entries()
	acts := fakecloud.Actions(j)
	require.GreaterOrEqual(t, len(acts), 4, "%v", acts)
	assert.Equal(t, []string{"GET /v2/regions", "POST /v2/account/keys", "POST /v2/droplets"}, acts[:3])
	for _, a := range acts[3:] {
		assert.Equal(t, "GET /v2/droplets/{id}", a, "create polls the droplet and nothing else")
	}
	key := bodyOf(t, j[1])
	assert.Equal(t, "do1", key["name"])
	pub, err := os.ReadFile(filepath.Join(store, "machines", "do1", "id_rsa.pub"))
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(pub)), key["public_key"])
	dr := bodyOf(t, j[2])
	assert.Equal(t, map[string]any{
		"name": "do1", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64",
		"ssh_keys": []any{float64(d.SSHKeyID)}, "backups": false, "ipv6": true, "private_networking": true,
		"monitoring": false, "user_data": "#cloud-config\n", "tags": []any{d.CreationTag, "docker", "test"},
	}, dr)
	assert.NotZero(t, d.DropletID)
	assert.Regexp(t, `^127\.100\.`, d.IPAddress)

	// The token is in the machine directory, not in the configuration.
	raw, err := json.Marshal(d)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), dofake.Token)
	fi, err := os.Stat(filepath.Join(store, "machines", "do1", tokenFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// A driver loaded from the configuration drives the droplet.
	d2 := New("do1", store)
	require.NoError(t, json.Unmarshal(raw, d2))
	ctx := context.Background()
	op := func(name string, f func(context.Context) error, want state.State, typ string) {
		t.Helper()
		n := srv.Journal.Len()
		require.NoError(t, f(ctx), name)
		e := srv.Journal.Since(n)
		require.Len(t, e, 1, "%s: %v", name, fakecloud.Actions(e))
		assert.Equal(t, "POST /v2/droplets/{id}/actions", e[0].Action)
		assert.Equal(t, map[string]any{"type": typ}, bodyOf(t, e[0]))
		waitState(t, d2, want)
	}
	op("stop", d2.Stop, state.Stopped, "shutdown")
	op("start", d2.Start, state.Running, "power_on")
	op("restart", d2.Restart, state.Running, "reboot")
	op("kill", d2.Kill, state.Stopped, "power_off")

	n := srv.Journal.Len()
	u, err := d2.GetURL(ctx)
	assert.ErrorIs(t, err, drivers.ErrHostIsNotRunning)
	assert.Empty(t, u)
	assert.Equal(t, []string{"GET /v2/droplets/{id}"}, fakecloud.Actions(srv.Journal.Since(n)), "GetURL asks once; the address is the recorded one")

	n = srv.Journal.Len()
	require.NoError(t, d2.Remove(ctx))
	assert.Equal(t, []string{"DELETE /v2/droplets/{id}", "DELETE /v2/account/keys/{id}"}, fakecloud.Actions(srv.Journal.Since(n)))
	assert.Empty(t, noLeaks(t, srv))
	entries, _ := os.ReadDir(filepath.Join(store, "machines", "do1"))
	assert.Empty(t, entries)

	// rm of what is gone succeeds without asking.
	n = srv.Journal.Len()
	require.NoError(t, d2.Remove(ctx))
	assert.Zero(t, srv.Journal.Len()-n)
}

// TestExistingKey: --digitalocean-ssh-key-fingerprint uses an account
// key (looked up before anything is made), copies the key file, and rm
// leaves the key alone.
func TestExistingKey(t *testing.T) {
	fast(t)
	srv, url := fake(t)
	c, err := newClient(url, dofake.Token)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "mykey")
	require.NoError(t, os.WriteFile(keyFile, []byte("private"), 0o600))
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHvOq6Y3hQy9Kx9wzKq3iEAg8yN8Nz7Q0x3sZ3bq3t0d me@host"
	fp, err := fingerprint(pub)
	require.NoError(t, err)
	k, _, err := c.Keys.Create(context.Background(), &godoKeyCreate{Name: "mine", PublicKey: pub})
	require.NoError(t, err)

	o := options(url)
	o["digitalocean-ssh-key-fingerprint"] = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
	o["digitalocean-ssh-key-path"] = keyFile
	d := newDriver(t, t.TempDir(), "ek", o)
	err = d.PreCreateCheck(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "doesn't exist")

	store := t.TempDir()
	o["digitalocean-ssh-key-fingerprint"] = fp
	d = newDriver(t, store, "ek", o)
	n := srv.Journal.Len()
	created(t, d)
	acts := fakecloud.Actions(srv.Journal.Since(n))
	assert.Equal(t, []string{"GET /v2/regions", "GET /v2/account/keys/{id}", "POST /v2/droplets"}, acts[:3])
	assert.Equal(t, k.ID, d.SSHKeyID)
	assert.Equal(t, filepath.Join(store, "machines", "ek", "mykey"), d.GetSSHKeyPath())

	n = srv.Journal.Len()
	require.NoError(t, d.Remove(context.Background()))
	assert.Equal(t, []string{"DELETE /v2/droplets/{id}"}, fakecloud.Actions(srv.Journal.Since(n)))
	assert.Equal(t, []string{"ssh key " + itoa(k.ID) + " (mine)"}, noLeaks(t, srv))
}

// TestValidation: bad flags are refused before anything exists, naming
// the flag.
func TestValidation(t *testing.T) {
	for _, c := range []struct {
		o    drivers.Options
		want string
	}{
		{drivers.Options{"digitalocean-access-token": ""}, "requires the --digitalocean-access-token option"},
		{drivers.Options{"digitalocean-api-url": "ftp://x"}, "--digitalocean-api-url"},
		{drivers.Options{"digitalocean-api-url": "https://user:pw@x/"}, "must not carry credentials"},
		{drivers.Options{"digitalocean-ssh-port": 70000}, "--digitalocean-ssh-port"},
		{drivers.Options{"digitalocean-tags": "ok,not ok"}, "--digitalocean-tags"},
		{drivers.Options{"digitalocean-wait-timeout": 0}, "--digitalocean-wait-timeout"},
		{drivers.Options{"digitalocean-ssh-key-path": "/x"}, "ssh-key-fingerprint needs to be provided"},
		{drivers.Options{"digitalocean-region": ""}, "--digitalocean-region"},
	} {
		d := New("v", t.TempDir())
		o := drivertest.Defaults(d.GetCreateFlags())
		o["digitalocean-access-token"] = "t"
		for k, v := range c.o {
			o[k] = v
		}
		err := d.SetConfigFromFlags(o)
		if assert.Error(t, err, "%v", c.o) {
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "pw")
		}
	}

	fast(t)
	_, url := fake(t)
	for _, c := range []struct {
		o    drivers.Options
		want string
	}{
		{drivers.Options{"digitalocean-region": "mars1"}, "requires a valid region"},
		{drivers.Options{"digitalocean-size": "huge"}, "not offered in region nyc3"},
		{drivers.Options{"digitalocean-userdata": "/nonexistent"}, "--digitalocean-userdata"},
		{drivers.Options{"digitalocean-access-token": "wrong"}, "401"},
	} {
		o := options(url)
		for k, v := range c.o {
			o[k] = v
		}
		d := newDriver(t, t.TempDir(), "v", o)
		err := d.PreCreateCheck(context.Background())
		if assert.Error(t, err, "%v", c.o) {
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "wrong", "the token is not in the error")
		}
	}
}

// TestLegacyConfig: the original's config.json carries the token; it
// is moved into the machine directory and never written back.
func TestLegacyConfig(t *testing.T) {
	fast(t)
	srv, url := fake(t)
	store := t.TempDir()
	d := newDriver(t, store, "old", options(url))
	created(t, d)
	require.NoError(t, os.Remove(filepath.Join(store, "machines", "old", tokenFile)))
	raw, err := json.Marshal(d)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	m["AccessToken"] = dofake.Token
	legacy, err := json.Marshal(m)
	require.NoError(t, err)

	d2 := New("old", store)
	require.NoError(t, json.Unmarshal(legacy, d2))
	b, err := os.ReadFile(filepath.Join(store, "machines", "old", tokenFile))
	require.NoError(t, err)
	assert.Equal(t, dofake.Token+"\n", string(b))
	raw2, err := json.Marshal(d2)
	require.NoError(t, err)
	assert.NotContains(t, string(raw2), dofake.Token)
	st, err := d2.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Running, st)
	require.NoError(t, d2.Remove(context.Background()))
	assert.Empty(t, noLeaks(t, srv))
}

// TestGetStates: one droplet list per account, whatever the number of
// machines; a droplet deleted behind our back is missing from the answer
// and its GetState says so without another request.
func TestGetStates(t *testing.T) {
	fast(t)
	srv1, url1 := fake(t)
	srv2, url2 := fake(t)
	store := t.TempDir()
	var ds []drivers.Driver
	for i, url := range []string{url1, url1, url1, url2} {
		d := newDriver(t, store, "b"+itoa(i), options(url))
		created(t, d)
		ds = append(ds, d)
	}
	require.NoError(t, ds[1].Stop(context.Background()))
	waitState(t, ds[1].(*Driver), state.Stopped)
	require.True(t, srv1.DeleteDroplet(ds[2].(*Driver).DropletID))
	// Loaded as ls loads them: new values from the configuration.
	var loaded []drivers.Driver
	for _, d := range ds {
		raw, err := json.Marshal(d)
		require.NoError(t, err)
		d2 := New(d.GetMachineName(), store)
		require.NoError(t, json.Unmarshal(raw, d2))
		loaded = append(loaded, d2)
	}
	n1, n2 := srv1.Journal.Len(), srv2.Journal.Len()
	states, err := loaded[0].(drivers.StateBatcher).GetStates(context.Background(), loaded)
	require.NoError(t, err)
	assert.Equal(t, map[string]state.State{"b0": state.Running, "b1": state.Stopped, "b3": state.Running}, states)
	assert.Equal(t, []string{"GET /v2/droplets"}, fakecloud.Actions(srv1.Journal.Since(n1)))
	assert.Equal(t, []string{"GET /v2/droplets"}, fakecloud.Actions(srv2.Journal.Since(n2)))

	_, err = loaded[2].GetState(context.Background())
	var nf *NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Contains(t, err.Error(), "not found")
	u, err := loaded[0].GetURL(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tcp://"+ds[0].(*Driver).IPAddress+":2376", u)
	assert.Equal(t, 1, srv1.Journal.Len()-n1, "the batch answer stands in for GetState")

	// rm of the deleted machine succeeds.
	require.NoError(t, loaded[2].Remove(context.Background()))
	for _, d := range loaded {
		require.NoError(t, d.Remove(context.Background()))
	}
	assert.Empty(t, noLeaks(t, srv1))
	assert.Empty(t, noLeaks(t, srv2))
}

// TestPagination: the batch list reads every page.
func TestPagination(t *testing.T) {
	fast(t)
	srv, url := fake(t)
	c, err := newClient(url, dofake.Token)
	require.NoError(t, err)
	for i := 0; i < 205; i++ {
		_, _, err := c.Droplets.Create(context.Background(), &godoDropletCreate{Name: "p" + itoa(i), Region: "nyc3", Size: "s-1vcpu-1gb", Image: godoImage("ubuntu-24-04-x64")})
		require.NoError(t, err)
	}
	n := srv.Journal.Len()
	st, err := listStatuses(context.Background(), url, dofake.Token)
	require.NoError(t, err)
	assert.Len(t, st, 205)
	assert.Equal(t, 2, srv.Journal.Len()-n, "two pages of 200")
}

// TestFaults: throttling and server errors are retried, a lost answer
// leaves nothing behind, a droplet that never boots ends the create at
// the wait timeout, and a failed rm can be repeated.
func TestFaults(t *testing.T) {
	fast(t)
	ctx := context.Background()

	t.Run("429 and 500 are retried", func(t *testing.T) {
		srv, url := fake(t)
		srv.Faults.Add(fakecloud.Fault{Action: "POST /v2/droplets", Status: http.StatusTooManyRequests})
		srv.Faults.Add(fakecloud.Fault{Action: "GET /v2/droplets/{id}", Status: http.StatusInternalServerError, Times: 2})
		srv.Faults.Add(fakecloud.Fault{Action: "GET /v2/regions", Status: http.StatusBadGateway})
		d := newDriver(t, t.TempDir(), "f", options(url))
		created(t, d)
		j := srv.Journal.Entries()
		assert.Equal(t, 2, fakecloud.Count(j, "POST /v2/droplets"))
		assert.Equal(t, 2, fakecloud.Count(j, "GET /v2/regions"))
		assert.Zero(t, srv.Faults.Pending())
		srv.Faults.Add(fakecloud.Fault{Action: "DELETE /v2/droplets/{id}", Status: http.StatusServiceUnavailable, Times: 2})
		require.NoError(t, d.Remove(ctx))
		assert.Empty(t, noLeaks(t, srv))
	})

	t.Run("create's answer lost", func(t *testing.T) {
		srv, url := fake(t)
		srv.Faults.Add(fakecloud.Fault{Action: "POST /v2/droplets", Status: http.StatusInternalServerError, Process: true})
		d := newDriver(t, t.TempDir(), "lost", options(url))
		require.NoError(t, d.PreCreateCheck(ctx))
		err := d.Create(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "500")
		assert.Empty(t, noLeaks(t, srv), "the droplet made by the request whose answer was lost is removed")
	})

	t.Run("key upload times out", func(t *testing.T) {
		requestTimeout = 200 * time.Millisecond
		defer func() { requestTimeout = 60 * time.Second }()
		srv, url := fake(t)
		srv.Faults.Add(fakecloud.Fault{Action: "POST /v2/account/keys", Delay: time.Hour, Process: true})
		d := newDriver(t, t.TempDir(), "slow", options(url))
		require.NoError(t, d.PreCreateCheck(ctx))
		err := d.Create(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "uploading the SSH key")
		assert.Empty(t, noLeaks(t, srv), "the key uploaded by the request that timed out is removed")
		assert.Equal(t, 1, fakecloud.Count(srv.Journal.Entries(), "DELETE /v2/account/keys/{id}"))
	})

	t.Run("never running", func(t *testing.T) {
		srv, url := fake(t)
		o := options(url)
		o["digitalocean-image"] = dofake.HangImage
		o["digitalocean-wait-timeout"] = 1
		d := newDriver(t, t.TempDir(), "hang", o)
		require.NoError(t, d.PreCreateCheck(ctx))
		err := d.Create(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--digitalocean-wait-timeout")
		assert.Empty(t, noLeaks(t, srv))
	})

	t.Run("rm keeps failing, then works", func(t *testing.T) {
		srv, url := fake(t)
		d := newDriver(t, t.TempDir(), "rm", options(url))
		created(t, d)
		srv.Faults.Add(fakecloud.Fault{Action: "DELETE /v2/droplets/{id}", Status: http.StatusInternalServerError, Times: -1})
		err := d.Remove(ctx)
		require.Error(t, err)
		assert.Equal(t, attempts, fakecloud.Count(srv.Journal.Entries(), "DELETE /v2/droplets/{id}"))
		assert.NotEmpty(t, srv.Leaks())
		srv.Faults.Clear()
		require.NoError(t, d.Remove(ctx))
		assert.Empty(t, noLeaks(t, srv))
	})

	t.Run("cancelled", func(t *testing.T) {
		_, url := fake(t)
		d := newDriver(t, t.TempDir(), "c", options(url))
		cctx, cancel := context.WithCancelCause(ctx)
		cancel(errors.New("stop now"))
		err := d.PreCreateCheck(cctx)
		require.Error(t, err)
	})
}

// A create killed after it asked for the droplet but before it learnt
// its id leaves only the record saved before the driver ran: that
// record's Remove (what the store's sweep or rm -f calls) finds the
// droplet by the create's tag, and nothing is leaked.
func TestKilledCreateLeavesNothing(t *testing.T) {
	fast(t)
	srv, url := fake(t)
	store := t.TempDir()
	d := newDriver(t, store, "killed", options(url))
	require.NoError(t, d.PreCreateCheck(context.Background()))
	record, err := json.Marshal(d)
	require.NoError(t, err)
	require.NotEmpty(t, d.CreationTag)

	// The droplet's answer never comes: Create is still running when
	// the process "dies" (its goroutine is abandoned, its context ended
	// only after the check).
	srv.Faults.Add(fakecloud.Fault{Action: "POST /v2/droplets", Delay: time.Hour, Process: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Create(ctx) }()
	require.Eventually(t, func() bool {
		for _, l := range srv.Leaks() {
			if strings.HasPrefix(l, "droplet ") {
				return true
			}
		}
		return false
	}, time.Minute, 10*time.Millisecond, "the droplet exists in the fake")

	loaded := New("killed", store)
	require.NoError(t, json.Unmarshal(record, loaded))
	require.NoError(t, loaded.Remove(context.Background()))
	assert.Empty(t, noLeaks(t, srv), "the record's Remove found the droplet by its tag")

	cancel()
	<-done
}
