//go:build !race

package attach

// dpRaceWrote tells the race detector of a raw write (see
// datapath_race.go); without it, nothing to do.
func dpRaceWrote() {}

// dpRaceRead tells the race detector of a read (see datapath_race.go).
func dpRaceRead() {}
