package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLinkSibling(t *testing.T) {
	if reason := noLinks(); reason != "" {
		t.Skip(reason)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "m")
	// The link is made before its target, as the store does.
	require.NoError(t, LinkSibling(".staging-1", link))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.True(t, IsLink(fi.Mode()), "mode %v", fi.Mode())
	got, err := ReadSiblingLink(link)
	require.NoError(t, err)
	assert.Equal(t, ".staging-1", got)

	require.NoError(t, os.Mkdir(filepath.Join(dir, ".staging-1"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(link, "config.json"), []byte("{}"), 0o600))
	assert.FileExists(t, filepath.Join(dir, ".staging-1", "config.json"), "writes through the link land in the target")

	err = LinkSibling(".staging-2", link)
	assert.True(t, errors.Is(err, fs.ErrExist), "a second link of one name fails: %v", err)

	// Listings show the link as a link, not as a directory.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.Equal(t, e.Name() == "m", IsLink(e.Type()), e.Name())
		assert.Equal(t, e.Name() != "m", e.IsDir(), e.Name())
	}

	// Removing the link leaves the target.
	require.NoError(t, os.Remove(link))
	assert.FileExists(t, filepath.Join(dir, ".staging-1", "config.json"))
	_, err = ReadSiblingLink(filepath.Join(dir, ".staging-1"))
	assert.Error(t, err, "a directory is no link")
}
