package cloud_test

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/dofake"
	"github.com/docker-machine-ng/machine/internal/fakecloud/ec2fake"
)

// BenchmarkParallelCreateRm times 10 parallel `create` (each a kit host
// provisioned over SSH) and one `rm -y` of all 10 against each fake
// cloud, and reports the peak RSS of a docker-machine process
// (bench/cloud-parallel.sh runs it).
func BenchmarkParallelCreateRm(b *testing.B) {
	for _, cloud := range []string{"digitalocean", "amazonec2"} {
		b.Run(cloud, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchOnce(b, cloud)
			}
		})
	}
}

func benchOnce(b *testing.B, cloud string) {
	const n = 10
	var url string
	var env []string
	var fleet *fakecloud.Fleet
	var leaks func() []string
	kitB := &fakecloud.Kit{Logf: b.Logf}
	switch cloud {
	case "digitalocean":
		srv := &dofake.Server{}
		srv.Fleet.Backend = kitB
		url = serve(b, srv, srv.Close) + "/"
		env = []string{"DIGITALOCEAN_ACCESS_TOKEN=" + dofake.Token}
		fleet, leaks = &srv.Fleet, srv.Leaks
	default:
		srv := &ec2fake.Server{}
		srv.Fleet.Backend = kitB
		url = serve(b, srv, srv.Close)
		env = []string{"AWS_ACCESS_KEY_ID=" + ec2fake.AccessKey, "AWS_SECRET_ACCESS_KEY=" + ec2fake.SecretKey}
		fleet, leaks = &srv.Fleet, srv.Leaks
	}
	s := newStore(b, env...)
	flag := map[string]string{"digitalocean": "--digitalocean-api-url", "amazonec2": "--amazonec2-endpoint"}[cloud]
	var mu sync.Mutex
	var peak int64
	run := func(args ...string) error {
		cmd := exec.Command(dmBin, args...)
		cmd.Env = s.env
		out, err := cmd.CombinedOutput()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			mu.Lock()
			peak = max(peak, ru.Maxrss)
			mu.Unlock()
		}
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	start := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run("create", "-d", cloud, flag, url, "--engine-install-method", "none", fmt.Sprintf("b%d", i))
		}()
	}
	wg.Wait()
	created := time.Since(start)
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	names := []string{"rm", "-y"}
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("b%d", i))
	}
	t0 := time.Now()
	if err := run(names...); err != nil {
		b.Fatal(err)
	}
	removed := time.Since(t0)
	if l := settle(b, fleet, leaks); len(l) > 0 {
		b.Fatalf("left behind: %v", l)
	}
	b.ReportMetric(created.Seconds(), "create-s")
	b.ReportMetric(removed.Seconds(), "rm-s")
	b.ReportMetric(float64(peak)/1024, "peak-rss-MiB")
	b.Logf("%s: 10 parallel creates %s, rm of 10 %s, peak RSS of a docker-machine process %.1f MiB", cloud, created.Round(time.Millisecond), removed.Round(time.Millisecond), float64(peak)/1024)
}
