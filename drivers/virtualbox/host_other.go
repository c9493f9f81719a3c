//go:build !linux && !darwin && !windows

package virtualbox

func vtxDisabled() bool  { return false }
func hyperVActive() bool { return false }

func defaultShare() (dir, name string) { return "", "" }
