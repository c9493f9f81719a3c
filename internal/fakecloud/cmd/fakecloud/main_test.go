package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinary builds the binary, starts it, reads its URL, asks the fake
// for its regions and its admin journal, and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	bin := t.TempDir() + "/fakecloud"
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Error(t, exec.Command(bin, "-addr", "0.0.0.0:0").Run(), "non-loopback addresses are refused")

	cmd := exec.Command(bin, "-cloud", "do")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "http://127.0.0.1:") {
			url = sc.Text()
			break
		}
	}
	require.NotEmpty(t, url)
	req, _ := http.NewRequest(http.MethodGet, url+"v2/regions", nil)
	req.Header.Set("Authorization", "Bearer fake-do-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(url + "_fake/journal")
	require.NoError(t, err)
	var journal []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&journal))
	resp.Body.Close()
	require.Len(t, journal, 1)
	assert.Equal(t, "GET /v2/regions", journal[0]["action"])
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, cmd.Wait())
}
