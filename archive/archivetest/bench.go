package archivetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
)

// BenchmarkPut measures Put of new 8 KiB and 1 MiB objects into s, one at
// a time and from 4 goroutines per CPU, as the poll loop's workers would.
// Callers pass the SHA-256, as the evidence builder does.
func BenchmarkPut(b *testing.B, s archive.Store) {
	var seq atomic.Int64
	run := strings.ToLower(rand.Text())[:8] // keys unique across -count runs
	for _, size := range []int{8 << 10, 1 << 20} {
		data := Data(uint64(size), size)
		opts := archive.PutOptions{SHA256: Sum(data), ContentType: "application/zip"}
		putOne := func() error {
			key := fmt.Sprintf("bench/%s/%d.zip", run, seq.Add(1))
			info, err := s.Put(context.Background(), key, bytes.NewReader(data), int64(size), opts)
			if err == nil && info.Existed {
				err = fmt.Errorf("Put(%s) found the key taken", key)
			}
			return err
		}
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := putOne(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := putOne(); err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
				}
			})
		})
	}
}
