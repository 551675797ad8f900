package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// Tenants of testdata/config.yaml.
const (
	contosoID   = "4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47"
	fabrikamID  = "9b2e6d14-3a7f-4e51-b8c2-0f4a7d9e1c63"
	northwindID = "5c8b2e7f-1a4d-4e96-a3f0-7d2c9b6e4a81"
)

// fixtureNow is the clock of the command tests: 25 March 2026, so that a
// February incident is due on 31 March, in 6 days.
var fixtureNow = time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)

// ledgerFixture is a configuration naming a ledger and a directory store
// in a temporary directory, with claims in several states.
type ledgerFixture struct {
	dir    string
	config string
	ledger string // the database file
	store  string // the directory store's root
	claims map[string]int64
	shas   map[string]string
}

// fixtureMessage is one mail recorded in the fixture's ledger.
type fixtureMessage struct {
	name     string
	sender   string
	subject  string
	received time.Time
	judgment rules.Judgment
	stored   bool // its bundle is in the store
}

// newLedgerFixture builds the fixture:
//
//	overdue   Contoso EX300001, January mail: deadline 28 February, open
//	contoso   Contoso EX315207, February mail, stored: due 31 March, open
//	fabrikam  Fabrikam EX315300, March mail, bundle not stored: due 30 April
//	northwind Northwind EX400000, every field set: submitted
//
// plus one rejected mail. The clock is fixtureNow and the actor
// cli:tester for the rest of the test.
func newLedgerFixture(t *testing.T) *ledgerFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &ledgerFixture{dir: dir, claims: map[string]int64{}, shas: map[string]string{}}
	f.config, f.ledger, f.store = ledgerConfig(t, dir)

	oldNow, oldActor := cliNow, cliActor
	cliNow, cliActor = func() time.Time { return fixtureNow }, func() string { return "cli:tester" }
	t.Cleanup(func() { cliNow, cliActor = oldNow, oldActor })

	cfg, err := loadConfig(f.config)
	if err != nil {
		t.Fatal(err)
	}
	l, err := archive.OpenLedger(ctx, cfg.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.UpsertTenants(ctx, cfg.Tenants); err != nil {
		t.Fatal(err)
	}
	store, err := archive.OpenDir(f.store)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	accept := func(tenant, incident string) rules.Judgment {
		return rules.Judgment{Verdict: rules.Accepted, TenantID: tenant, IncidentIDs: []string{incident}, Authentication: rules.AuthPass}
	}
	mails := []fixtureMessage{
		{"overdue", "it@contoso.com", "Mail down again EX300001", time.Date(2026, 1, 20, 8, 0, 0, 0, time.UTC), accept(contosoID, "EX300001"), true},
		{"contoso", "jane@contoso.com", "Outage EX315207: please claim the credit", time.Date(2026, 2, 15, 9, 0, 0, 0, time.UTC), accept(contosoID, "EX315207"), true},
		{"fabrikam", "ops@fabrikam.com", "Teams down EX315300", time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC), accept(fabrikamID, "EX315300"), false},
		{"northwind", "admin@northwindtraders.com", "EX400000 outage", time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), accept(northwindID, "EX400000"), true},
		{"gmail", "someone@gmail.com", "credit please", time.Date(2026, 3, 3, 7, 0, 0, 0, time.UTC),
			rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonPersonalAddress, Authentication: rules.AuthPass}, true},
	}
	for i, m := range mails {
		raw := fmt.Sprintf("From: %s\r\nSubject: %s\r\n\r\n%s\r\n", m.sender, m.subject, m.name)
		sum := sha256.Sum256([]byte(raw))
		sha := hex.EncodeToString(sum[:])
		f.shas[m.name] = sha
		msg, _, err := l.RecordMessage(ctx, archive.MessageRecord{SHA256: sha, Size: int64(len(raw)), Mailbox: "claims@adatum-csp.com",
			Folder: "INBOX", UIDValidity: 1, UID: uint32(i + 1), InternalDate: m.received, MessageID: m.name + "@example",
			Sender: m.sender, Subject: m.subject})
		if err != nil {
			t.Fatal(err)
		}
		atts, _, err := l.RecordJudgment(ctx, msg.ID, m.judgment, rules.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range atts {
			f.claims[m.name] = a.ClaimID
		}
		if !m.stored {
			continue
		}
		// The bundle's bytes do not matter here, only that the store
		// holds them under the key the ledger records.
		bundle := []byte("bundle of " + m.name)
		bsum := sha256.Sum256(bundle)
		key := fmt.Sprintf("bundles/%s/1.zip", sha)
		if _, err := store.Put(ctx, key, bytes.NewReader(bundle), int64(len(bundle)), archive.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := l.SetBundle(ctx, msg.ID, key, hex.EncodeToString(bsum[:])); err != nil {
			t.Fatal(err)
		}
	}
	nw := f.claims["northwind"]
	for field, value := range map[claims.Field]string{
		claims.FieldIncidentStart: "2026-03-02T06:00:00Z", claims.FieldDowntimeStart: "2026-03-02T06:10:00Z",
		claims.FieldDowntimeDuration: "3h", claims.FieldAffectedUsers: "40", claims.FieldLocations: "Seattle",
		claims.FieldResolution: "waited for Microsoft's fix", claims.FieldTicket: "NW-881",
	} {
		if err := l.SetClaimField(ctx, nw, field, value, "anna"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetClaimStatus(ctx, nw, claims.StatusSubmitted, claims.Actor{Name: "anna"}, "Partner Center request 123"); err != nil {
		t.Fatal(err)
	}
	return f
}

// ledgerConfig writes testdata/config.yaml into dir with a ledger and a
// directory store under dir, and returns the paths of the three.
func ledgerConfig(t *testing.T, dir string) (config, ledger, store string) {
	t.Helper()
	base, err := os.ReadFile(filepath.Join("..", "..", "testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ledger, store = filepath.Join(dir, "ledger", "claimtrail.db"), filepath.Join(dir, "objects")
	config = writeTemp(t, dir, "config.yaml", fmt.Appendf(base, "\nledger:\n  path: %s\narchive:\n  store: dir\n  dir: %s\n", ledger, store))
	return config, ledger, store
}

// run runs claimtrail with args, where "CONFIG" stands for the fixture's
// configuration file and "ID:name" for the ID of the named claim.
func (f *ledgerFixture) run(args ...string) (int, string, string) {
	expanded := make([]string, len(args))
	for i, a := range args {
		switch {
		case a == "CONFIG":
			a = f.config
		case strings.HasPrefix(a, "ID:"):
			a = fmt.Sprint(f.claims[strings.TrimPrefix(a, "ID:")])
		}
		expanded[i] = a
	}
	return runCmd(expanded...)
}

// cliCase is one command line and what it must give.
type cliCase struct {
	name       string
	args       []string
	wantCode   int
	wantStdout []string // substrings, in this order
	wantStderr string   // substring
}

func (f *ledgerFixture) check(t *testing.T, tests []cliCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := f.run(tt.args...)
			rest, ok := stdout, true
			for _, want := range tt.wantStdout {
				i := strings.Index(rest, want)
				if i < 0 {
					ok = false
					break
				}
				rest = rest[i+len(want):]
			}
			if code != tt.wantCode || !ok || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("claimtrail %s = %d\nstdout:\n%s\nstderr:\n%s\nwant %d, stdout with %q in order, stderr with %q",
					strings.Join(tt.args, " "), code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestClaimsList(t *testing.T) {
	f := newLedgerFixture(t)
	f.check(t, []cliCase{
		{"by deadline, overdue marked", []string{"claims", "--config", "CONFIG", "list"}, exitOK, []string{
			"ID", "TENANT", "DEADLINE", "READY", "EVIDENCE\n",
			"Contoso Ltd", "EX300001", "open", "2026-02-28  OVERDUE by 25 days (provisional)", "5/11", "1\n",
			"Contoso Ltd", "EX315207", "open", "2026-03-31  6 days left (provisional)", "5/11", "1\n",
			"Fabrikam, Inc.", "EX315300", "open", "2026-04-30  36 days left (provisional)", "4/11", "1\n",
			"Northwind Traders", "EX400000", "submitted", "2026-04-30 ", "11/11", "1\n",
			"4 claims, 1 overdue"}, ""},
		{"--config after the command", []string{"claims", "list", "--config", "CONFIG", "--status", "submitted"}, exitOK,
			[]string{"EX400000", "1 claim\n"}, ""},
		{"several statuses", []string{"claims", "--config", "CONFIG", "list", "--status", "submitted, OPEN"}, exitOK,
			[]string{"EX300001", "EX315207", "EX315300", "EX400000", "4 claims"}, ""},
		{"none with a status", []string{"claims", "--config", "CONFIG", "list", "--status", "approved"}, exitOK,
			[]string{"no claims with status approved\n"}, ""},
		{"tenant by part of its name", []string{"claims", "--config", "CONFIG", "list", "--tenant", "fabrikam"}, exitOK,
			[]string{"EX315300", "1 claim\n"}, ""},
		{"tenant by braced upper-case ID", []string{"claims", "--config", "CONFIG", "list", "--tenant", "{" + strings.ToUpper(contosoID) + "}"}, exitOK,
			[]string{"EX300001", "EX315207", "2 claims, 1 overdue"}, ""},
		{"ambiguous tenant", []string{"claims", "--config", "CONFIG", "list", "--tenant", "n"}, exitUsage, nil, "matches"},
		{"unknown tenant", []string{"claims", "--config", "CONFIG", "list", "--tenant", "Tailspin"}, exitUsage, nil, "see claimtrail tenants list"},
		{"bad status", []string{"claims", "--config", "CONFIG", "list", "--status", "filed"}, exitUsage, nil, `"filed" is not a status; use open, ready`},
		{"limit", []string{"claims", "--config", "CONFIG", "list", "--limit", "2"}, exitOK,
			[]string{"EX300001", "EX315207", "2 claims, 1 overdue\n"}, ""},
		{"negative limit", []string{"claims", "--config", "CONFIG", "list", "--limit", "-1"}, exitUsage, nil, "--limit -1: give a number of claims, or 0 for all"},
		{"json", []string{"claims", "--config", "CONFIG", "list", "--json", "--status", "open", "--tenant", "fabrikam"}, exitOK,
			[]string{`{"id":`, `"tenant_name":"Fabrikam, Inc.","incident_id":"EX315300","status":"open","deadline":"2026-04-30T23:59:59.999999999Z","deadline_provisional":true,"days_left":36,"overdue":false,"present":4,"total":11,"missing":["customer_email",`, `"evidence":1,"eligible":true}` + "\n"}, ""},
	})
}

func TestClaimsDue(t *testing.T) {
	f := newLedgerFixture(t)
	f.check(t, []cliCase{
		{"default week: overdue and due", []string{"claims", "--config", "CONFIG", "due"}, exitOK,
			[]string{"EX300001", "OVERDUE", "EX315207", "6 days left", "2 claims, 1 overdue"}, ""},
		{"submitted claims are not due", []string{"claims", "--config", "CONFIG", "due", "--within", "60d"}, exitOK,
			[]string{"EX300001", "EX315207", "EX315300", "3 claims"}, ""},
		{"hours", []string{"claims", "--config", "CONFIG", "due", "--within", "36h"}, exitOK, []string{"EX300001", "1 claim, 1 overdue"}, ""},
		{"limit", []string{"claims", "--config", "CONFIG", "due", "--within", "60d", "--limit", "1"}, exitOK,
			[]string{"EX300001", "1 claim, 1 overdue\n"}, ""},
		{"bad window", []string{"claims", "--config", "CONFIG", "due", "--within", "a week"}, exitUsage, nil, "--within"},
		{"negative window", []string{"claims", "--config", "CONFIG", "due", "--within", "-1d"}, exitUsage, nil, "negative"},
	})
	// With the overdue claim expired, the next 6 days hold nothing.
	if code, _, stderr := f.run("claims", "--config", "CONFIG", "status", "ID:overdue", "expired", "--note", "too late"); code != exitOK {
		t.Fatalf("claims status expired = %d: %s", code, stderr)
	}
	f.check(t, []cliCase{
		{"none due", []string{"claims", "--config", "CONFIG", "due", "--within", "5d"}, exitOK, []string{"no claims due within 5 days\n"}, ""},
	})
	if _, stdout, _ := f.run("claims", "--config", "CONFIG", "due", "--within", "5d"); stdout != "no claims due within 5 days\n" {
		t.Errorf("claims due with nothing due printed %q, want only the one line", stdout)
	}
}

func TestClaimsShowGolden(t *testing.T) {
	f := newLedgerFixture(t)
	for _, name := range []string{"contoso", "northwind"} {
		code, stdout, stderr := f.run("claims", "--config", "CONFIG", "show", "ID:"+name)
		if code != exitOK {
			t.Fatalf("claims show %s = %d: %s", name, code, stderr)
		}
		// Everything shown comes from the fixture and its fixed clock
		// but the temporary directory, should it ever be shown.
		got := strings.ReplaceAll(stdout, f.dir, "$DIR")
		golden := filepath.Join("testdata", "golden", "claims-show-"+name+".txt")
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./cmd/claimtrail -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("claims show %s =\n%s\nwant (%s)\n%s", name, got, golden, want)
		}
	}
}

func TestClaimsShow(t *testing.T) {
	f := newLedgerFixture(t)
	f.check(t, []cliCase{
		{"missing items say how to set them", []string{"claims", "--config", "CONFIG", "show", "ID:fabrikam"}, exitOK, []string{
			"Claim", "incident EX315300 for Fabrikam, Inc. (" + fabrikamID + ")",
			"[ ]", "customer_email", "MISSING", "triage",
			"[x]", "csp", "yes", "(tenant registry)",
			"[ ]", "downtime_start", "MISSING", "claimtrail claims set " + fmt.Sprint(f.claims["fabrikam"]) + " downtime_start 2026-02-15T09:30:00Z",
			"bundle not stored yet",
			"NOT READY, missing: customer_email"}, ""},
		{"#ID", []string{"claims", "--config", "CONFIG", "show", "#" + fmt.Sprint(f.claims["contoso"])}, exitOK, []string{"EX315207"}, ""},
		{"unknown claim", []string{"claims", "--config", "CONFIG", "show", "999"}, exitFail, nil, "see claimtrail claims list"},
		{"not a number", []string{"claims", "--config", "CONFIG", "show", "EX315207"}, exitUsage, nil, "claim IDs are numbers"},
		{"no ID", []string{"claims", "--config", "CONFIG", "show"}, exitUsage, nil, "want 1 argument(s), got 0"},
	})

	code, stdout, stderr := f.run("claims", "--config", "CONFIG", "show", "ID:contoso", "--json")
	if code != exitOK {
		t.Fatalf("claims show --json = %d: %s", code, stderr)
	}
	var got struct {
		ID         int64  `json:"id"`
		IncidentID string `json:"incident_id"`
		Ready      bool   `json:"ready"`
		Missing    []string
		DaysLeft   *int `json:"days_left"`
		Details    string
		Evidence   []struct {
			SHA256    string `json:"sha256"`
			BundleKey string `json:"bundle_key"`
		}
		Checklist []claims.ChecklistItem
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("claims show --json printed %q: %v", stdout, err)
	}
	if got.ID != f.claims["contoso"] || got.IncidentID != "EX315207" || got.Ready || got.DaysLeft == nil || *got.DaysLeft != 6 ||
		len(got.Evidence) != 1 || got.Evidence[0].SHA256 != f.shas["contoso"] || len(got.Checklist) != 11 ||
		!strings.Contains(got.Details, "Incident ID: EX315207") || !slices.Contains(got.Missing, "ticket") {
		t.Errorf("claims show --json = %+v", got)
	}
}

func TestClaimsChange(t *testing.T) {
	f := newLedgerFixture(t)
	id := fmt.Sprint(f.claims["contoso"])
	// In order: each step starts where the one before left the claim.
	f.check(t, []cliCase{
		{"unknown field lists the fields", []string{"claims", "--config", "CONFIG", "set", id, "users", "5"}, exitUsage, nil,
			`"users" is not a field; the fields are incident_start, azure, csp, downtime_start, downtime_duration, affected_users, locations, resolution, ticket`},
		{"status is not a field", []string{"claims", "--config", "CONFIG", "set", id, "status", "submitted"}, exitUsage, nil, "claimtrail claims status ID"},
		{"bad value", []string{"claims", "--config", "CONFIG", "set", id, "affected_users", "many"}, exitFail, nil, `"many" is not a positive whole number`},
		{"no value", []string{"claims", "--config", "CONFIG", "set", id, "ticket"}, exitUsage, nil, "want 3 argument(s), got 2"},
		{"unknown claim", []string{"claims", "--config", "CONFIG", "set", "999", "ticket", "T-1"}, exitFail, nil, "not found"},
		{"normalised value", []string{"claims", "--config", "CONFIG", "set", id, "downtime_duration", "270m"}, exitOK,
			[]string{"claim " + id + ": downtime_duration = 4h30m\n", "status: open, 6/11 present; missing: downtime_start, affected_users, locations, resolution, ticket\n"}, ""},
		{"incident_start makes the deadline final", []string{"claims", "--config", "CONFIG", "set", id, "incident_start", "2026-02-14T23:30:00+01:00"}, exitOK,
			[]string{"incident_start = 2026-02-14T22:30:00Z\n", "deadline: 2026-03-31  6 days left\n"}, ""},
		{"a value of several words", []string{"claims", "--config", "CONFIG", "set", id, "resolution", "restarted", "the", "connector"}, exitOK,
			[]string{"resolution = restarted the connector\n"}, ""},
		{"submit too early", []string{"claims", "--config", "CONFIG", "status", id, "submitted"}, exitFail, nil, "complete the checklist first"},
		{"set", []string{"claims", "--config", "CONFIG", "set", id, "downtime_start", "2026-02-15T08:00:00Z"}, exitOK, nil, ""},
		{"set", []string{"claims", "--config", "CONFIG", "set", id, "affected_users", "120"}, exitOK, nil, ""},
		{"set", []string{"claims", "--config", "CONFIG", "set", id, "locations", "Prague"}, exitOK, nil, ""},
		{"the last field makes it ready", []string{"claims", "--config", "CONFIG", "set", id, "ticket", "CT-42"}, exitOK,
			[]string{"status: open -> ready: the checklist is complete", "claimtrail claims status " + id + " submitted"}, ""},
		{"unknown status", []string{"claims", "--config", "CONFIG", "status", id, "filed"}, exitUsage, nil, `"filed" is not a status`},
		{"submit", []string{"claims", "--config", "CONFIG", "status", id, "submitted", "--note", "PC request 555"}, exitOK,
			[]string{"claim " + id + ": ready -> submitted\n"}, ""},
		{"submit again is a no-op", []string{"claims", "--config", "CONFIG", "status", id, "submitted"}, exitOK, []string{"submitted already"}, ""},
		{"submitted fields are read-only", []string{"claims", "--config", "CONFIG", "set", id, "ticket", "CT-43"}, exitFail, nil, "the claim is submitted, so it cannot change; reopen it first"},
		{"not back to ready", []string{"claims", "--config", "CONFIG", "status", id, "ready"}, exitFail, nil, "cannot move from submitted to ready; allowed: approved, denied, open"},
		{"reopen", []string{"claims", "--config", "CONFIG", "status", id, "open", "--note", "wrong ticket"}, exitOK, []string{"submitted -> open -> ready: the checklist is complete"}, ""},
		{"correct it", []string{"claims", "--config", "CONFIG", "set", id, "ticket", "CT-43"}, exitOK, []string{"ticket = CT-43\n", "status: ready"}, ""},
		{"submit again", []string{"claims", "--config", "CONFIG", "status", id, "submitted"}, exitOK, []string{"ready -> submitted"}, ""},
		{"approve", []string{"claims", "--config", "CONFIG", "status", id, "approved"}, exitOK, []string{"submitted -> approved"}, ""},
		{"final fields", []string{"claims", "--config", "CONFIG", "set", id, "ticket", "CT-44"}, exitFail, nil, "approved, so it cannot change; it is final"},
	})

	// Every change is in the audit trail under the CLI's actor.
	code, stdout, stderr := f.run("audit", "--config", "CONFIG", "export", "--claim", id)
	if code != exitOK {
		t.Fatalf("audit export --claim = %d: %s", code, stderr)
	}
	for _, want := range []string{`"actor":"cli:tester","action":"claim_updated"`, `"note":"PC request 555"`, `"to":"approved"`, `"value":"CT-42"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the claim's audit entries lack %s:\n%s", want, stdout)
		}
	}
}

func TestClaimsPackage(t *testing.T) {
	f := newLedgerFixture(t)
	out := filepath.Join(t.TempDir(), "claim.zip")
	f.check(t, []cliCase{
		{"no -o", []string{"claims", "--config", "CONFIG", "package", "ID:contoso"}, exitUsage, nil, "-o FILE.zip is missing"},
		{"not ready warns", []string{"claims", "--config", "CONFIG", "package", "ID:contoso", "-o", out}, exitOK,
			[]string{out + ": claim", "EX315207, open), 1 evidence bundle, "}, "NOT READY"},
		{"no overwrite", []string{"claims", "--config", "CONFIG", "package", "ID:contoso", "-o", out}, exitFail, nil, "--force"},
		{"--force replaces", []string{"claims", "--config", "CONFIG", "package", "--force", "ID:northwind", "-o", out}, exitOK,
			[]string{"EX400000, submitted)"}, ""},
		{"a bundle not stored yet", []string{"claims", "--config", "CONFIG", "package", "ID:fabrikam", "-o", out + ".2"}, exitFail, nil, "no stored bundle yet"},
		{"unknown claim", []string{"claims", "--config", "CONFIG", "package", "999", "-o", out + ".3"}, exitFail, nil, "not found"},
		{"a directory that is not there", []string{"claims", "--config", "CONFIG", "package", "ID:contoso", "-o", filepath.Join(f.dir, "nope", "c.zip")}, exitFail, nil, "no such file or directory"},
	})
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
	}
	want := []string{"claim.json", "details.txt", "evidence/01-" + f.shas["northwind"] + ".zip"}
	if !slices.Equal(names, want) {
		t.Errorf("package holds %q, want %q (the northwind claim's, which --force wrote over the first)", names, want)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("package mode = %v, want 0600: it holds customer mail", st.Mode().Perm())
	}
	// Failed writes leave no temporary files behind.
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}
	if _, err := os.Stat(out + ".2"); err == nil {
		t.Errorf("a failed package left %s behind", out+".2")
	}
}

func TestClaimsUsage(t *testing.T) {
	f := newLedgerFixture(t)
	f.check(t, []cliCase{
		{"no command", []string{"claims", "--config", "CONFIG"}, exitUsage, nil, "usage: claimtrail claims"},
		{"help", []string{"claims", "help"}, exitOK, nil, "Fields for set"},
		{"-h", []string{"claims", "-h"}, exitOK, nil, "usage: claimtrail claims"},
		{"unknown command", []string{"claims", "--config", "CONFIG", "delete", "1"}, exitUsage, nil, `unknown command "delete"`},
		{"no config", []string{"claims", "list"}, exitUsage, nil, "--config is missing"},
		{"config not there", []string{"claims", "--config", filepath.Join(f.dir, "nope.yaml"), "list"}, exitUsage, nil, "nope.yaml"},
		{"unknown flag", []string{"claims", "--config", "CONFIG", "list", "--all"}, exitUsage, nil, "flag provided but not defined: -all"},
	})
}

func TestTermSafe(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Outage EX315207 – Prague", "Outage EX315207 – Prague"},
		{"escape sequence", "\x1b[2J\x1b[31mPAY NOW", "\uFFFD[2J\uFFFD[31mPAY NOW"},
		{"C1 control", "a\u009bb", "a\uFFFDb"},
		{"bidi override", "invoice\u202Efdp.exe", "invoice\uFFFDfdp.exe"},
		{"newline in a one-line field", "a\nb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := termSafe(tt.in); got != tt.want {
			t.Errorf("termSafe(%s: %q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
	if got := termSafeText("line 1\n\x07line 2\n"); got != "line 1\n\uFFFDline 2\n" {
		t.Errorf("termSafeText kept or lost the wrong characters: %q", got)
	}
}

// BenchmarkClaimsList times "claims list" on a ledger of 500 claims with
// 4 evidence messages each: the command reads every claim's checklist.
func BenchmarkClaimsList(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	base, err := os.ReadFile(filepath.Join("..", "..", "testdata", "config.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	db := filepath.Join(dir, "claimtrail.db")
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(base, "\nledger:\n  path: %s\narchive:\n  dir: %s\n", db, filepath.Join(dir, "objects")), 0o644); err != nil {
		b.Fatal(err)
	}
	l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: db})
	if err != nil {
		b.Fatal(err)
	}
	const claims, perClaim = 500, 4
	for i := range claims * perClaim {
		raw := fmt.Sprintf("mail %d", i)
		sum := sha256.Sum256([]byte(raw))
		m, _, err := l.RecordMessage(ctx, archive.MessageRecord{SHA256: hex.EncodeToString(sum[:]), Size: 10, Mailbox: "m", Folder: "INBOX",
			UID: uint32(i + 1), InternalDate: fixtureNow.Add(-time.Duration(i) * time.Hour), Sender: "jane@contoso.com"})
		if err != nil {
			b.Fatal(err)
		}
		j := rules.Judgment{Verdict: rules.Accepted, TenantID: contosoID, IncidentIDs: []string{fmt.Sprintf("EX%d", 500000+i%claims)}}
		if _, _, err := l.RecordJudgment(ctx, m.ID, j, rules.Version); err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	b.ResetTimer()
	for b.Loop() {
		code, stdout, stderr := runCmd("claims", "--config", config, "list")
		if code != exitOK || !strings.Contains(stdout, "500 claims") {
			b.Fatalf("claims list = %d, %q", code, stderr)
		}
	}
}

// recordFacts records Microsoft's facts on the fixture's incident for
// tenant, as Graph read them at fixtureNow.
func (f *ledgerFixture) recordFacts(t *testing.T, tenant string, inc claims.Incident) {
	t.Helper()
	ctx := context.Background()
	cfg, err := loadConfig(f.config)
	if err != nil {
		t.Fatal(err)
	}
	l, err := archive.OpenLedger(ctx, cfg.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if inc.Source == "" {
		inc.Source = claims.SourceGraph
	}
	inc.ReadAt = fixtureNow
	listed := true
	rec := archive.IncidentRecord{TenantID: tenant, Incident: inc}
	if inc.Source == claims.SourceGraph {
		rec.Listed = &listed
	}
	if _, err := l.RecordIncidentFacts(ctx, rec, "cli:tester"); err != nil {
		t.Fatal(err)
	}
}

// TestClaimsIneligible: a claim whose incident Microsoft classes an
// advisory is dropped from the due list and says why in list and show;
// an incident's start from Graph makes the deadline firm.
func TestClaimsIneligible(t *testing.T) {
	f := newLedgerFixture(t)
	f.recordFacts(t, contosoID, claims.Incident{ID: "EX300001", Title: "Some users cannot sign in",
		Classification: claims.ClassificationAdvisory, Service: "Exchange Online", Status: "serviceRestored",
		Start: time.Date(2026, 1, 19, 22, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 20, 1, 30, 0, 0, time.UTC)})
	f.recordFacts(t, contosoID, claims.Incident{ID: "EX315207", Title: "Users cannot send mail",
		Classification: claims.ClassificationIncident, Service: "Exchange Online", Status: "serviceRestored",
		Start: time.Date(2026, 2, 14, 23, 0, 0, 0, time.UTC)})
	advisory := "Microsoft classifies EX300001 as an advisory; advisories earn no credit"
	f.check(t, []cliCase{
		{"due drops the advisory", []string{"claims", "--config", "CONFIG", "due"}, exitOK,
			[]string{"EX315207", "2026-03-31  6 days left", "1 claim\n"}, ""},
		{"list says why", []string{"claims", "--config", "CONFIG", "list", "--tenant", "contoso"}, exitOK,
			// No deadline presses on an advisory: it is not overdue (claims.Countdown).
			[]string{"EX300001", "not eligible: " + advisory + "\n", "EX315207", "2 claims, 1 not eligible"}, ""},
		{"list json", []string{"claims", "--config", "CONFIG", "list", "--json", "--tenant", "contoso"}, exitOK,
			[]string{`"incident_id":"EX300001"`, `"eligible":false,"ineligible_why":"advisory","ineligible":"` + advisory + `"}`,
				`"incident_id":"EX315207"`, `"eligible":true}`}, ""},
		{"show the advisory", []string{"claims", "--config", "CONFIG", "show", "ID:overdue"}, exitOK,
			[]string{"Eligible:", "not eligible: " + advisory, "Microsoft's record of EX300001:",
				"Classification:", "advisory", "Title:", "Some users cannot sign in", "Start:", "2026-01-19 22:00 UTC",
				"End:", "2026-01-20 01:30 UTC", "Downtime:", "3h30m0s",
				"Source:", "Microsoft Service Health (graph, read 2026-03-25 12:00 UTC)", "Listed:", "yes"}, ""},
		{"show a firm deadline", []string{"claims", "--config", "CONFIG", "show", "ID:contoso"}, exitOK,
			[]string{"Deadline:", "2026-03-31", "6 days left\n", "Counts from:", "incident start (Microsoft Service Health, graph)",
				"Eligible:", "yes", "Classification:", "incident", "End:", "not given (ongoing)"}, ""},
	})
	if _, stdout, _ := f.run("claims", "--config", "CONFIG", "due", "--within", "60d"); strings.Contains(stdout, "EX300001") {
		t.Errorf("claims due lists the advisory's claim:\n%s", stdout)
	}
}
