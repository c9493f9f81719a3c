package persist

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 8191, 8192, 8193, 100_000} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		p := filepath.Join(dir, "f")
		require.NoError(t, os.WriteFile(p, data, 0o600))
		got, err := readFile(p)
		require.NoError(t, err, size)
		assert.Equal(t, data, got, size)
	}
	_, err := readFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	var pe *fs.PathError
	assert.ErrorAs(t, err, &pe)
	_, err = readFile(dir)
	assert.Error(t, err, "a directory is not a file")
}
