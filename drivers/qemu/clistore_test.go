package qemu

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testbin"
)

// cliStore is a machine store driven by a built docker-machine, in a
// short temporary directory (the QMP socket path is limited to 103
// bytes), removed when the test ends.
type cliStore struct {
	work string   // the directory
	path string   // the store, MACHINE_STORAGE_PATH
	bin  string   // the binary
	env  []string // the environment it runs in
}

// newCLIStore makes a store under a new directory named prefix*, with
// the binary bin, or one built there when bin is "".
func newCLIStore(t *testing.T, prefix, bin string) *cliStore {
	t.Helper()
	work, err := os.MkdirTemp("", prefix)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(work) })
	if bin == "" {
		bin, err = testbin.Build(work)
		require.NoError(t, err)
	}
	s := &cliStore{work: work, path: filepath.Join(work, "s"), bin: bin}
	s.env = append(os.Environ(), "MACHINE_STORAGE_PATH="+s.path)
	return s
}

// dm runs the binary on the store: its stdout and stderr together,
// trimmed, and its error.
func (s *cliStore) dm(args ...string) (string, error) {
	return s.dmContext(context.Background(), args...)
}

// dmContext is dm, killed when ctx ends.
func (s *cliStore) dmContext(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return strings.TrimSpace(b.String()), err
}

// dockerOn returns a runner of the docker CLI at path docker against
// machine name, in the environment `env --shell bash name` prints: its
// output together, trimmed, and its error.
func (s *cliStore) dockerOn(t *testing.T, docker, name string) func(args ...string) (string, error) {
	t.Helper()
	envOut, err := s.dm("env", "--shell", "bash", name)
	require.NoError(t, err, envOut)
	env := append([]string(nil), os.Environ()...)
	for k, v := range parseEnv(envOut) {
		env = append(env, k+"="+v)
	}
	return func(args ...string) (string, error) {
		cmd := exec.Command(docker, args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(b)), err
	}
}

// dockerCLI is the path of the docker CLI; the test is skipped without it.
func dockerCLI(t *testing.T) string {
	t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed (apt-get install docker.io)")
	}
	return docker
}
