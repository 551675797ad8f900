package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpool(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"message", dkimMessage},
		{"larger than a copy buffer", strings.Repeat("0123456789abcdef", 10_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sf, err := Spool(context.Background(), strings.NewReader(tt.data), dir)
			if err != nil {
				t.Fatalf("Spool() error = %v", err)
			}
			sum := sha256.Sum256([]byte(tt.data))
			if got, want := sf.SHA256(), hex.EncodeToString(sum[:]); got != want {
				t.Errorf("SHA256() = %s, want %s", got, want)
			}
			if got := sf.Size(); got != int64(len(tt.data)) {
				t.Errorf("Size() = %d, want %d", got, len(tt.data))
			}
			got, err := io.ReadAll(sf.Reader())
			if err != nil || string(got) != tt.data {
				t.Errorf("ReadAll(Reader()) = %d bytes, %v; want the %d bytes spooled", len(got), err, len(tt.data))
			}
			if filepath.Dir(sf.Name()) != dir {
				t.Errorf("Name() = %s, want a file in %s", sf.Name(), dir)
			}
			if err := sf.Close(); err != nil {
				t.Errorf("Close() error = %v", err)
			}
			if err := sf.Close(); err != nil {
				t.Errorf("second Close() error = %v, want nil", err)
			}
			assertEmptyDir(t, dir)
		})
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestSpoolFailureLeavesNothing(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		r       io.Reader
		wantErr string
	}{
		{"read error midway", context.Background(), &failingReader{n: 100_000}, "connection reset"},
		{"context canceled", canceled, strings.NewReader("x"), context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sf, err := Spool(tt.ctx, tt.r, dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Spool() = %v, %v; want an error containing %q", sf, err, tt.wantErr)
			}
			assertEmptyDir(t, dir)
		})
	}
	if _, err := Spool(context.Background(), strings.NewReader("x"), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("Spool(missing dir) error = nil, want an error")
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s left in %s", e.Name(), dir)
	}
}
