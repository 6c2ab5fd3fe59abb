//go:build race

package bench

// raceEnabled shortens the hit-ratio trace under the race detector, which
// slows the replay about 15×.
const raceEnabled = true
