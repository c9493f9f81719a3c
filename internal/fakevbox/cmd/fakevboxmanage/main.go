// Command fakevboxmanage is the fake VBoxManage of package fakevbox as a
// program of its own (installed as VBoxManage by fakevbox.RunTests): a
// small binary starts faster than a test binary, which tests run for
// every VBoxManage command.
package main

import (
	"os"

	"github.com/docker-machine-ng/machine/internal/fakevbox"
)

func main() {
	fakevbox.MainIfCalled()
	os.Exit(fakevbox.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
