package topology

import (
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a topology, located in its file.
type Problem struct {
	// File and Line locate the problem; File is empty for a topology built
	// in code, Line is 0 when no line applies.
	File string
	Line int
	// Msg says what is wrong, in lower case, without the location.
	Msg string
	// Err is the underlying error, if any (an include that cannot be
	// opened wraps the fs error), so errors.Is sees through a Problem.
	Err error
}

// Error formats the problem as FILE:LINE: message (FILE: message without a
// line, the bare message without a file).
func (p Problem) Error() string {
	switch {
	case p.File != "" && p.Line > 0:
		return p.File + ":" + strconv.Itoa(p.Line) + ": " + p.Msg
	case p.File != "":
		return p.File + ": " + p.Msg
	}
	return p.Msg
}

// Unwrap returns the underlying error.
func (p Problem) Unwrap() error { return p.Err }

// ErrorList is every problem found in a topology, in file order. Parse,
// Load, LoadFS and Topology.Validate return one (as *ErrorList) instead of
// stopping at the first problem.
type ErrorList struct {
	Problems []Problem
}

// Error prints one problem per line.
func (l *ErrorList) Error() string {
	var b strings.Builder
	for i, p := range l.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems as errors, so errors.Is and errors.As look
// into each (the same shape as errors.Join).
func (l *ErrorList) Unwrap() []error {
	errs := make([]error, len(l.Problems))
	for i, p := range l.Problems {
		errs[i] = p
	}
	return errs
}

// problems collects Problems with a sort key: files rank in the order they
// were first opened, then lines, then discovery order.
type problems struct {
	list []rankedProblem
	rank map[string]int
}

type rankedProblem struct {
	Problem
	rank, seq int
}

func (ps *problems) fileRank(file string) int {
	if ps.rank == nil {
		ps.rank = make(map[string]int)
	}
	r, ok := ps.rank[file]
	if !ok {
		r = len(ps.rank)
		ps.rank[file] = r
	}
	return r
}

func (ps *problems) add(file string, line int, err error, msg string) {
	ps.list = append(ps.list, rankedProblem{
		Problem: Problem{File: file, Line: line, Msg: msg, Err: err},
		rank:    ps.fileRank(file),
		seq:     len(ps.list),
	})
}

// err is the sorted *ErrorList, or nil when there are no problems.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.seq < b.seq
	})
	l := &ErrorList{Problems: make([]Problem, len(ps.list))}
	for i, p := range ps.list {
		l.Problems[i] = p.Problem
	}
	return l
}

// DiffError is Compare's answer when two topologies differ: one readable
// line per difference.
type DiffError struct {
	Diffs []string
}

// Error prints "topology: graphs differ:" and the differences, one per
// line.
func (e *DiffError) Error() string {
	return "topology: graphs differ:\n\t" + strings.Join(e.Diffs, "\n\t")
}
