package ingest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingProcessor holds every Process call until release is closed.
type blockingProcessor struct {
	release chan struct{}
	mu      sync.Mutex
	seen    int
}

func (b *blockingProcessor) Process(ctx context.Context, m *Message) (Destination, error) {
	<-b.release
	b.mu.Lock()
	b.seen++
	b.mu.Unlock()
	return Destination("accepted"), nil
}

func (*blockingProcessor) Moved(context.Context, []*Message, string) error { return nil }
func (*blockingProcessor) Unmoved(context.Context, string, string) ([]Unmoved, error) {
	return nil, nil
}
func (*blockingProcessor) Sync(context.Context) error { return nil }

// The messages held in memory that wait for the workers, and those in
// hand, never hold more than BatchBytes: the fetcher waits instead, however
// many the queue could take.
func TestWorkersQueueBoundedInBytes(t *testing.T) {
	const (
		msgBytes = 30 << 10
		budget   = 100 << 10 // three messages fit, the fourth waits
		total    = 10
	)
	s := &IMAPSource{opts: (&IMAPOptions{Workers: 1, BatchSize: 10, BatchBytes: budget}).withDefaults()}
	p := &blockingProcessor{release: make(chan struct{})}
	ctx := context.Background()
	w := s.startWorkers(ctx, p)

	var handed atomic.Int32
	var outcomes []*outcome
	fetched := make(chan error, 1)
	go func() {
		for i := range total {
			o, err := w.hand(ctx, &Message{UID: uint32(i + 1), Size: msgBytes, Data: make([]byte, msgBytes)})
			if err != nil {
				fetched <- err
				return
			}
			outcomes = append(outcomes, o)
			handed.Add(1)
		}
		fetched <- nil
	}()

	const fit = budget / msgBytes
	deadline := time.Now().Add(10 * time.Second)
	for handed.Load() < fit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // time for a wrongly admitted fourth
	if n := handed.Load(); n != fit {
		t.Fatalf("%d messages of %d bytes handed to a stuck worker with a %d-byte budget; want %d", n, msgBytes, budget, fit)
	}

	close(p.release)
	select {
	case err := <-fetched:
		if err != nil {
			t.Fatalf("hand: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the fetcher still waits for the budget after the worker finished; %d of %d handed", handed.Load(), total)
	}
	w.stop()
	for i, o := range outcomes {
		<-o.done
		if o.err != nil || o.dest != "accepted" {
			t.Errorf("message %d: dest %q, err %v", i+1, o.dest, o.err)
		}
	}
	if p.seen != total {
		t.Errorf("processed %d messages, want %d", p.seen, total)
	}
	if w.queued.free != budget {
		t.Errorf("budget left with %d of %d bytes free after the pass", w.queued.free, budget)
	}
}

// A message handed when ctx has ended is not queued, and gives back its
// bytes.
func TestWorkersHandAfterCancel(t *testing.T) {
	s := &IMAPSource{opts: (&IMAPOptions{Workers: 1, BatchSize: 1, BatchBytes: 1 << 20}).withDefaults()}
	p := &blockingProcessor{release: make(chan struct{})}
	w := s.startWorkers(context.Background(), p)
	ctx, cancel := context.WithCancel(context.Background())
	// The worker takes the first and blocks, the next fill the queue: the
	// last can only wait, and the cancel ends its wait.
	for i := range 1 + queuedBatches {
		if _, err := w.hand(ctx, &Message{UID: uint32(i + 1), Data: make([]byte, 10)}); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	o, err := w.hand(ctx, &Message{UID: 99, Data: make([]byte, 10)})
	if err == nil {
		t.Fatal("hand after cancel: no error")
	}
	<-o.done
	if o.err == nil {
		t.Error("outcome of a message not queued has no error")
	}
	close(p.release)
	w.stop()
	if w.queued.free != 1<<20 {
		t.Errorf("budget left with %d bytes free, want all %d", w.queued.free, 1<<20)
	}
}
