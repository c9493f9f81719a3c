package testbin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Result is what one run of a program gave.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Exec runs cmd with its output captured. A non-zero exit is a Result;
// a program that cannot be started fails t.
func Exec(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running %v: %v", cmd.Args, err)
		}
		r.Code = ee.ExitCode()
	}
	return r
}

// StoreEnv makes a HOME of its own under dir and returns it with the
// clean environment the binary runs in for a store at storePath: PATH
// (pathPrefix first when not empty), HOME, SHELL=/bin/bash, USER and
// MACHINE_STORAGE_PATH, nothing of the caller's environment else.
func StoreEnv(t testing.TB, dir, storePath, user, pathPrefix string) (home string, env []string) {
	t.Helper()
	home = filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	}
	if pathPrefix != "" {
		path = pathPrefix + string(os.PathListSeparator) + path
	}
	return home, []string{
		"PATH=" + path,
		"HOME=" + home,
		"SHELL=/bin/bash",
		"USER=" + user,
		"MACHINE_STORAGE_PATH=" + storePath,
	}
}
