package archive_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/archive/archivetest"
)

func TestMinIOConformance(t *testing.T) {
	srv := archivetest.StartMinIO(t)
	archivetest.Run(t, func(t *testing.T) archive.Store { return srv.Open(t, 0, "") })
}

// putData stores data under key and returns the version the server made.
func putData(t *testing.T, m *archive.MinIO, key string, data []byte, opts archive.PutOptions) {
	t.Helper()
	if _, err := m.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), opts); err != nil {
		t.Fatalf("Put(%s) = %v", key, err)
	}
}

func versionOf(t *testing.T, c *minio.Client, bucket, key string) string {
	t.Helper()
	st, err := c.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject(%s) = %v", key, err)
	}
	if st.VersionID == "" {
		t.Fatalf("StatObject(%s) has no version: is the bucket versioned?", key)
	}
	return st.VersionID
}

func TestMinIORetention(t *testing.T) {
	srv := archivetest.StartMinIO(t)
	client := srv.Client(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		days       int
		mode       string
		wantMode   minio.RetentionMode
		bypassable bool // may a user with the bypass permission delete it?
	}{
		{"none", 0, "", "", true},
		{"governance", 1, "governance", minio.Governance, true},
		{"default mode", 2, "", minio.Governance, true},
		{"compliance", 1, "compliance", minio.Compliance, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := srv.Open(t, tc.days, tc.mode)
			key := "bundles/ret/1.zip"
			before := time.Now()
			putData(t, m, key, archivetest.Data(1, 2048), archive.PutOptions{})
			version := versionOf(t, client, m.Bucket(), key)

			mode, until, err := client.GetObjectRetention(ctx, m.Bucket(), key, version)
			if tc.days == 0 {
				if err == nil && mode != nil && *mode != "" {
					t.Errorf("GetObjectRetention(%s) = %v until %v, want none", key, *mode, until)
				}
			} else {
				wantUntil := before.Add(time.Duration(tc.days) * 24 * time.Hour)
				if err != nil || mode == nil || *mode != tc.wantMode || until == nil || until.Sub(wantUntil).Abs() > time.Minute {
					t.Fatalf("GetObjectRetention(%s) = %v, %v, %v; want %s until about %v", key, mode, until, err, tc.wantMode, wantUntil)
				}
			}

			err = client.RemoveObject(ctx, m.Bucket(), key, minio.RemoveObjectOptions{VersionID: version})
			if tc.days == 0 {
				if err != nil {
					t.Errorf("deleting a version without retention = %v, want success", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("deleting a version under %s retention succeeded", tc.wantMode)
			}
			err = client.RemoveObject(ctx, m.Bucket(), key, minio.RemoveObjectOptions{VersionID: version, GovernanceBypass: true})
			if (err == nil) != tc.bypassable {
				t.Errorf("deleting a version under %s retention with governance bypass = %v, want success=%v", tc.wantMode, err, tc.bypassable)
			}
		})
	}
}

func TestMinIOLegalHold(t *testing.T) {
	srv := archivetest.StartMinIO(t)
	client := srv.Client(t)
	ctx := context.Background()
	m := srv.Open(t, 0, "")
	holdOf := func(key string) minio.LegalHoldStatus {
		t.Helper()
		st, err := client.GetObjectLegalHold(ctx, m.Bucket(), key, minio.GetObjectLegalHoldOptions{})
		if err != nil || st == nil {
			t.Fatalf("GetObjectLegalHold(%s) = %v, %v", key, st, err)
		}
		return *st
	}

	key := "bundles/hold/1.zip"
	putData(t, m, key, archivetest.Data(2, 1000), archive.PutOptions{})
	if err := m.SetLegalHold(ctx, key, true); err != nil {
		t.Fatalf("SetLegalHold(%s, true) = %v", key, err)
	}
	if got := holdOf(key); got != minio.LegalHoldEnabled {
		t.Errorf("legal hold after SetLegalHold(true) = %s, want ON", got)
	}
	version := versionOf(t, client, m.Bucket(), key)
	if err := client.RemoveObject(ctx, m.Bucket(), key, minio.RemoveObjectOptions{VersionID: version, GovernanceBypass: true}); err == nil {
		t.Fatalf("deleting a version under legal hold succeeded")
	}
	if err := m.SetLegalHold(ctx, key, false); err != nil {
		t.Fatalf("SetLegalHold(%s, false) = %v", key, err)
	}
	if got := holdOf(key); got != minio.LegalHoldDisabled {
		t.Errorf("legal hold after SetLegalHold(false) = %s, want OFF", got)
	}
	if err := client.RemoveObject(ctx, m.Bucket(), key, minio.RemoveObjectOptions{VersionID: version}); err != nil {
		t.Errorf("deleting a version after the hold was lifted = %v, want success", err)
	}

	held := "bundles/hold/2.zip"
	putData(t, m, held, archivetest.Data(3, 1000), archive.PutOptions{LegalHold: true})
	if got := holdOf(held); got != minio.LegalHoldEnabled {
		t.Errorf("legal hold of an object put with LegalHold = %s, want ON", got)
	}
}

func TestMinIOServerChecksPUT(t *testing.T) {
	srv := archivetest.StartMinIO(t)
	m := srv.Open(t, 0, "")
	ctx := context.Background()
	data := archivetest.Data(4, 50_000)
	for _, tc := range []struct {
		name string
		body []byte
		size int64
		sum  string
	}{
		{"wrong checksum", data, int64(len(data)), archivetest.Sum(data[1:])},
		{"body shorter than size", data[:40_000], int64(len(data)), archivetest.Sum(data)},
	} {
		key := "bundles/server-check/" + strings.ReplaceAll(tc.name, " ", "-")
		// Bypasses the client's own check: only the server can refuse.
		_, err := m.PutUnchecked(ctx, key, bytes.NewReader(tc.body), tc.size, tc.sum)
		if err == nil {
			t.Errorf("%s: PUT succeeded, want the server to refuse it", tc.name)
		}
		if _, err := m.Stat(ctx, key); !errors.Is(err, archive.ErrNotFound) {
			t.Errorf("%s: Stat(%s) after the refused PUT = %v, want ErrNotFound", tc.name, key, err)
		}
	}
	// The header, not only our own check, carries the hash: a bad one is
	// reported as ErrCorrupt.
	_, err := m.PutUnchecked(ctx, "bundles/server-check/kind", bytes.NewReader(data), int64(len(data)), archivetest.Sum(nil))
	if !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("PUT with a wrong checksum header = %v, want ErrCorrupt", err)
	}
}

func TestMinIOForeignObject(t *testing.T) {
	// An object another tool wrote, without our metadata: Stat and Get
	// still give its SHA-256.
	srv := archivetest.StartMinIO(t)
	m := srv.Open(t, 0, "")
	ctx := context.Background()
	data := archivetest.Data(5, 30_000)
	key := "imported/1.eml"
	if _, err := srv.Client(t).PutObject(ctx, m.Bucket(), key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	want := archivetest.Sum(data)
	if info, err := m.Stat(ctx, key); err != nil || info.SHA256 != want {
		t.Errorf("Stat(%s) = %+v, %v; want SHA-256 %s", key, info, err, want)
	}
	if info, err := m.Put(ctx, key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); err != nil || !info.Existed {
		t.Errorf("Put(%s) of the same bytes = %+v, %v; want Existed", key, info, err)
	}
}

func TestOpenMinIOErrors(t *testing.T) {
	srv := archivetest.StartMinIO(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	unlocked := srv.NewBucket()
	if err := srv.Client(t).MakeBucket(ctx, unlocked, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	down := archivetest.StartMinIO(t)
	down.Stop()

	for _, tc := range []struct {
		name     string
		cfg      archive.StoreConfig
		wantText []string
		wantKind error // nil: any
	}{
		{"unreachable", down.Config(down.NewBucket()), []string{down.Endpoint, "check that it runs"}, archive.ErrUnavailable},
		{"bad secret", func() archive.StoreConfig { c := srv.Config(srv.NewBucket()); c.SecretKey += "x"; return c }(),
			[]string{srv.Endpoint, "check access_key and secret_key"}, nil},
		{"unknown user", func() archive.StoreConfig { c := srv.Config(srv.NewBucket()); c.AccessKey = "nobody"; return c }(),
			[]string{"check access_key and secret_key"}, nil},
		{"bucket without locking", srv.Config(unlocked), []string{unlocked, "without object locking", "new name"}, nil},
		{"bad config", func() archive.StoreConfig { c := srv.Config(srv.NewBucket()); c.Endpoint = ""; return c }(),
			[]string{"endpoint: missing"}, nil},
	} {
		_, err := archive.OpenStore(ctx, tc.cfg)
		if err == nil {
			t.Errorf("%s: OpenStore = nil, want an error", tc.name)
			continue
		}
		for _, text := range tc.wantText {
			if !strings.Contains(err.Error(), text) {
				t.Errorf("%s: OpenStore = %v, want it to say %q", tc.name, err, text)
			}
		}
		if tc.wantKind != nil && !errors.Is(err, tc.wantKind) {
			t.Errorf("%s: OpenStore = %v, want %v", tc.name, err, tc.wantKind)
		}
		if tc.wantKind == nil && errors.Is(err, archive.ErrUnavailable) {
			t.Errorf("%s: OpenStore = %v, a permanent error marked ErrUnavailable", tc.name, err)
		}
		if strings.Contains(err.Error(), tc.cfg.SecretKey) {
			t.Errorf("%s: OpenStore error shows the secret key", tc.name)
		}
	}

	// A bucket claimtrail made is opened again without complaint.
	cfg := srv.Config(srv.NewBucket())
	for range 2 {
		s, err := archive.OpenStore(ctx, cfg)
		if err != nil {
			t.Fatalf("OpenStore(%s) = %v", cfg.Bucket, err)
		}
		s.Close()
	}
}

func TestMinIOOutage(t *testing.T) {
	srv := archivetest.StartMinIO(t)
	m := srv.Open(t, 0, "")
	ctx := context.Background()
	data := archivetest.Data(6, 1000)
	srv.Stop()
	_, err := m.Put(ctx, "bundles/outage/1.zip", bytes.NewReader(data), int64(len(data)), archive.PutOptions{})
	if !errors.Is(err, archive.ErrUnavailable) {
		t.Errorf("Put while MinIO is down = %v, want ErrUnavailable", err)
	}
	if _, err := m.Stat(ctx, "bundles/outage/1.zip"); !errors.Is(err, archive.ErrUnavailable) {
		t.Errorf("Stat while MinIO is down = %v, want ErrUnavailable", err)
	}
	srv.Start()
	if _, err := m.Put(ctx, "bundles/outage/1.zip", bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); err != nil {
		t.Errorf("Put after MinIO is back = %v", err)
	}
}

func BenchmarkMinIOPut(b *testing.B) {
	srv := archivetest.StartMinIO(b)
	archivetest.BenchmarkPut(b, srv.Open(b, 0, ""))
}
