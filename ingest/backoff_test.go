package ingest

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestBackoffNext(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{"doubles up to max", Backoff{Min: s, Max: 10 * s}, []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s}},
		{"zero means 1s to 5m", Backoff{}, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 300 * s, 300 * s}},
		{"max below min", Backoff{Min: 3 * s, Max: s}, []time.Duration{3 * s, 3 * s}},
		{"full jitter at r=0.5", Backoff{Min: s, Max: 4 * s, Jitter: 1, Rand: func() float64 { return 0.5 }}, []time.Duration{s / 2, s, 2 * s, 2 * s}},
		{"half jitter at r~1", Backoff{Min: s, Max: 4 * s, Jitter: 0.5, Rand: func() float64 { return 0.999999 }}, []time.Duration{500000500, 1000001000, 2000002000}},
		{"jitter above 1 is 1", Backoff{Min: s, Jitter: 7, Rand: func() float64 { return 0.25 }}, []time.Duration{750 * time.Millisecond}},
	}
	for _, tt := range tests {
		b := tt.b
		var got []time.Duration
		for range tt.want {
			got = append(got, b.Next())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Next() x%d = %v, want %v", tt.name, len(tt.want), got, tt.want)
		}
		if b.Attempts() != len(tt.want) {
			t.Errorf("%s: Attempts() = %d, want %d", tt.name, b.Attempts(), len(tt.want))
		}
	}
}

func TestBackoffResetAndManyAttempts(t *testing.T) {
	b := NewBackoff(time.Millisecond, time.Hour)
	b.Rand = func() float64 { return 0 }
	for range 10_000 { // no overflow into negative or zero delays
		if d := b.Next(); d <= 0 || d > time.Hour {
			t.Fatalf("Next() after %d attempts = %v, want within (0, 1h]", b.Attempts(), d)
		}
	}
	b.Reset()
	if d := b.Next(); d != time.Millisecond {
		t.Errorf("Next() after Reset = %v, want 1ms", d)
	}
}

func TestBackoffJitterStaysInRange(t *testing.T) {
	b := NewBackoff(time.Second, time.Second)
	for range 1000 {
		if d := b.Next(); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("Next() = %v, want within [500ms, 1s] with jitter 0.5", d)
		}
	}
}

func TestSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Errorf("Sleep(cancelled, 1h) = true, want false")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Errorf("Sleep(background, 1ms) = false, want true")
	}
}
