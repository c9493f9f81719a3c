package fault_test

import (
	"bytes"
	"os/exec"
	"testing"
)

// execBash runs script in bash -euo pipefail with env.
func execBash(env []string, script string) result {
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: []string{"(bash)"}, stdout: out.String(), stderr: errb.String()}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	return r
}

func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("fault: the docker CLI is not installed (apt-get install docker.io)")
	}
}
