package ssh

// SetExternalBinary replaces the ssh binary of an external client (tests
// run it through a wrapper that records its argv).
func SetExternalBinary(c Client, bin string) { c.(*ExternalClient).binary = bin }

// ClientBinary is the ssh binary an external client runs.
func ClientBinary(c Client) string { return c.(*ExternalClient).binary }

// Unshared makes an external client connect per command, as it does on
// Windows (no ControlMaster there).
func Unshared(c Client) { c.(*ExternalClient).multiplex = false }
