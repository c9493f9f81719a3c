// Package version holds the program version, set at build time.
package version

// Version is the release this source tree builds.
var Version = "0.17.0-dev"

// GitCommit is set with -ldflags "-X .../version.GitCommit=<sha>".
var GitCommit = "unknown"

// Full returns "<Version>, build <GitCommit>", the original's format.
func Full() string { return Version + ", build " + GitCommit }
