//go:build race

package main

// raceEnabled reports whether the tests run under the race detector, which
// multiplies CPU costs: latency bounds of the long tests do not hold there.
const raceEnabled = true
