package query_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/query"
)

// TestTrace: every version request and every machine's result are in
// the debug trace, with durations.
func TestTrace(t *testing.T) {
	a := sharedMaterial(t)
	good := startDaemon(t, a, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"Version":"27.1.0"}`) })
	up := newHost("up", &fakeDriver{url: good})
	up.HostOptions.AuthOptions = a
	down := newHost("down", &fakeDriver{url: "tcp://127.0.0.1:1"})
	down.HostOptions.AuthOptions = a

	from := len(log.History())
	run([]*host.Host{up, down}, query.Options{})
	trace := strings.Join(log.History()[from:], "\n") + "\n"
	goodAddr := regexp.QuoteMeta(strings.TrimPrefix(good, "tcp://"))
	assert.Regexp(t, `http: GET https://`+goodAddr+`/version -> 200 OK in \S+\n`, trace)
	assert.Regexp(t, `http: GET https://127\.0\.0\.1:1/version -> error in \S+: dial tcp 127\.0\.0\.1:1: connect: connection refused\n`, trace)
	assert.Regexp(t, `query: up: Running, `+regexp.QuoteMeta(good)+`, docker v27\.1\.0 in \S+\n`, trace)
	assert.Regexp(t, `query: down: Running, tcp://127\.0\.0\.1:1, docker Unknown in \S+, error: Unable to query docker version: .*connection refused\n`, trace)
	assert.Regexp(t, `step: query-machines\n(.*\n)*timing: query-machines \S+\n`, trace)
}
