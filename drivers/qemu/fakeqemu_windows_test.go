package qemu

// stdoutToDevNull: qemu for Windows does not daemonize, and the driver
// gives it the log file as standard output already.
func stdoutToDevNull() {}
