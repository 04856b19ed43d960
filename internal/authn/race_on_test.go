//go:build race

package authn

// raceEnabled: under the race detector sync.Pool drops a share of what it
// is given on purpose, so allocation counts through a pool do not hold.
const raceEnabled = true
