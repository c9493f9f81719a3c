package b2d

import (
	"archive/tar"
	"bytes"
)

// FormatMeMagic is the name of the first file of a new boot2docker disk:
// boot2docker's automount script formats a disk that starts with it and
// unpacks the rest of the tar into the new file system (the SSH key of
// the docker user).
const FormatMeMagic = "boot2docker, please format-me"

// FormatMeTar returns the start of a new boot2docker VM's disk: a tar
// with the magic file first, then .ssh/authorized_keys and
// .ssh/authorized_keys2 holding pubKey (an authorized_keys line). The
// rest of the disk is zeros.
func FormatMeTar(pubKey []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		hdr  tar.Header
		data []byte
	}{
		{tar.Header{Name: FormatMeMagic, Mode: 0o644, Size: int64(len(FormatMeMagic))}, []byte(FormatMeMagic)},
		{tar.Header{Name: ".ssh", Typeflag: tar.TypeDir, Mode: 0o700}, nil},
		{tar.Header{Name: ".ssh/authorized_keys", Mode: 0o644, Size: int64(len(pubKey))}, pubKey},
		{tar.Header{Name: ".ssh/authorized_keys2", Mode: 0o644, Size: int64(len(pubKey))}, pubKey},
	}
	for _, f := range files {
		h := f.hdr
		h.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
