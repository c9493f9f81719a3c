package host_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/host"
)

// nameOK is the machine-name rule written out by hand: a letter or digit,
// then letters, digits, dots and dashes, at most MaxNameLength bytes.
// ValidateName must agree with it on every input, so an accepted name is
// always one plain directory entry.
func nameOK(name string) bool {
	if name == "" || len(name) > host.MaxNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '-') {
			return false
		}
	}
	return true
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "dev", "a.b-c", "Default-2.example.com", "", ".", "..", "-", "-a", ".a",
		"a/b", "../x", "a\x00b", "a\n", "a\nb", "é", "a b", "a_b", strings.Repeat("a", host.MaxNameLength), strings.Repeat("a", host.MaxNameLength+1), strings.Repeat("a", 300), "a..", "0-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := host.ValidateName(name)
		require.Equal(t, nameOK(name), err == nil, "ValidateName(%q) = %v", name, err)
		if err != nil {
			var long *host.NameTooLongError
			if !errors.As(err, &long) {
				require.ErrorIs(t, err, host.ErrInvalidHostname)
			}
			require.True(t, strings.HasPrefix(err.Error(), "Invalid hostname specified."), "%v", err)
			return
		}
		require.Equal(t, name, filepath.Base(name), "an accepted name is a single path element")
		require.NotContains(t, []string{".", ".."}, name)
	})
}

// decodeDir is the machine directory every fuzzed config claims to come
// from.
const decodeDir = oldStore + "/machines/fz"

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic; what
// it accepts is a current (version 3) config: re-encoded and decoded
// again it is not migrated a second time and encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	require.NoError(f, err)
	for _, e := range entries {
		if !e.IsDir() {
			b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
			require.NoError(f, err)
			f.Add(b)
		}
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"ConfigVersion": 3}`, `{"ConfigVersion": -1, "HostOptions": {"AuthOptions": {}}}`,
		`{"ConfigVersion": 3, "Driver": null, "HostOptions": {}}`,
		`{"ConfigVersion": 2, "Driver": null, "HostOptions": {"AuthOptions": {}}}`,
		`{"ConfigVersion": 1, "Driver": {"StorePath": 7}, "HostOptions": {"AuthOptions": {"StorePath": "/"}}}`,
		`{"configversion": 1, "driver": {}, "hostoptions": {"authoptions": {"privatekeypath": "/k"}}, "StorePath": "x"}`,
		`{"Driver": {"IPAddress": "1.2.3.4"}, "DriverName": "generic", "CaCertPath": "/c", "SwarmMaster": true}`,
		`{"ConfigVersion": 9007199254740993, "HostOptions": {}}`,
		`{"ConfigVersion": 3, "HostOptions": {"EngineOptions": null, "SwarmOptions": null, "AuthOptions": null}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, migrated, err := host.Decode(data, decodeDir)
		if err != nil {
			require.Nil(t, s)
			require.False(t, migrated)
			require.NotEmpty(t, err.Error())
			return
		}
		require.NotNil(t, s)
		assert.Equal(t, "fz", s.Name, "the name comes from the directory")
		require.NotNil(t, s.HostOptions)
		require.NotNil(t, s.HostOptions.EngineOptions)
		require.NotNil(t, s.HostOptions.SwarmOptions)
		require.NotNil(t, s.HostOptions.AuthOptions)
		if migrated {
			assert.Equal(t, host.ConfigVersion, s.ConfigVersion, "migration ends at the current version")
			assert.NotEmpty(t, s.HostOptions.AuthOptions.StorePath)
			assert.NotEmpty(t, s.HostOptions.AuthOptions.CertDir)
		} else {
			assert.Equal(t, host.ConfigVersion, s.ConfigVersion)
		}

		first, err := json.Marshal(s)
		require.NoError(t, err)
		again, migrated2, err := host.Decode(first, decodeDir)
		require.NoError(t, err, "re-decoding %s", first)
		assert.False(t, migrated2, "a re-encoded config is current")
		second, err := json.Marshal(again)
		require.NoError(t, err)
		if !bytes.Equal(first, second) {
			t.Fatalf("decode is not stable:\nfirst  %s\nsecond %s", first, second)
		}
	})
}
