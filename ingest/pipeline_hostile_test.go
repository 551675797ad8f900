package ingest_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/evidence/evidencetest"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

// TestPipelineHostile: issue 16's hostile shapes go through the pipeline
// like any mail: each is judged as written (accepted, naming its incident,
// unless the shape says otherwise), recorded and bundled byte for byte, and
// its judgment's warnings stay capped. The large bodies are 20 MB here
// (over the 16 MiB full-parse limit, so they take the streaming path);
// cmd/claimtrail's TestInspectHostile runs them at 200 MB.
func TestPipelineHostile(t *testing.T) {
	e := newPipelineEnv(t)
	// The time budget is lifted: this test is about what the structural
	// bounds let the parse read, whatever the machine's load; speed under
	// the default budget is cmd/claimtrail's BenchmarkHostile's.
	e.pipe = ingest.NewPipeline(corpusPolicy(t), e.store, e.ledger, &ingest.PipelineOptions{
		SpoolDir: t.TempDir(), Logger: quietLogger(), Parse: &evidence.ParseOptions{Budget: time.Minute},
	})
	ctx := context.Background()
	dir := t.TempDir()
	list, files, shas, err := evidencetest.WriteShapes(dir, 20<<20)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]evidencetest.Shape{}
	for _, s := range list {
		shapes[s.Name] = s
	}
	skipped, err := ingest.WalkFiles(ctx, files, func(fm ingest.FileMessage) error {
		name := strings.TrimSuffix(filepath.Base(fm.Name), ".eml")
		res, err := e.pipe.HandleFile(ctx, fm.Name, fm.R)
		if err != nil {
			t.Errorf("HandleFile(%s): %v", name, err)
			return nil
		}
		if msg := shapes[name].Misjudged(res.Judgment); msg != "" {
			t.Errorf("%s: %s (warnings %.500q)", name, msg, res.Judgment.Warnings)
		}
		if n := len(res.Judgment.Warnings); n > rules.MaxWarnings {
			t.Errorf("%s: %d warnings, want at most %d", name, n, rules.MaxWarnings)
		}
		// The judgment is one ledger line: 5,000 forged stamps made it
		// 434 KB before issue 16.
		if j, _ := json.Marshal(res.Judgment); len(j) > 32<<10 {
			t.Errorf("%s: judgment of %d bytes, want at most 32 KiB", name, len(j))
		}
		if res.Message.SHA256 != shas[name] {
			t.Errorf("%s: recorded SHA-256 %s, want the file's %s", name, res.Message.SHA256, shas[name])
		}
		e.checkStored(t, res.Message.SHA256) // the bundle verifies against the raw bytes' digest
		return nil
	})
	if err != nil || skipped != 0 {
		t.Fatalf("WalkFiles = %d skipped, %v", skipped, err)
	}
	if n := len(e.objects(t, "bundles/")); n != len(files) {
		t.Errorf("store holds %d bundles for %d hostile files", n, len(files))
	}
}
