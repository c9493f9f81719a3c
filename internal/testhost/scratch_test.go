package testhost

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	cmds := os.Getenv("SCRATCH")
	if cmds == "" {
		t.Skip()
	}
	h := StartNspawn(t, Options{Flavour: Flavour(os.Getenv("SCRATCH_FLAVOUR"))})
	for _, c := range strings.Split(cmds, ";;") {
		s := time.Now()
		out, err := h.Run(c)
		t.Logf("%s: %s err=%v\n%s", c, time.Since(s).Round(time.Millisecond), err, lastLines(out, 5))
	}
}
