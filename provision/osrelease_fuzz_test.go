package provision

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var osReleaseBare = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// encodeOSRelease writes one assignment as os-release(5) asks: a value of
// only letters and digits may stay bare; any other is enclosed in double
// quotes with " \ $ ` escaped by a backslash, or in single quotes when it
// has none. style picks among the allowed forms.
func encodeOSRelease(key, value string, style byte) string {
	switch {
	case style%3 == 0 && osReleaseBare.MatchString(value):
		return key + "=" + value
	case style%3 == 1 && !strings.Contains(value, "'"):
		return key + "='" + value + "'"
	}
	var b strings.Builder
	b.WriteString(key + `="`)
	for i := 0; i < len(value); i++ { // bytes: values need not be UTF-8
		if strings.IndexByte("\"\\$`", value[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	b.WriteString(`"`)
	return b.String()
}

// FuzzParseOSRelease: arbitrary text never panics and yields a field for
// every line the parser kept; a file written by encodeOSRelease, with
// comments, blank lines, other keys and an earlier decoy ID around it,
// gives back ID and VERSION_ID exactly as written.
func FuzzParseOSRelease(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "os-release"))
	require.NoError(f, err)
	for i, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "os-release", e.Name()))
		require.NoError(f, err)
		f.Add(string(b), "debian", "12", byte(i))
	}
	for _, s := range [][3]string{{"ID=\"", "ubuntu", "24.04"}, {"X='", "rocky", "9.3"}, {"\\", "a b", "1\\2"}, {"#", "\"q\"", "$x"},
		{"=\n==", "it's", "`v`"}, {"ID=x\r\n", "", " lead"}, {"A=\"b\\", "trail ", "é"}, {"\x00", "\t", "a'b\"c"}} {
		f.Add(s[0], s[1], s[2], byte(len(s[1])))
	}
	f.Fuzz(func(t *testing.T, text, id, version string, style byte) {
		o := ParseOSRelease(text)
		require.NotNil(t, o.Fields)
		require.Equal(t, o.Fields["ID"], o.ID)
		require.Equal(t, o.Fields["VERSION_ID"], o.VersionID)
		for k := range o.Fields {
			require.True(t, validKey(k), "key %q", k)
		}

		if strings.ContainsAny(id+version, "\n") {
			return // os-release values are one line
		}
		file := strings.Join([]string{
			"# written by FuzzParseOSRelease",
			encodeOSRelease("ID", "decoy", style>>2),
			"",
			`NAME="Some OS"`,
			encodeOSRelease("ID", id, style),
			"  " + encodeOSRelease("VERSION_ID", version, style>>4),
			"ID_LIKE=debian",
		}, "\n") + "\n"
		o = ParseOSRelease(file)
		require.Equal(t, id, o.ID, "ID from:\n%s", file)
		require.Equal(t, version, o.VersionID, "VERSION_ID from:\n%s", file)
		require.Equal(t, "Some OS", o.Name)
		require.Equal(t, []string{"debian"}, o.Like())
	})
}
