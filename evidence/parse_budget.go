package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/jhillyerd/enmime/v2"
)

// errBudget is what readParts returns when the run's deadline passed.
var errBudget = errors.New("the parse ran out of its budget")

// maxAbandoned bounds the enmime calls left running after their parse ran
// out of time: while that many are, no new call starts and messages are
// streamed instead, so abandoned work cannot pile up. Any running call may
// come to be abandoned, so the bound is taken when a call starts: at most
// enmimeSlots() calls run at a time, abandoned or not, and further workers
// wait for one to return.
const maxAbandoned = 2

// enmimeSlotCount is how many enmime calls may run at once: one per core
// the process may use, and at least maxAbandoned. enmime is CPU-bound, so
// more calls at once would only queue for the cores; fewer would idle them
// on a larger machine.
func enmimeSlotCount() int {
	return max(maxAbandoned, runtime.GOMAXPROCS(0))
}

// enmimeSlots counts the enmime calls running, and of them those
// abandoned. A mutex rather than two atomics: a call is started only if
// both counts allow it, and a check then an add would let several
// workers start past the bound together.
var enmimeSlots struct {
	sync.Mutex
	running   int
	abandoned int
	changed   chan struct{} // closed, and replaced, when either count changes
}

// slotsChanged wakes the calls waiting in takeSlot to look again; the
// caller holds enmimeSlots' lock.
func slotsChanged() {
	if enmimeSlots.changed != nil {
		close(enmimeSlots.changed)
		enmimeSlots.changed = nil
	}
}

// abandonedCalls returns how many abandoned enmime calls are still running.
func abandonedCalls() int {
	enmimeSlots.Lock()
	defer enmimeSlots.Unlock()
	return enmimeSlots.abandoned
}

// takeSlot waits for one of the enmimeSlotCount slots to run enmime in.
// When every slot is held by an abandoned call it does not wait (they may
// run for minutes): the message is streamed. Otherwise it waits until a
// call returns or is abandoned, or the timer fires.
func takeSlot(timer <-chan time.Time) error {
	for {
		enmimeSlots.Lock()
		if enmimeSlots.abandoned >= maxAbandoned {
			enmimeSlots.Unlock()
			return &tooComplexError{fmt.Sprintf("%d earlier parses that ran out of time are still in the in-memory parser", maxAbandoned)}
		}
		if enmimeSlots.running < enmimeSlotCount() {
			enmimeSlots.running++
			enmimeSlots.Unlock()
			return nil
		}
		if enmimeSlots.changed == nil {
			enmimeSlots.changed = make(chan struct{})
		}
		changed := enmimeSlots.changed
		enmimeSlots.Unlock()
		select {
		case <-changed:
		case <-timer:
			return errBudget
		}
	}
}

// releaseSlot frees the slot of a call that returned; abandoned says
// whether its parse had given up on it.
func releaseSlot(abandoned bool) {
	enmimeSlots.Lock()
	defer enmimeSlots.Unlock()
	enmimeSlots.running--
	if abandoned {
		enmimeSlots.abandoned--
	}
	slotsChanged()
}

// abandonSlot marks a running call abandoned. A waiter wakes to see
// whether every slot is now abandoned, and then streams its message
// rather than wait out its budget.
func abandonSlot() {
	enmimeSlots.Lock()
	defer enmimeSlots.Unlock()
	enmimeSlots.abandoned++
	slotsChanged()
}

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
// and the call is abandoned: it cannot be stopped, and keeps running
// (and using a core) until enmime returns. Each call holds one of
// maxAbandoned slots while it runs, abandoned or not (takeSlot), so at
// most maxAbandoned are left running at a time; while that many are,
// messages are streamed. An abandoned call keeps reading input, so input must be the parse's own
// memory: the caller's (ParseBytes) is copied first, a memmove that costs
// little beside enmime's own work.
func (run *parseRun) readParts(input []byte) (*enmime.Part, error) {
	if run.over() {
		return nil, errBudget
	}
	timer := time.NewTimer(time.Until(run.deadline))
	defer timer.Stop()
	if err := takeSlot(timer.C); err != nil {
		if errors.Is(err, errBudget) {
			run.expired = true
		}
		return nil, err
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
	select {
	case d := <-done:
		releaseSlot(false)
		if d.panic != nil {
			panic(d.panic) // parse's recover records it as a warning
		}
		return d.root, d.err
	case <-timer.C:
		run.expired = true
		abandonSlot()
		go func() {
			<-done
			releaseSlot(true)
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
