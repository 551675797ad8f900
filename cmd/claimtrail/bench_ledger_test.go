package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/archive/archivetest"
	"github.com/claimtrail/claimtrail/web"
)

// BenchmarkLedgerPages times every page and API list of issue 19 against
// a generated ledger of each size in CLAIMTRAIL_BENCH_LEDGER_SIZES
// (messages, comma-separated; default 10000), through the real web
// handler with an API token, and the CLI's `claims list` and `claims due`.
// Each call reports its median and worst server time (ms) and its
// response size (bytes). Ledgers are built once and kept under
// $TMPDIR/claimtrail-bigledger/ by size; each run adds an API token (and
// its audit entry) to the kept ledger, and the first run an outage that hit
// every tenant (archivetest.AddBigOutage), the biggest incident. scripts/bench-ledger.sh runs it at
// 10k, 100k and 1M messages. The message pages are left out: they read the
// message's bundle from the store, whose cost is the bundle's, not the
// ledger's (and the generated ledger's bundles are not in a store); so
// are the claim and incident packages, for the same reason.
func BenchmarkLedgerPages(b *testing.B) {
	for _, n := range benchLedgerSizes(b) {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) { benchLedgerPages(b, n) })
	}
}

// benchLedgerSizes reads CLAIMTRAIL_BENCH_LEDGER_SIZES: ledger sizes in
// messages, comma-separated; 10000 when unset.
func benchLedgerSizes(b *testing.B) []int {
	sizes := os.Getenv("CLAIMTRAIL_BENCH_LEDGER_SIZES")
	if sizes == "" {
		sizes = "10000"
	}
	var out []int
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			b.Fatalf("CLAIMTRAIL_BENCH_LEDGER_SIZES: %q is not a message count of at least 100", f)
		}
		out = append(out, n)
	}
	return out
}

// bigLedger returns the kept ledger of n messages, building it when
// missing.
func bigLedger(b *testing.B, n int) string {
	dir := filepath.Join(os.TempDir(), "claimtrail-bigledger")
	path := filepath.Join(dir, fmt.Sprintf("%d.db", n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	tmp := path + ".building"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	st, err := archivetest.BuildBigLedger(context.Background(), tmp, archivetest.BigLedgerSpec{Messages: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s: %+v", path, st)
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

func benchLedgerPages(b *testing.B, n int) {
	ctx := context.Background()
	path := bigLedger(b, n)
	opened := time.Now()
	l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	// A kept ledger of an older schema is migrated here, once.
	b.Logf("opened %s (with any migrations) in %s", path, time.Since(opened).Round(time.Millisecond))
	defer l.Close()
	storeDir := b.TempDir()
	store, err := archive.OpenDir(storeDir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	app, err := web.New(web.Options{Ledger: l, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	// The server verifies the whole chain in the background when it
	// starts; the calls time requests, so the first verification is done
	// before them (a request verifies only the entries added since).
	if err := app.AuditVerified(ctx); err != nil {
		b.Fatal(err)
	}
	h := app.Handler()
	// An outage that hit every tenant: the biggest incident's page.
	tenants, err := l.Tenants(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := archivetest.AddBigOutage(ctx, l, len(tenants), time.Now()); err != nil {
		b.Fatal(err)
	}
	token, _, err := l.CreateAPIToken(ctx, archivetest.BigLedgerAdmin, "bench", archivetest.BigLedgerAdmin, archive.APITokenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	// An old claim (its mail spreads over the whole trail) and its ID.
	const claimID = 1

	type call struct {
		name string
		path string
		// moveChain appends an audit entry before each request, untimed:
		// on a live system the chain moves between two views of it.
		moveChain bool
	}
	calls := []call{
		{"api-claims", "/api/v1/claims", false},
		{"page-claims", "/claims", false},
		{"page-claim", fmt.Sprintf("/claims/%d", claimID), false},
		{"api-claim-audit", fmt.Sprintf("/api/v1/claims/%d/audit", claimID), false},
		{"page-audit", "/audit", false},
		{"page-audit-chain-moved", "/audit", true},
		{"api-audit-verify", "/api/v1/audit/verify", false},
		{"api-audit-verify-chain-moved", "/api/v1/audit/verify", true},
		{"api-audit-actor", "/api/v1/audit?actor=" + archivetest.BigLedgerAdmin, false},
		{"api-audit-subject", fmt.Sprintf("/api/v1/audit?subject=claim:%d", claimID), false},
		{"api-audit-action", "/api/v1/audit?action=" + string(archive.ActionUserAdded), false},
		{"api-audit", "/api/v1/audit", false},
		{"metrics", "/metrics", false},
		{"page-triage", "/triage", false},
		{"api-triage", "/api/v1/triage", false},
		{"api-triage-page-2", nextPage(b, h, token, "/api/v1/triage"), false},
		{"api-claim", fmt.Sprintf("/api/v1/claims/%d", claimID), false},
		{"api-claim-details", fmt.Sprintf("/api/v1/claims/%d/details", claimID), false},
		{"page-tenants", "/tenants", false},
		{"api-tenants", "/api/v1/tenants", false},
		{"page-incidents", "/incidents", false},
		{"api-incidents", "/api/v1/incidents", false},
		{"api-incidents-page-2", nextPage(b, h, token, "/api/v1/incidents"), false},
		{"api-incidents-newest", "/api/v1/incidents?sort=newest", false},
		{"page-incident-biggest", "/incidents/" + archivetest.BigOutage, false},
		{"api-incident-biggest", "/api/v1/incidents/" + archivetest.BigOutage, false},
		{"api-incident-biggest-page-2", nextPage(b, h, token, "/api/v1/incidents/"+archivetest.BigOutage), false},
		{"api-incident-details-biggest", "/api/v1/incidents/" + archivetest.BigOutage + "/details", false},
		{"api-tenants-sort-id", "/api/v1/tenants?sort=id", false},
		{"page-messages", "/messages", false},
		{"api-messages", "/api/v1/messages", false},
		{"api-messages-oldest", "/api/v1/messages?sort=oldest", false},
		{"api-messages-rejected", "/api/v1/messages?verdict=rejected", false},
		{"api-messages-page-2", nextPage(b, h, token, "/api/v1/messages"), false},
		{"api-triage-oldest", "/api/v1/triage?sort=oldest", false},
		// Search, each kind of query (archive.ParseSearch), on a ledger
		// where "help" is the subject of a fifth of the mail and
		// customer1.example sends another fifth.
		{"api-search-incident", "/api/v1/search?q=EX1000001", false},
		{"api-search-tenant-name", "/api/v1/search?q=Customer+17", false},
		{"api-search-tenant-id", "/api/v1/search?q=" + archivetest.BigTenantID(16), false},
		{"api-search-sender", "/api/v1/search?q=user8@gmail.com", false},
		{"api-search-busy-domain", "/api/v1/search?q=customer1.example", false},
		{"api-search-subject-words", "/api/v1/search?q=outage+EX1000017", false},
		{"api-search-common-word", "/api/v1/search?q=help", false},
		{"api-search-ticket", "/api/v1/search?q=2602150040001234", false},
		{"page-search", "/search?q=help", false},
		{"api-messages-q-common-word", "/api/v1/messages?q=help", false},
		{"api-messages-q-common-word-page-2", nextPage(b, h, token, "/api/v1/messages?q=help"), false},
		{"api-triage-q-domain", "/api/v1/triage?q=gmail.com", false},
		{"api-claims-q-tenant-name", "/api/v1/claims?q=Customer+17", false},
	}
	for _, c := range calls {
		b.Run(c.name, func(b *testing.B) {
			var times []time.Duration
			var size int
			for b.Loop() {
				if c.moveChain {
					b.StopTimer()
					if _, err := l.AppendAudit(ctx, archivetest.BigLedgerAdmin, archive.ActionBundleDownloaded, "bench", nil); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				req := httptest.NewRequest(http.MethodGet, c.path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s = %d: %.300s", c.path, rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			reportTimes(b, times, size)
		})
	}

	// The CLI, as a user runs it, on the same ledger.
	config := benchLedgerConfig(b, path, storeDir)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"cli-claims-list", []string{"claims", "--config", config, "list"}},
		{"cli-claims-due", []string{"claims", "--config", config, "due"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var times []time.Duration
			var size int
			for b.Loop() {
				var out, errOut bytes.Buffer
				start := time.Now()
				code := run(ctx, &env{stdout: &out, stderr: &errOut}, c.args)
				times = append(times, time.Since(start))
				if code != exitOK {
					b.Fatalf("claimtrail %s = %d: %s", strings.Join(c.args, " "), code, errOut.String())
				}
				size = out.Len()
			}
			reportTimes(b, times, size)
		})
	}
}

// benchLedgerConfig writes testdata/config.yaml with the ledger and store.
func benchLedgerConfig(b *testing.B, ledger, store string) string {
	base, err := os.ReadFile(filepath.Join("..", "..", "testdata", "config.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "config.yaml")
	cfg := fmt.Appendf(base, "\nledger:\n  path: %s\narchive:\n  store: dir\n  dir: %s\n", ledger, store)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

func reportTimes(b *testing.B, times []time.Duration, size int) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(times[len(times)/2]), "median-ms")
	b.ReportMetric(ms(times[len(times)-1]), "worst-ms")
	b.ReportMetric(float64(size), "bytes")
	b.ReportMetric(0, "ns/op") // the medians say it; ns/op averages in the untimed setup
}

// nextPage returns the path of the second page of the JSON list at path:
// path with the cursor its first page gives.
func nextPage(b *testing.B, h http.Handler, token, path string) string {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var page struct {
		Next string `json:"next"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != http.StatusOK || page.Next == "" {
		b.Fatalf("GET %s = %d, next %q, %v: want a first page with a next one", path, rec.Code, page.Next, err)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "cursor=" + url.QueryEscape(page.Next)
}

// BenchmarkAuditVerify times a full verification of the audit trail of
// the generated ledger of each size in CLAIMTRAIL_BENCH_LEDGER_SIZES (as
// BenchmarkLedgerPages, default 10000), reporting entries verified per
// second: `claimtrail audit verify` does this work.
func BenchmarkAuditVerify(b *testing.B) {
	for _, n := range benchLedgerSizes(b) {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			ctx := context.Background()
			l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: bigLedger(b, n)})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var entries int64
			b.ResetTimer()
			for b.Loop() {
				rep, err := l.VerifyAudit(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				entries += rep.Entries
			}
			b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
