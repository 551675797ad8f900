// Package archivetest holds what the object stores' tests share: Run, the
// conformance suite every archive.Store passes; BenchmarkPut; and
// StartMinIO, a real MinIO server on 127.0.0.1 for integration tests.
package archivetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// Run runs the conformance suite against stores made by newStore, which
// must return a new, empty store each time it is called. Run closes each
// store when its subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) archive.Store) {
	open := func(t *testing.T) archive.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		})
		return s
	}
	for _, tc := range []struct {
		name string
		test func(*testing.T, archive.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"SameBytesIsNoOp", testSameBytes},
		{"DifferentBytesRefused", testDifferentBytes},
		{"Missing", testMissing},
		{"List", testList},
		{"ListStopsEarly", testListStopsEarly},
		{"HostileKeys", testHostileKeys},
		{"ConcurrentPuts", testConcurrentPuts},
		{"EmptyObject", testEmpty},
		{"LargeObject", testLarge},
		{"BadInput", testBadInput},
		{"ContextCanceled", testCanceled},
		{"LegalHold", testLegalHold},
		{"URL", testURL},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
}

// Data returns n pseudo-random bytes, the same for the same seed.
func Data(seed uint64, n int) []byte {
	b := make([]byte, n)
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(key).Read(b)
	return b
}

// Sum returns the lowercase hex SHA-256 of b, as ObjectInfo.SHA256 has it.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// onlyReader hides every method but Read, so a store cannot seek.
type onlyReader struct{ io.Reader }

func put(t *testing.T, s archive.Store, key string, data []byte) archive.ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%s) = %v", key, err)
	}
	return info
}

func get(t *testing.T, s archive.Store, key string) ([]byte, archive.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s) = %v", key, err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", key, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("Get(%s): Close() = %v", key, err)
	}
	return b, info
}

func stat(t *testing.T, s archive.Store, key string) archive.ObjectInfo {
	t.Helper()
	info, err := s.Stat(context.Background(), key)
	if err != nil {
		t.Fatalf("Stat(%s) = %v", key, err)
	}
	return info
}

// wantAbsent fails unless key is missing, e.g. after a failed Put.
func wantAbsent(t *testing.T, s archive.Store, key string) {
	t.Helper()
	if info, err := s.Stat(context.Background(), key); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("after the failed Put, Stat(%s) = %+v, %v; want ErrNotFound", key, info, err)
	}
}

func list(t *testing.T, s archive.Store, prefix string) []archive.ObjectInfo {
	t.Helper()
	var got []archive.ObjectInfo
	for info, err := range s.List(context.Background(), prefix) {
		if err != nil {
			t.Fatalf("List(%q) = %v", prefix, err)
		}
		got = append(got, info)
	}
	return got
}

// sameInfo compares infos field by field: times from different calls may
// differ in location or monotonic reading.
func sameInfo(a, b archive.ObjectInfo) bool {
	return a.Key == b.Key && a.Size == b.Size && a.SHA256 == b.SHA256 && a.Existed == b.Existed && a.Modified.Equal(b.Modified)
}

func keys(infos []archive.ObjectInfo) []string {
	ks := make([]string, len(infos))
	for i, info := range infos {
		ks[i] = info.Key
	}
	return ks
}

func testRoundTrip(t *testing.T, s archive.Store) {
	for i, size := range []int{1, 8 << 10, 100<<10 + 3} {
		key := fmt.Sprintf("bundles/%s/%d.zip", strings.Repeat("ab", 32), i)
		data := Data(uint64(i), size)
		before := time.Now()
		info := put(t, s, key, data)
		after := time.Now()
		want := archive.ObjectInfo{Key: key, Size: int64(size), SHA256: Sum(data)}
		if info.Key != want.Key || info.Size != want.Size || info.SHA256 != want.SHA256 || info.Existed {
			t.Errorf("Put(%s) = %+v, want %+v", key, info, want)
		}
		// Servers may keep whole seconds.
		if info.Modified.Before(before.Add(-2*time.Second)) || info.Modified.After(after.Add(2*time.Second)) {
			t.Errorf("Put(%s).Modified = %v, want between %v and %v", key, info.Modified, before, after)
		}
		got, ginfo := get(t, s, key)
		if !bytes.Equal(got, data) {
			t.Errorf("Get(%s) returned %d bytes (SHA-256 %s), want the %d put (%s)", key, len(got), Sum(got), size, want.SHA256)
		}
		sinfo := stat(t, s, key)
		if sinfo.Key != key || sinfo.Size != want.Size || sinfo.SHA256 != want.SHA256 || sinfo.Existed {
			t.Errorf("Stat(%s) = %+v, want %+v", key, sinfo, want)
		}
		if !sameInfo(ginfo, sinfo) {
			t.Errorf("Get(%s) info = %+v, Stat = %+v; want them equal", key, ginfo, sinfo)
		}
	}
}

func testSameBytes(t *testing.T, s archive.Store) {
	ctx := context.Background()
	key := "bundles/same/1.zip"
	data := Data(1, 5000)
	put(t, s, key, data)
	first := stat(t, s, key)
	for _, tc := range []struct {
		name string
		r    io.Reader
		opts archive.PutOptions
	}{
		{"seekable", bytes.NewReader(data), archive.PutOptions{}},
		{"stream", onlyReader{bytes.NewReader(data)}, archive.PutOptions{}},
		{"with SHA256", onlyReader{bytes.NewReader(data)}, archive.PutOptions{SHA256: Sum(data)}},
	} {
		info, err := s.Put(ctx, key, tc.r, int64(len(data)), tc.opts)
		if err != nil {
			t.Fatalf("%s: Put(%s) again = %v, want a no-op", tc.name, key, err)
		}
		if !info.Existed || info.SHA256 != first.SHA256 || info.Size != first.Size || !info.Modified.Equal(first.Modified) {
			t.Errorf("%s: Put(%s) again = %+v, want %+v with Existed", tc.name, key, info, first)
		}
	}
	if again := stat(t, s, key); !sameInfo(again, first) {
		t.Errorf("Stat(%s) after the no-op Puts = %+v, want %+v", key, again, first)
	}
}

func testDifferentBytes(t *testing.T, s archive.Store) {
	ctx := context.Background()
	key := "anchors/0000000001.json"
	data := Data(1, 3000)
	put(t, s, key, data)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"same size", Data(2, 3000)},
		{"longer", Data(1, 3001)},
		{"empty", nil},
	} {
		_, err := s.Put(ctx, key, bytes.NewReader(tc.data), int64(len(tc.data)), archive.PutOptions{})
		if !errors.Is(err, archive.ErrExists) {
			t.Errorf("%s: Put(%s) over other bytes = %v, want ErrExists", tc.name, key, err)
		}
	}
	if got, _ := get(t, s, key); !bytes.Equal(got, data) {
		t.Errorf("Get(%s) after refused Puts has SHA-256 %s, want the original %s", key, Sum(got), Sum(data))
	}
}

func testMissing(t *testing.T, s archive.Store) {
	ctx := context.Background()
	put(t, s, "bundles/x/1.zip", []byte("x"))
	for _, key := range []string{"bundles/x/2.zip", "bundles/y/1.zip", "bundles/x", "nothing"} {
		if rc, _, err := s.Get(ctx, key); !errors.Is(err, archive.ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%s) = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, archive.ErrNotFound) {
			t.Errorf("Stat(%s) = %v, want ErrNotFound", key, err)
		}
		if err := s.SetLegalHold(ctx, key, true); !errors.Is(err, archive.ErrNotFound) {
			t.Errorf("SetLegalHold(%s) = %v, want ErrNotFound", key, err)
		}
		if _, err := s.URL(ctx, key, time.Minute); !errors.Is(err, archive.ErrNotFound) && !errors.Is(err, archive.ErrNotSupported) {
			t.Errorf("URL(%s) = %v, want ErrNotFound or ErrNotSupported", key, err)
		}
	}
}

func testList(t *testing.T, s archive.Store) {
	all := []string{
		"anchors/0000000001.json",
		"bundles/ab/1.zip",
		"bundles/ab/10.zip",
		"bundles/ab/2.zip",
		"bundles/ab-c/1.zip", // "-" sorts before "/": a trap for directory walks
		"bundles/abc/1.zip",
		"bundles/b/1.zip",
		"bundles/ab.zip",
		"z",
	}
	sizes := map[string]int64{}
	for i, p := range rand.New(rand.NewPCG(1, 2)).Perm(len(all)) {
		put(t, s, all[p], Data(uint64(i), i*10))
		sizes[all[p]] = int64(i * 10)
	}
	for _, prefix := range []string{"", "bundles/", "bundles/ab", "bundles/ab/", "bundles/ab/1", "bundles/ab-", "z", "a", "nothing/", "bundles/abc/1.zip"} {
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		slices.Sort(want) // byte order
		got := list(t, s, prefix)
		if !slices.Equal(keys(got), want) {
			t.Errorf("List(%q) = %q, want %q", prefix, keys(got), want)
			continue
		}
		for _, info := range got {
			if info.Size != sizes[info.Key] || info.Modified.IsZero() {
				t.Errorf("List(%q) gave %+v, want size %d and a time", prefix, info, sizes[info.Key])
			}
		}
	}
	// One case spelled out, in case the computed order above were wrong.
	if got, want := keys(list(t, s, "bundles/ab")), []string{"bundles/ab-c/1.zip", "bundles/ab.zip", "bundles/ab/1.zip", "bundles/ab/10.zip", "bundles/ab/2.zip", "bundles/abc/1.zip"}; !slices.Equal(got, want) {
		t.Errorf("List(%q) = %q, want %q", "bundles/ab", got, want)
	}
}

func testListStopsEarly(t *testing.T, s archive.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("bundles/k%d/1.zip", i), []byte{byte(i)})
	}
	n := 0
	for _, err := range s.List(context.Background(), "") {
		if err != nil {
			t.Fatalf("List = %v", err)
		}
		if n++; n == 2 {
			break
		}
	}
	if got := len(list(t, s, "")); got != 5 {
		t.Errorf("List after an early stop gave %d objects, want 5", got)
	}
}

func testHostileKeys(t *testing.T, s archive.Store) {
	ctx := context.Background()
	for _, tc := range []struct{ name, key string }{
		{"empty", ""},
		{"absolute", "/etc/passwd"},
		{"parent", "../escape"},
		{"inner parent", "bundles/../../escape"},
		{"dot segment", "bundles/./1.zip"},
		{"hidden", ".tmp-abc"},
		{"hidden segment", "bundles/.x/1.zip"},
		{"empty segment", "bundles//1.zip"},
		{"trailing slash", "bundles/"},
		{"backslash", `bundles\..\escape`},
		{"NUL", "bundles/a\x00b"},
		{"newline", "bundles/a\nb"},
		{"DEL", "bundles/a\x7fb"},
		{"C1 control", "bundles/a\u0085b"},
		{"invalid UTF-8", "bundles/\xff"},
		{"too long", strings.Repeat("a/", 600) + "z"},
		{"long segment", "bundles/" + strings.Repeat("x", 256)},
	} {
		data := []byte("evil")
		if _, err := s.Put(ctx, tc.key, bytes.NewReader(data), 4, archive.PutOptions{}); !errors.Is(err, archive.ErrInvalidKey) {
			t.Errorf("%s: Put(%q) = %v, want ErrInvalidKey", tc.name, tc.key, err)
		}
		if _, _, err := s.Get(ctx, tc.key); !errors.Is(err, archive.ErrInvalidKey) {
			t.Errorf("%s: Get(%q) = %v, want ErrInvalidKey", tc.name, tc.key, err)
		}
		if _, err := s.Stat(ctx, tc.key); !errors.Is(err, archive.ErrInvalidKey) {
			t.Errorf("%s: Stat(%q) = %v, want ErrInvalidKey", tc.name, tc.key, err)
		}
		if err := s.SetLegalHold(ctx, tc.key, true); !errors.Is(err, archive.ErrInvalidKey) {
			t.Errorf("%s: SetLegalHold(%q) = %v, want ErrInvalidKey", tc.name, tc.key, err)
		}
		if _, err := s.URL(ctx, tc.key, time.Minute); !errors.Is(err, archive.ErrInvalidKey) {
			t.Errorf("%s: URL(%q) = %v, want ErrInvalidKey", tc.name, tc.key, err)
		}
	}
	for _, prefix := range []string{"/", "../", "bundles/../", "a\\b", "a\x00", ".tmp", "bundles/.t"} {
		var got error
		for _, err := range s.List(ctx, prefix) {
			got = err
			break
		}
		if !errors.Is(got, archive.ErrInvalidKey) {
			t.Errorf("List(%q) yielded %v, want ErrInvalidKey", prefix, got)
		}
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Errorf("after hostile keys the store holds %q, want nothing", keys(got))
	}
}

func testConcurrentPuts(t *testing.T, s archive.Store) {
	const writers = 4
	for _, size := range []int{64 << 10, 6 << 20} {
		for _, same := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/same=%v", size>>10, same)
			t.Run(name, func(t *testing.T) {
				key := fmt.Sprintf("bundles/race-%d-%v/1.zip", size, same)
				datas := make([][]byte, writers)
				for i := range datas {
					seed := uint64(100 + i)
					if same {
						seed = 100
					}
					datas[i] = Data(seed, size)
				}
				infos := make([]archive.ObjectInfo, writers)
				errs := make([]error, writers)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range writers {
					wg.Go(func() {
						<-start
						infos[i], errs[i] = s.Put(context.Background(), key, onlyReader{bytes.NewReader(datas[i])}, int64(size), archive.PutOptions{})
					})
				}
				close(start)
				wg.Wait()
				winner := -1
				for i := range writers {
					switch {
					case errs[i] == nil && !infos[i].Existed:
						if winner >= 0 {
							t.Errorf("Puts %d and %d both created %s", winner, i, key)
						}
						winner = i
					case errs[i] == nil && !same:
						t.Errorf("Put %d of different bytes = %+v, want ErrExists", i, infos[i])
					case errs[i] != nil && (same || !errors.Is(errs[i], archive.ErrExists)):
						t.Errorf("Put %d = %v, want nil or ErrExists", i, errs[i])
					}
				}
				if winner < 0 {
					t.Fatalf("no Put of %s created it: %v", key, errs)
				}
				if got, _ := get(t, s, key); !bytes.Equal(got, datas[winner]) {
					t.Errorf("Get(%s) has SHA-256 %s, want the winner's %s (torn or mixed object)", key, Sum(got), Sum(datas[winner]))
				}
			})
		}
	}
}

func testEmpty(t *testing.T, s archive.Store) {
	key := "bundles/empty/1.zip"
	info := put(t, s, key, nil)
	if want := Sum(nil); info.Size != 0 || info.SHA256 != want {
		t.Errorf("Put(%s, empty) = %+v, want size 0 and SHA-256 %s", key, info, want)
	}
	if got, ginfo := get(t, s, key); len(got) != 0 || ginfo.Size != 0 {
		t.Errorf("Get(%s) = %d bytes, info %+v; want none", key, len(got), ginfo)
	}
	if again := put(t, s, key, []byte{}); !again.Existed {
		t.Errorf("Put(%s, empty) again = %+v, want Existed", key, again)
	}
}

func testLarge(t *testing.T, s archive.Store) {
	const size = 20 << 20
	data := Data(7, size)
	want := Sum(data)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		r    io.Reader
		opts archive.PutOptions
	}{
		{"stream", onlyReader{bytes.NewReader(data)}, archive.PutOptions{}},
		{"seekable with SHA256", bytes.NewReader(data), archive.PutOptions{SHA256: want}},
	} {
		key := "bundles/large/" + strings.ReplaceAll(tc.name, " ", "-")
		info, err := s.Put(ctx, key, tc.r, size, tc.opts)
		if err != nil {
			t.Fatalf("%s: Put(%s, 20 MiB) = %v", tc.name, key, err)
		}
		if info.Size != size || info.SHA256 != want {
			t.Errorf("%s: Put(%s) = %+v, want size %d, SHA-256 %s", tc.name, key, info, size, want)
		}
		rc, _, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%s) = %v", key, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if got := hex.EncodeToString(h.Sum(nil)); err != nil || n != size || got != want {
			t.Errorf("%s: Get(%s) read %d bytes with SHA-256 %s, err %v; want %d bytes, %s", tc.name, key, n, got, err, size, want)
		}
		if info := stat(t, s, key); info.SHA256 != want || info.Size != size {
			t.Errorf("%s: Stat(%s) = %+v, want size %d, SHA-256 %s", tc.name, key, info, size, want)
		}
	}
}

var errReader = errors.New("reader failed")

func testBadInput(t *testing.T, s archive.Store) {
	ctx := context.Background()
	data := Data(3, 10_000)
	existing := "bundles/bad/existing"
	put(t, s, existing, data)
	for _, tc := range []struct {
		name    string
		key     string
		r       io.Reader
		size    int64
		opts    archive.PutOptions
		wantErr error // nil: any error
	}{
		{"short", "bundles/bad/short", bytes.NewReader(data), 10_001, archive.PutOptions{}, archive.ErrCorrupt},
		{"short stream", "bundles/bad/short-stream", onlyReader{bytes.NewReader(data)}, 10_001, archive.PutOptions{}, archive.ErrCorrupt},
		{"long", "bundles/bad/long", bytes.NewReader(data), 9_999, archive.PutOptions{}, archive.ErrCorrupt},
		{"long stream", "bundles/bad/long-stream", onlyReader{bytes.NewReader(data)}, 9_999, archive.PutOptions{}, archive.ErrCorrupt},
		{"empty but not", "bundles/bad/empty", bytes.NewReader(data), 0, archive.PutOptions{}, archive.ErrCorrupt},
		{"wrong SHA256", "bundles/bad/sha", bytes.NewReader(data), 10_000, archive.PutOptions{SHA256: Sum(data[1:])}, archive.ErrCorrupt},
		{"wrong SHA256 stream", "bundles/bad/sha-stream", onlyReader{bytes.NewReader(data)}, 10_000, archive.PutOptions{SHA256: Sum(data[1:])}, archive.ErrCorrupt},
		// A caller that claims to have hashed the bytes and is wrong: MinIO
		// skips its own hash, and the server catches it.
		{"wrong SHA256 verified", "bundles/bad/sha-verified", bytes.NewReader(data), 10_000, archive.PutOptions{SHA256: Sum(data[1:]), Verified: true}, archive.ErrCorrupt},
		{"SHA256 not hex", "bundles/bad/notsha", bytes.NewReader(data), 10_000, archive.PutOptions{SHA256: "xyz"}, nil},
		{"SHA256 upper case", "bundles/bad/uppersha", bytes.NewReader(data), 10_000, archive.PutOptions{SHA256: strings.ToUpper(Sum(data))}, nil},
		{"negative size", "bundles/bad/negative", bytes.NewReader(data), -1, archive.PutOptions{}, nil},
		{"too large", "bundles/bad/huge", bytes.NewReader(data), archive.MaxObjectSize + 1, archive.PutOptions{}, nil},
		{"reader error", "bundles/bad/readerr", io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(errReader)), 10_000, archive.PutOptions{}, errReader},
		{"short over existing", existing, bytes.NewReader(data[:9000]), 10_000, archive.PutOptions{}, archive.ErrCorrupt},
		{"false SHA256 over existing", existing, bytes.NewReader(Data(4, 10_000)), 10_000, archive.PutOptions{SHA256: Sum(data)}, archive.ErrCorrupt},
	} {
		_, err := s.Put(ctx, tc.key, tc.r, tc.size, tc.opts)
		if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: Put(%s) = %v, want %v", tc.name, tc.key, err, tc.wantErr)
		}
		if tc.key != existing {
			wantAbsent(t, s, tc.key)
		}
	}
	if got, _ := get(t, s, existing); !bytes.Equal(got, data) {
		t.Errorf("Get(%s) after bad Puts has SHA-256 %s, want %s", existing, Sum(got), Sum(data))
	}
	// A verified Put that is right stores the bytes as any other.
	good := "bundles/good/verified"
	if _, err := s.Put(ctx, good, bytes.NewReader(data), int64(len(data)), archive.PutOptions{SHA256: Sum(data), Verified: true}); err != nil {
		t.Errorf("Put(%s, verified) = %v", good, err)
	} else if got, info := get(t, s, good); !bytes.Equal(got, data) || info.SHA256 != Sum(data) {
		t.Errorf("Get(%s) after a verified Put: SHA-256 %s, info %s; want %s", good, Sum(got), info.SHA256, Sum(data))
	}
}

// cancelingReader cancels its context after handing out the first bytes, as
// a caller that gives up halfway would.
type cancelingReader struct {
	r      io.Reader
	cancel context.CancelFunc
	n      int
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.n > 0 {
		c.cancel()
	}
	n, err := c.r.Read(p[:min(len(p), 4096)])
	c.n += n
	return n, err
}

func testCanceled(t *testing.T, s archive.Store) {
	key := "bundles/cancel/1.zip"
	data := Data(5, 1<<20)
	put(t, s, "bundles/cancel/present", data)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put(%s) with a canceled context = %v, want context.Canceled", key, err)
	}
	wantAbsent(t, s, key)
	if _, _, err := s.Get(ctx, "bundles/cancel/present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Stat(ctx, "bundles/cancel/present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a canceled context = %v, want context.Canceled", err)
	}
	var listErr error
	for _, err := range s.List(ctx, "") {
		if err != nil {
			listErr = err
			break
		}
	}
	if !errors.Is(listErr, context.Canceled) {
		t.Errorf("List with a canceled context ended with %v, want context.Canceled", listErr)
	}

	for _, tc := range []struct {
		name string
		opts archive.PutOptions
	}{{"hashed by the store", archive.PutOptions{}}, {"SHA256 given", archive.PutOptions{SHA256: Sum(data)}}} {
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancelingReader{r: bytes.NewReader(data), cancel: cancel}
		_, err := s.Put(ctx, key, r, int64(len(data)), tc.opts)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Put(%s) canceled midway = %v, want context.Canceled", tc.name, key, err)
		}
		wantAbsent(t, s, key)
	}
}

func testLegalHold(t *testing.T, s archive.Store) {
	ctx := context.Background()
	key := "bundles/hold/1.zip"
	data := Data(6, 1000)
	put(t, s, key, data)
	for _, on := range []bool{true, true, false, false, true} {
		if err := s.SetLegalHold(ctx, key, on); err != nil {
			t.Errorf("SetLegalHold(%s, %v) = %v", key, on, err)
		}
	}
	if got, _ := get(t, s, key); !bytes.Equal(got, data) {
		t.Errorf("Get(%s) after legal holds changed the bytes", key)
	}
}

func testURL(t *testing.T, s archive.Store) {
	ctx := context.Background()
	key := "bundles/url/1.zip"
	data := Data(8, 70_000)
	put(t, s, key, data)
	raw, err := s.URL(ctx, key, time.Minute)
	if errors.Is(err, archive.ErrNotSupported) {
		return
	}
	if err != nil {
		t.Fatalf("URL(%s) = %v", key, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("URL(%s) = %q: %v", key, raw, err)
	}
	// Tests talk to 127.0.0.1 only.
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Fatalf("URL(%s) = %q, not on a loopback address; refusing to fetch it", key, raw)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", raw, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(got, data) {
		t.Errorf("GET URL(%s) = %s, %d bytes (SHA-256 %s), %v; want 200 and the %d bytes put", key, resp.Status, len(got), Sum(got), err, len(data))
	}
	for _, expiry := range []time.Duration{0, -time.Minute, 8 * 24 * time.Hour} {
		if _, err := s.URL(ctx, key, expiry); err == nil {
			t.Errorf("URL(%s, %v) succeeded, want an error", key, expiry)
		}
	}
}
