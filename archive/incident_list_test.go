package archive

import (
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// wantIncident is what the incident list should say of one incident,
// worked out in Go from the claims listLedger made.
type wantIncident struct {
	id       string
	claims   int
	deadline string // the soonest of its fileable, eligible claims; "" none
	opened   string
	byStatus map[claims.Status]int
}

func wantIncidents(cs []listClaim) map[string]*wantIncident {
	out := map[string]*wantIncident{}
	for _, c := range cs {
		w := out[c.incident]
		if w == nil {
			w = &wantIncident{id: c.incident, opened: c.updated, byStatus: map[claims.Status]int{}}
			out[c.incident] = w
		}
		w.claims++
		w.byStatus[c.status]++
		w.opened = min(w.opened, c.updated)
		if claims.Fileable(c.status) && c.eligible && c.deadline != "" && (w.deadline == "" || c.deadline < w.deadline) {
			w.deadline = c.deadline
		}
	}
	return out
}

func TestIncidentList(t *testing.T) {
	ctx := context.Background()
	l, cs := listLedger(t, 40)
	want := wantIncidents(cs)
	var all []*wantIncident
	for _, w := range want {
		all = append(all, w)
	}
	for _, tc := range []struct {
		sort IncidentSort
		cmp  func(a, b *wantIncident) int
	}{
		{IncidentSortDeadline, func(a, b *wantIncident) int {
			return cmp.Or(boolCmp(a.deadline == "", b.deadline == ""), cmp.Compare(a.deadline, b.deadline), cmp.Compare(a.id, b.id))
		}},
		{IncidentSortNewest, func(a, b *wantIncident) int {
			return cmp.Or(cmp.Compare(b.opened, a.opened), cmp.Compare(b.id, a.id))
		}},
	} {
		t.Run(string(tc.sort), func(t *testing.T) {
			slices.SortFunc(all, tc.cmp)
			var wantIDs, got []string
			for _, w := range all {
				wantIDs = append(wantIDs, w.id)
			}
			q := IncidentQuery{Sort: tc.sort, Limit: 4}
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatal("the pages do not end")
				}
				page, err := l.IncidentList(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != len(all) {
					t.Errorf("Total = %d, want %d", page.Total, len(all))
				}
				for _, s := range page.Incidents {
					got = append(got, s.ID)
					w := want[s.ID]
					dl := ""
					if !s.OpenDeadline.IsZero() {
						dl = fmtTime(s.OpenDeadline)
					}
					if s.Claims != w.claims || dl != w.deadline || fmtTime(s.OpenedAt) != w.opened {
						t.Errorf("%s: claims %d, deadline %q, opened %s; want %d, %q, %s", s.ID, s.Claims, dl, fmtTime(s.OpenedAt), w.claims, w.deadline, w.opened)
					}
					for st, n := range w.byStatus {
						if s.ByStatus[st] != n {
							t.Errorf("%s: %d %s, want %d", s.ID, s.ByStatus[st], st, n)
						}
					}
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
			if !slices.Equal(got, wantIDs) {
				t.Errorf("IncidentList(%s) = %v\nwant %v", tc.sort, got, wantIDs)
			}
		})
	}

	// The incident's claims, as the incident page lists them.
	page, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{IncidentID: "ex100002"}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 3 || len(page.Claims) != 2 || page.Next == "" {
		t.Errorf("ClaimList(incident) = %d of %d, next %q; want 2 of 3 and a next page", len(page.Claims), page.Total, page.Next)
	}
	for _, c := range page.Claims {
		if c.IncidentID != "EX100002" {
			t.Errorf("ClaimList(incident EX100002) has a claim on %s", c.IncidentID)
		}
	}

	if _, err := l.IncidentList(ctx, IncidentQuery{Sort: IncidentSortNewest, Cursor: page.Next}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("IncidentList with a claim list's cursor: %v, want ErrBadCursor", err)
	}
}

// TestIncidentListFileable pins the trigger's statuses (0013_incident_list)
// to claims.Fileable: only a claim that can still be filed, and is
// eligible, gives its incident an open deadline.
func TestIncidentListFileable(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	for _, st := range claims.Statuses() {
		for _, eligible := range []bool{true, false} {
			if _, err := l.w.ExecContext(ctx, `UPDATE claims SET status = ?, eligible = ? WHERE id = ?`, string(st), eligible, id); err != nil {
				t.Fatal(err)
			}
			s, err := l.Incident(ctx, "EX315207", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := !s.OpenDeadline.IsZero(), claims.Fileable(st) && eligible; got != want {
				t.Errorf("a %s claim (eligible %v): open deadline %v, want one: %v", st, eligible, s.OpenDeadline, want)
			}
			if s.Claims != 1 || s.ByStatus[st] != 1 {
				t.Errorf("a %s claim: counted %d, by status %v", st, s.Claims, s.ByStatus)
			}
		}
	}
}

func TestIncidentLookup(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	openClaimWith(t, l, tenantA, "EX315207", 1, true)
	openClaimWith(t, l, tenantB, "EX315207", 2, true)
	record(t, l, factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, ptr(true)))
	s, err := l.Incident(ctx, "ex315207", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "EX315207" || s.Claims != 2 || s.Fileable != 2 || s.Incident == nil || s.Incident.Title != "Mail delayed" {
		t.Errorf("Incident(EX315207) = %+v, want 2 fileable claims and Graph's title", s)
	}
	if _, err := l.Incident(ctx, "EX999999", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Incident(EX999999) = %v, want ErrNotFound", err)
	}
	if _, err := l.Incident(ctx, "MC123456", time.Now()); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Incident(MC123456) = %v, want an error about the ID", err)
	}
}

func TestWriteIncidentPackage(t *testing.T) {
	ctx := context.Background()
	l, store, id := packageFixture(t)
	openClaimWith(t, l, tenantB, "EX400100", 1, false) // another incident

	var buf bytes.Buffer
	if err := l.WriteIncidentPackage(ctx, &buf, "EX315207", store, "anna", time.Now()); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	var names []string
	var manifest []byte
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == "manifest.sha256" {
			manifest = data
			continue
		}
		names = append(names, f.Name)
		sum := sha256.Sum256(data)
		sums[f.Name] = hex.EncodeToString(sum[:])
		if f.Name == "request.txt" && !strings.Contains(string(data), "Customer tenant ID: "+tenantA) {
			t.Errorf("request.txt does not list tenant A:\n%s", data)
		}
	}
	folder := IncidentFolder(&claims.Claim{ID: id, TenantID: tenantA}) + "/"
	for _, want := range []string{"request.txt", folder + "claim.json", folder + "details.txt", folder + "incident.json"} {
		if !slices.Contains(names, want) {
			t.Errorf("the package lacks %s; it has %v", want, names)
		}
	}
	evidence := 0
	for _, n := range names {
		if strings.HasPrefix(n, folder+"evidence/") {
			evidence++
		}
	}
	if evidence != 2 {
		t.Errorf("the package has %d evidence bundles in %s, want 2", evidence, folder)
	}
	// The manifest names every other entry once, with its hash.
	listed := 0
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || sums[name] != sum {
			t.Errorf("manifest line %q does not match the entry's SHA-256 %s", sc.Text(), sums[name])
		}
		listed++
	}
	if listed != len(names) {
		t.Errorf("the manifest lists %d entries, the package has %d besides it", listed, len(names))
	}
	entries, err := l.AuditEntries(ctx, AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if e := entries[0]; e.Action != ActionPackageExported || e.Subject != "incident:EX315207" || e.Actor != "anna" {
		t.Errorf("the last audit entry is %s %s %s, want anna's package_exported of incident:EX315207", e.Actor, e.Action, e.Subject)
	}

	// Evidence without its bundle stops it before a byte is written.
	openClaimWith(t, l, tenantB, "EX315207", 1, false)
	buf.Reset()
	if err := l.WriteIncidentPackage(ctx, &buf, "EX315207", store, "anna", time.Now()); err == nil || !strings.Contains(err.Error(), "no stored bundle yet") || buf.Len() != 0 {
		t.Errorf("WriteIncidentPackage with an unstored bundle = %v, %d bytes written; want a refusal and none", err, buf.Len())
	}
	// Nothing left to file: nothing to package.
	if _, err := l.w.ExecContext(ctx, `UPDATE claims SET status = 'submitted' WHERE incident_id = 'EX315207'`); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteIncidentPackage(ctx, &buf, "EX315207", store, "anna", time.Now()); !errors.Is(err, ErrNothingToFile) {
		t.Errorf("WriteIncidentPackage of submitted claims = %v, want ErrNothingToFile", err)
	}
	if err := l.WriteIncidentPackage(ctx, &buf, "EX999999", store, "anna", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("WriteIncidentPackage(EX999999) = %v, want ErrNotFound", err)
	}
}
