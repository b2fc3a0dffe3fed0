package verbs

import "time"

// SetArmedHook sets the hook Wait runs between arming the CQ and polling
// it again (nil removes it).
func SetArmedHook(f func(*CQ)) { armedHook = f }

// Len is the number of completions the CQ holds, without taking them.
func (cq *CQ) Len() int { return cq.cq.Len() }

// SpinBudget is PollWait's current busy-poll budget.
func (cq *CQ) SpinBudget() time.Duration { return time.Duration(cq.spin.Load()) }
