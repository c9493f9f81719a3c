package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// GenerateKeyPair writes a new ed25519 key pair: the private key at
// privPath in OpenSSH format and the public key at privPath+".pub" in
// authorized_keys format, both mode 0600. It never overwrites: when either
// file exists the error wraps fs.ErrExist.
func GenerateKeyPair(privPath string) error {
	pubPath := privPath + ".pub"
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("generating ssh key: %s: %w", p, fs.ErrExist)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generating ssh key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return fmt.Errorf("encoding ssh key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("encoding ssh key: %w", err)
	}
	if err := writeNew(privPath, pem.EncodeToMemory(block)); err != nil {
		return err
	}
	if err := writeNew(pubPath, ssh.MarshalAuthorizedKey(sshPub)); err != nil {
		os.Remove(privPath)
		return err
	}
	return nil
}

// writeNew creates path exclusively with mode 0600 and syncs it.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("writing ssh key: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing ssh key %s: %w", path, err)
	}
	return nil
}

// PublicKey returns the authorized_keys line (without trailing newline)
// of the key pair at privPath: from privPath+".pub" when present, else
// derived from the (unencrypted) private key.
func PublicKey(privPath string) (string, error) {
	data, err := os.ReadFile(privPath + ".pub")
	if err == nil {
		if _, _, _, _, perr := ssh.ParseAuthorizedKey(data); perr != nil {
			return "", fmt.Errorf("parsing %s.pub: %w", privPath, perr)
		}
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading public key: %w", err)
	}
	data, err = os.ReadFile(privPath)
	if err != nil {
		return "", fmt.Errorf("reading ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return "", fmt.Errorf("parsing ssh key %s: %w", privPath, err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
}
