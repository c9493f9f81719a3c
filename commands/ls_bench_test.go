package commands

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/docker-machine-ng/machine/drivers/none"
)

// benchStore creates a store with n none machines at a URL where nothing
// listens: one made by create, the others copies of it (as bench/ls.sh
// does).
func benchStore(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	url := "tcp://" + l.Addr().String()
	l.Close()
	getenv := func(k string) string {
		switch k {
		case "MACHINE_STORAGE_PATH":
			return root
		case "SHELL":
			return "/bin/bash"
		}
		return ""
	}
	var out bytes.Buffer
	code := Run(context.Background(), Env{
		// --storage-path: the flag's environment source is the process
		// environment, not Env.Getenv.
		Args:   []string{"docker-machine", "--storage-path", root, "create", "-d", "none", "--url", url, "m0"},
		Stdin:  strings.NewReader(""),
		Stdout: &out, Stderr: &out, Getenv: getenv,
	})
	if code != 0 {
		b.Fatalf("create: %s", out.String())
	}
	dir0 := filepath.Join(root, "machines", "m0")
	files := map[string][]byte{}
	for _, f := range []string{"config.json", "ca.pem", "cert.pem", "key.pem"} {
		files[f], err = os.ReadFile(filepath.Join(dir0, f))
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := 1; i < n; i++ {
		name := fmt.Sprintf("m%d", i)
		dir := filepath.Join(root, "machines", name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		for f, data := range files {
			if f == "config.json" {
				data = bytes.ReplaceAll(data, []byte("/machines/m0"), []byte("/machines/"+name))
				data = bytes.ReplaceAll(data, []byte(`"m0"`), []byte(`"`+name+`"`))
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root
}

func benchmarkCommand(b *testing.B, n int, args ...string) {
	root := benchStore(b, n)
	getenv := func(k string) string {
		switch k {
		case "MACHINE_STORAGE_PATH":
			return root
		case "SHELL":
			return "/bin/bash"
		}
		return ""
	}
	var errOut bytes.Buffer
	b.ResetTimer()
	for b.Loop() {
		errOut.Reset()
		code := Run(context.Background(), Env{
			Args:  append([]string{"docker-machine", "--storage-path", root}, args...),
			Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errOut, Getenv: getenv,
		})
		if code != 0 {
			b.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
	}
}

// go test ./commands -run '^$' -bench Ls -cpuprofile cpu.out
func BenchmarkLs100(b *testing.B)       { benchmarkCommand(b, 100, "ls") }
func BenchmarkLs1000(b *testing.B)      { benchmarkCommand(b, 1000, "ls") }
func BenchmarkLsQuiet1000(b *testing.B) { benchmarkCommand(b, 1000, "ls", "-q") }

// env and config also dial the daemon; bench/env.sh measures them.
func BenchmarkURL1000(b *testing.B) { benchmarkCommand(b, 1000, "url", "m500") }
