// Package swarm holds the (classic) Swarm options recorded for a machine.
package swarm

const (
	// DefaultHost is where a swarm master listens.
	DefaultHost = "tcp://0.0.0.0:3376"
	// DefaultImage is the swarm image.
	DefaultImage = "swarm:latest"
	// DefaultStrategy is the scheduling strategy of a master.
	DefaultStrategy = "spread"
)

// Options mirror the original's SwarmOptions in config.json.
type Options struct {
	IsSwarm            bool
	Address            string
	Discovery          string
	Agent              bool
	Master             bool
	Host               string
	Image              string
	Strategy           string
	Heartbeat          int
	Overcommit         float64
	ArbitraryFlags     []string
	ArbitraryJoinFlags []string
	Env                []string
	IsExperimental     bool
}
