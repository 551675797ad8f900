package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/ingest"
)

// fakeRecorder records what the pipeline hands it.
type fakeRecorder struct {
	mu   sync.Mutex
	got  []archive.IncidentRecord
	fail bool
}

func (r *fakeRecorder) RecordIncident(ctx context.Context, tenantID string, inc claims.Incident) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, archive.IncidentRecord{TenantID: tenantID, Incident: inc})
	if r.fail {
		return false, errors.New("object store down")
	}
	return true, nil
}

func pipelineWithRecorder(t *testing.T, rec ingest.IncidentRecorder) *ingest.Pipeline {
	t.Helper()
	e := newPipelineEnv(t)
	return ingest.NewPipeline(corpusPolicy(t), e.store, e.ledger, &ingest.PipelineOptions{SpoolDir: t.TempDir(), Logger: quietLogger(), Incidents: rec})
}

func handleCorpusFile(t *testing.T, p *ingest.Pipeline, name string) *ingest.Result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../testdata/mail", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.HandleFile(context.Background(), name, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("HandleFile(%s): %v", name, err)
	}
	return res
}

func TestPipelineRecordsForwardedNotification(t *testing.T) {
	rec := &fakeRecorder{}
	p := pipelineWithRecorder(t, rec)
	res := handleCorpusFile(t, p, "accepted-contoso-forwarded-service-health-notification.eml")
	if len(rec.got) != 1 {
		t.Fatalf("recorded %d incident fact sets, want 1: %+v", len(rec.got), rec.got)
	}
	got := rec.got[0]
	inc := got.Incident
	if got.TenantID != res.Judgment.TenantID || inc.ID != "EX1321282" || inc.Source != claims.SourceNotification ||
		inc.Classification != claims.ClassificationIncident || inc.Service != "Exchange Online" {
		t.Errorf("recorded %+v, want Contoso's EX1321282 notification facts of an Exchange Online incident", got)
	}
	if want := time.Date(2025, 11, 14, 9, 5, 0, 0, time.UTC); !inc.Start.Equal(want) {
		t.Errorf("start = %v, want %v", inc.Start, want)
	}
	if want := time.Date(2025, 11, 17, 7, 14, 19, 0, time.UTC); !inc.ReadAt.Equal(want) {
		t.Errorf("read at = %v, want the message's date %v", inc.ReadAt, want)
	}

	// Mail that is no notification, or is refused, records nothing.
	for _, name := range []string{"accepted-contoso-outlook-html.eml", "rejected-unknown-microsoft-service-health-direct.eml"} {
		handleCorpusFile(t, p, name)
	}
	if len(rec.got) != 1 {
		t.Errorf("other mail recorded incident facts: %+v", rec.got[1:])
	}
}

func TestPipelineKeepsMessageWhenNotificationFails(t *testing.T) {
	rec := &fakeRecorder{fail: true}
	p := pipelineWithRecorder(t, rec)
	res := handleCorpusFile(t, p, "accepted-contoso-forwarded-service-health-notification.eml")
	if res.Message == nil || res.Message.BundleKey == "" || len(rec.got) != 1 {
		t.Errorf("result %+v with %d attempts; want the message stored despite the failed facts", res, len(rec.got))
	}
}
