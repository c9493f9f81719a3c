// Package cloud_test runs the built docker-machine against the fake
// clouds of internal/fakecloud, whose instances are real hosts of the
// test-host kit: create provisions them over SSH, the docker CLI talks
// to their daemons over TLS, and stop, start, restart, kill and rm drive
// them.
package cloud_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

var dmBin string

func TestMain(m *testing.M) { testbin.Main(m, &dmBin, testhost.ReapIfAvailable) }

// requireKit skips without the test-host kit (which CI has) or the
// docker CLI.
func requireKit(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("cloud: skipped in -short mode")
	}
	if err := testhost.Available(); err != nil {
		t.Skip(err.Error())
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("cloud: the docker CLI is not installed (apt-get install docker.io)")
	}
}

// kit is a backend of kit hosts logging into t.
func kit(t *testing.T) *fakecloud.Kit { return &fakecloud.Kit{Logf: t.Logf} }

// serve runs a fake cloud's handler on a loopback port until the test ends;
// closeFn destroys its machines afterwards.
func serve(t testing.TB, h interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request)
}, closeFn func()) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		closeFn()
	})
	return hs.URL
}

// store is a temporary machine store with its own HOME.
type store struct {
	t    testing.TB
	path string
	env  []string
}

func newStore(t testing.TB, env ...string) *store {
	t.Helper()
	dir := t.TempDir()
	s := &store{t: t, path: filepath.Join(dir, "store")}
	home, base := testbin.StoreEnv(t, dir, s.path, "cloud", "")
	s.env = append(append(base,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(home, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "aws-credentials"),
		"MACHINE_BUGSNAG_API_TOKEN=no-report",
	), env...)
	return s
}

type result = testbin.Result

func (s *store) run(argv []string, extra ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append([]string{}, s.env...), extra...)
	return testbin.Exec(s.t, cmd)
}

func (s *store) dm(args ...string) result {
	s.t.Helper()
	return s.run(append([]string{dmBin}, args...))
}

func (s *store) mustDM(args ...string) string {
	s.t.Helper()
	r := s.dm(args...)
	if r.Code != 0 {
		s.t.Fatalf("docker-machine %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// bash runs a script with the store's environment and $DM.
func (s *store) bash(script string) result {
	s.t.Helper()
	return s.run([]string{"bash", "-c", "set -euo pipefail\n" + script}, "DM="+dmBin)
}

// machines lists the store's machine directories.
func (s *store) machines() []string {
	entries, _ := os.ReadDir(filepath.Join(s.path, "machines"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// settle waits for the fleet's transitions (terminations run in the
// background) and returns what the cloud still has.
func settle(t testing.TB, f *fakecloud.Fleet, leaks func() []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.Quiesce(ctx); err != nil {
		t.Fatalf("the fake cloud did not settle: %v", err)
	}
	return leaks()
}
