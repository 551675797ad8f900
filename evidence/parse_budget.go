package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jhillyerd/enmime/v2"
)

// errBudget is what readParts returns when the run's deadline passed.
var errBudget = errors.New("the parse ran out of its budget")

// maxAbandoned bounds the enmime calls left running after their parse ran
// out of time. While that many run, no new call is started: messages are
// streamed instead, so abandoned work cannot pile up.
const maxAbandoned = 2

// abandoned counts the enmime calls still running for a parse that gave
// up on them.
var abandoned atomic.Int32

// enmimeReadParts is enmime's parse; tests put a stuck one in its place.
var enmimeReadParts = fullParser.ReadParts

// enmimeDone is the outcome of one enmime call.
type enmimeDone struct {
	root  *enmime.Part
	err   error
	panic any
}

// readParts runs enmime over input within the run's budget.
//
// enmime takes no context and its ReadParts is one synchronous call whose
// cost, for a shape nobody has thought of yet, may be quadratic: checking
// the clock between our own steps cannot cut it short. So it runs in a
// goroutine, and when the deadline passes first the parse stops waiting
// and the call is abandoned to finish on its own. At most maxAbandoned
// are left running at a time; beyond that, messages are streamed. An
// abandoned call keeps reading input, so input must be the parse's own
// memory: the caller's (ParseBytes) is copied first, a memmove that costs
// little beside enmime's own work.
func (run *parseRun) readParts(input []byte) (*enmime.Part, error) {
	if run.over() {
		return nil, errBudget
	}
	if abandoned.Load() >= maxAbandoned {
		return nil, &tooComplexError{fmt.Sprintf("%d earlier parses that ran out of time are still in the in-memory parser", maxAbandoned)}
	}
	if aliases(input, run.borrowed) {
		input = bytes.Clone(input)
	}
	done := make(chan enmimeDone, 1) // buffered: an abandoned call must not block
	go func() {
		var d enmimeDone
		defer func() {
			if r := recover(); r != nil {
				d = enmimeDone{panic: r}
			}
			done <- d
		}()
		d.root, d.err = enmimeReadParts(bytes.NewReader(input))
	}()
	timer := time.NewTimer(time.Until(run.deadline))
	defer timer.Stop()
	select {
	case d := <-done:
		if d.panic != nil {
			panic(d.panic) // parse's recover records it as a warning
		}
		return d.root, d.err
	case <-timer.C:
		run.expired = true
		abandoned.Add(1)
		go func() {
			<-done
			abandoned.Add(-1)
		}()
		return nil, errBudget
	}
}

// aliases reports whether a is a tail of b's memory (b[k:], the only way
// the parse slices the caller's message), by comparing their arrays' ends.
func aliases(a, b []byte) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return false
	}
	return &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}
