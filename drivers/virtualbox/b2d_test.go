package virtualbox

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakegithub"
	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/libmachine/b2d"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
)

func isoBytes(t *testing.T, version string, size int) []byte {
	var b bytes.Buffer
	require.NoError(t, nocloud.WriteISO(&b, "Boot2Docker-"+version, []nocloud.ISOFile{{Name: "version", Data: []byte(version)}}, time.Unix(1600000000, 0)))
	if b.Len() < size {
		b.Write(make([]byte, size-b.Len()))
	}
	return b.Bytes()
}

// --virtualbox-boot2docker-url naming a releases API: the latest
// release is found and downloaded into the store's cache in
// PreCreateCheck (with the original's percentage line), copied into
// each machine's directory, and downloaded once for every machine.
func TestBoot2DockerFromReleasesAPI(t *testing.T) {
	fakevbox.New(t)
	cpuinfo(t, true)
	gh := fakegithub.New(t)
	gh.Publish("boot2docker/boot2docker", "v19.03.12", map[string][]byte{"boot2docker.iso": isoBytes(t, "v19.03.12", 512<<10)})
	var progress bytes.Buffer
	progressOut = &progress
	t.Cleanup(func() { progressOut = io.Discard })
	o := b2dOptions(t)
	o["virtualbox-boot2docker-url"] = gh.APIURL("boot2docker/boot2docker")
	d, store := newMachine(t, "m", o)
	c := ctx(t)
	require.NoError(t, d.PreCreateCheck(c))
	assert.Equal(t, "(m) 0%....10%....20%....30%....40%....50%....60%....70%....80%....90%....100%\n", progress.String())
	require.NoError(t, d.Create(c))
	v, err := b2d.Version(d.path("boot2docker.iso"))
	require.NoError(t, err)
	assert.Equal(t, "v19.03.12", v)
	assert.Equal(t, o["virtualbox-boot2docker-url"], d.Boot2DockerURL, "the URL is kept as given")

	// A second machine of the store: one more API request, no download.
	d2 := New("m2", store)
	require.NoError(t, os.MkdirAll(d2.path(""), 0o700))
	o2 := b2dOptions(t)
	o2["virtualbox-boot2docker-url"] = gh.APIURL("boot2docker/boot2docker")
	require.NoError(t, d2.SetConfigFromFlags(merged(d2, o2)))
	progress.Reset()
	require.NoError(t, d2.PreCreateCheck(c))
	require.NoError(t, d2.Create(c))
	assert.Empty(t, progress.String())
	n := 0
	for _, r := range gh.Requests() {
		if strings.Contains(r.Path, "/releases/download/") {
			n++
		}
	}
	assert.Equal(t, 1, n)
	require.NoError(t, d.Remove(c))
	require.NoError(t, d2.Remove(c))
}
