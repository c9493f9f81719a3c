// Package provision turns a machine a driver created into a Docker host
// over SSH: OS detection, hostname, Docker installation, TLS
// certificates, daemon configuration and restart, and a client-side TLS
// check that the daemon answers.
//
// # Connection
//
// The package has no SSH code. Runner.Connect supplies a Commander (one
// SSH connection, opened after waiting for SSH); every remote step of an
// operation goes through it. Scripts run as root and go on stdin behind
// one fixed command line (scriptCommand), prefixed with `sudo -n` when
// the SSH user is not root: the certificates and the server key they
// upload are never an argument of a local or remote process. sudo is
// never installed.
//
// # Stages
//
// Run performs an operation as a fixed list of named stages, the
// session's (check host, connect, detect os) and then the operation's
// (runner.go: sessionStages, operations; Stages lists them). A failed
// stage is a *StageError: its text is the one users have always seen
// ("Error running provisioning: ..."), its Stage names the stage
// ("provision: install docker").
//
// # Round trips
//
// An operation is a handful of commands:
//
//   - probe (read-only): os-release, hostname, /etc/hosts, the dockerd and
//     docker paths, curl/wget/systemctl, docker.service state, and the
//     sha256 of every file docker-machine manages;
//   - install (only when dockerd is missing);
//   - configure (only when something differs): hostname, the changed
//     files, daemon-reload, restart, enable — one script;
//   - diagnostics (only when the daemon does not come up).
//
// A host that is already provisioned costs one command (the probe) and a
// TLS ping.
//
// # Detection order
//
// Detect tries, in this order: boot2docker, coreOS (Flatcar, Fedora/RHEL CoreOS), amzn,
// fedora, the RHEL family, ubuntu(systemd), debian, arch, SUSE, then the
// first ID_LIKE word naming ubuntu, debian or fedora. The order is fixed
// (the original iterated a Go map).
//
// # Daemon configuration
//
// systemd hosts get /etc/systemd/system/docker.service.d/10-machine.conf
// with ExecStart cleared and set to the dockerd found on the host
// (Debian's docker.io has /usr/sbin/dockerd, docker-ce /usr/bin/dockerd),
// listening on tcp://0.0.0.0:<port> and unix:///var/run/docker.sock —
// not fd://, so socket activation cannot hand it the old socket.
// --storage-driver is passed only when the user chose one: dockerd picks
// overlay2 itself where it works and keeps the driver of existing data.
// boot2docker gets /var/lib/boot2docker/profile.
//
// Restart order on systemd: write the drop-in, daemon-reload, stop
// docker.socket, restart docker, enable docker. docker0 is never deleted
// (the original deleted it after stopping Docker, which cut running
// containers off for nothing: dockerd reconciles its bridge at start).
//
// # Idempotence
//
// Files are written only when their remote sha256 differs; the server
// certificate is kept while it loads with its key, chains to the current
// CA, is valid for 30 more days and names exactly the wanted SANs
// (--tls-san values, the machine IP, localhost); Docker is restarted only
// when its configuration or certificates changed, or when it does not
// answer. Result reports what changed.
package provision
