// Package generic benchmarks `docker-machine create -d generic` against a
// real systemd-nspawn host with Docker preinstalled. Run it with
// bench/create-generic.sh; `go test` alone compiles it and runs nothing.
package generic

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

var timingLine = regexp.MustCompile(`timing: (\S+) (\S+)`)
var commandsLine = regexp.MustCompile(`ssh: (\d+) remote commands`)

// resetHost puts the host back as the image shipped it: no machine
// configuration, Docker stopped.
const resetHost = `systemctl stop docker.service docker.socket 2>/dev/null || true
rm -rf /etc/systemd/system/docker.service.d /etc/docker/ca.pem /etc/docker/server.pem /etc/docker/server-key.pem
systemctl daemon-reload
hostnamectl set-hostname "$(cat /etc/hostname)" 2>/dev/null || true`

func acceptedConnections(b *testing.B, h *testhost.Host) int {
	out, err := h.Run(`journalctl -u ssh.service --no-pager -o cat | grep -c 'Accepted publickey' || true`)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

func BenchmarkCreateGeneric(b *testing.B) {
	if err := testhost.Available(); err != nil {
		b.Skip(err)
	}
	bin, err := testbin.Build(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	h := testhost.StartNspawn(b, testhost.Options{Flavour: testhost.Docker})

	// The host's own restart time, the floor of any provisioning.
	var restart time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		if _, err := h.Run("systemctl restart docker"); err != nil {
			b.Fatal(err)
		}
		restart += time.Since(start)
	}
	restart /= 3
	b.ReportMetric(float64(restart.Milliseconds()), "restart-docker-ms")

	phases := map[string]time.Duration{}
	var total time.Duration
	var commands, conns int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := h.Run(resetHost); err != nil {
			b.Fatal(err)
		}
		storeDir := b.TempDir()
		before := acceptedConnections(b, h)
		cmd := exec.Command(bin, "--debug", "-s", filepath.Join(storeDir, "store"), "create", "-d", "generic",
			"--generic-ip-address", h.IP, "--generic-ssh-key", h.KeyPath, "--engine-install-method", "none",
			fmt.Sprintf("bench%d", i))
		cmd.Env = append(os.Environ(), "HOME="+storeDir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		b.StartTimer()
		start := time.Now()
		err := cmd.Run()
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("create: %v\n%s", err, out.String())
		}
		total += elapsed
		// The counting ssh after create logs itself before it counts:
		// subtract it.
		conns += acceptedConnections(b, h) - before - 1
		for _, m := range timingLine.FindAllStringSubmatch(out.String(), -1) {
			d, err := time.ParseDuration(m[2])
			if err == nil {
				phases[m[1]] += d
			}
		}
		if m := commandsLine.FindStringSubmatch(out.String()); m != nil {
			n, _ := strconv.Atoi(m[1])
			commands += n
		}
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	for name, d := range phases {
		b.ReportMetric(float64(d.Milliseconds())/n, name+"-ms")
	}
	b.ReportMetric(float64(total.Milliseconds())/n, "create-ms")
	b.ReportMetric(float64(conns)/n, "ssh-connections")
	b.ReportMetric(float64(commands)/n, "remote-commands")
	b.ReportMetric(float64((total/time.Duration(b.N) - restart).Milliseconds()), "over-restart-ms")
}
