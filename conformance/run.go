package conformance

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
)

// ErrUnknownCheck is returned by Run for an Options.Only naming no check.
var ErrUnknownCheck = errors.New("conformance: no such check")

// Options tunes Run.
type Options struct {
	// MaxNodes bounds the nodes the walk checks (0: every node it finds).
	MaxNodes int
	// Only, when not empty, lists the IDs of the checks to run.
	Only []string
	// Write runs the WriteChecks too: they change a node's state (an
	// M_Key) for a moment and restore it.
	Write bool
	// Parallel, when above 1, runs the Timed checks after the others, on
	// up to this many nodes at once (each node still sees one check at a
	// time); the Target must then be safe for concurrent use. At 0 or 1
	// every check runs node after node, in the order of Checks.
	Parallel int
}

// Report is what Run found.
type Report struct {
	Nodes   []*Node
	Results []Result
}

// Count returns how many results had outcome o.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, x := range r.Results {
		if x.Outcome == o {
			n++
		}
	}
	return n
}

// Failures returns the failed results.
func (r *Report) Failures() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Outcome == Fail {
			out = append(out, x)
		}
	}
	return out
}

// Run walks the fabric from t's port and runs the checks on every node
// it finds. A check that fails on one node does not stop the others; a
// target that stops answering makes the rest fail with its error. The
// error is for a walk that could not start, or a cancelled ctx.
func Run(ctx context.Context, t Target, opts Options) (*Report, error) {
	checks := Checks
	if opts.Write {
		checks = append(slices.Clip(Checks), WriteChecks...)
	}
	for _, id := range opts.Only {
		if !slices.ContainsFunc(checks, func(c *Check) bool { return c.ID == id }) {
			return nil, fmt.Errorf("%w: %q (the write checks need Write)", ErrUnknownCheck, id)
		}
	}
	c := NewConn(t)
	nodes, err := Walk(ctx, c, opts.MaxNodes)
	if err != nil {
		return nil, err
	}
	r := &Report{Nodes: nodes}
	for _, n := range nodes {
		if len(n.Path) == 0 {
			c.self = n
			break
		}
	}
	// timed are the indexes in r.Results of the Timed checks left for
	// the parallel phase.
	var timed []int
	for _, n := range nodes {
		for _, ch := range checks {
			if len(opts.Only) > 0 && !slices.Contains(opts.Only, ch.ID) {
				continue
			}
			if ch.Applies != nil && !ch.Applies(n) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return r, fmt.Errorf("conformance: %w", err)
			}
			res := Result{Node: n, Check: ch}
			if ch.Timed && opts.Parallel > 1 {
				timed = append(timed, len(r.Results))
				r.Results = append(r.Results, res)
				continue
			}
			runOne(ctx, c, &res)
			r.Results = append(r.Results, res)
		}
	}
	if len(timed) == 0 {
		return r, nil
	}
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	started := 0
	for _, i := range timed {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		started++
		wg.Add(1)
		go func(res *Result) {
			defer func() { <-sem; wg.Done() }()
			runOne(ctx, c, res)
		}(&r.Results[i])
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// As in the first phase, the checks never started have no
		// result.
		for _, i := range slices.Backward(timed[started:]) {
			r.Results = slices.Delete(r.Results, i, i+1)
		}
		return r, fmt.Errorf("conformance: %w", err)
	}
	return r, nil
}

// runOne runs res's check on res's node and records the outcome.
func runOne(ctx context.Context, c *Conn, res *Result) {
	var se *SkipError
	switch err := res.Check.Run(ctx, c, res.Node); {
	case err == nil:
	case errors.As(err, &se):
		res.Outcome, res.Detail = Skip, se.Reason
	default:
		res.Outcome, res.Detail = Fail, err.Error()
	}
}

// WriteText prints the report: one line per failed or skipped check
// (every check with verbose), then a summary line.
func (r *Report) WriteText(w io.Writer, verbose bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, x := range r.Results {
		if x.Outcome == Pass && !verbose {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Outcome, x.Check.ID, x.Node, x.Check.Ref, x.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "conformance: %d nodes, %d checks: %d passed, %d failed, %d skipped\n",
		len(r.Nodes), len(r.Results), r.Count(Pass), r.Count(Fail), r.Count(Skip))
	return err
}

// JUnit XML, as CI systems read it: one test suite, one test case per
// check and node, named "ID on NODE".
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: one test case per check run
// on a node (classname the check's ID, name the check and the node), a
// failure or skipped element with the detail and the IBTA section.
func (r *Report) WriteJUnit(w io.Writer, suite string) error {
	s := junitSuite{Name: suite, Tests: len(r.Results), Failures: r.Count(Fail), Skipped: r.Count(Skip)}
	for _, x := range r.Results {
		c := junitCase{Name: x.Check.ID + " on " + x.Node.String(), ClassName: x.Check.ID}
		m := &junitMessage{Message: x.Detail, Text: x.Check.Ref + ": " + x.Check.What}
		switch x.Outcome {
		case Fail:
			c.Failure = m
		case Skip:
			c.Skipped = m
		}
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return fmt.Errorf("conformance: write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
