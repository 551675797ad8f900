package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

func TestParseSearch(t *testing.T) {
	tests := []struct {
		name, q string
		want    Search
		wantErr string
	}{
		{"incident ID", "EX315207", Search{Kind: SearchIncident, Term: "EX315207"}, ""},
		{"incident ID in lower case, spaced", "  ex315207 ", Search{Kind: SearchIncident, Term: "EX315207"}, ""},
		{"unknown prefix is still an incident ID's shape", "ZZ1234567", Search{Kind: SearchIncident, Term: "ZZ1234567"}, ""},
		{"Message Center post is words", "MC123456", Search{Kind: SearchWords, Term: "mc123456", Words: []string{"mc123456"}}, ""},
		{"tenant GUID", "72F988BF-86F1-41AF-91AB-2D7CD011DB47", Search{Kind: SearchTenant, Term: "72f988bf-86f1-41af-91ab-2d7cd011db47"}, ""},
		{"tenant GUID in braces", "{72f988bf-86f1-41af-91ab-2d7cd011db47}", Search{Kind: SearchTenant, Term: "72f988bf-86f1-41af-91ab-2d7cd011db47"}, ""},
		{"sender address", "Jane.Doe@Contoso.COM", Search{Kind: SearchSender, Term: "jane.doe@contoso.com"}, ""},
		{"sender at an IDN domain", "jan@bäckerei.de", Search{Kind: SearchSender, Term: "jan@xn--bckerei-5wa.de"}, ""},
		{"domain", "IT.Contoso.com", Search{Kind: SearchDomain, Term: "it.contoso.com"}, ""},
		{"domain with a trailing dot", "contoso.com.", Search{Kind: SearchDomain, Term: "contoso.com"}, ""},
		{"an address without a domain is words", "jane@", Search{Kind: SearchWords, Term: "jane", Words: []string{"jane"}}, ""},
		{"an address at one label is words", "jane@localhost", Search{Kind: SearchWords, Term: "jane localhost", Words: []string{"jane", "localhost"}}, ""},
		{"a version number is words", "v1.2", Search{Kind: SearchWords, Term: "v1 2", Words: []string{"v1", "2"}}, ""},
		{"ticket number", "2602150040001234", Search{Kind: SearchTicket, Term: "2602150040001234"}, ""},
		{"a short number is a word", "2026", Search{Kind: SearchWords, Term: "2026", Words: []string{"2026"}}, ""},
		{"words, lower case, once each", "Exchange  OUTAGE exchange", Search{Kind: SearchWords, Term: "exchange outage", Words: []string{"exchange", "outage"}}, ""},
		{"punctuation splits words", `"Contoso Ltd." (Prague)`, Search{Kind: SearchWords, Term: "contoso ltd prague", Words: []string{"contoso", "ltd", "prague"}}, ""},
		{"FTS syntax is only words", `outage* OR NEAR(a b)`, Search{Kind: SearchWords, Term: "outage or near a b", Words: []string{"outage", "or", "near", "a", "b"}}, ""},
		{"non-Latin words", "Výpadek služby", Search{Kind: SearchWords, Term: "výpadek služby", Words: []string{"výpadek", "služby"}}, ""},
		{"empty", "   ", Search{}, "nothing to search for"},
		{"punctuation only", "*** ???", Search{}, "nothing to search for"},
		{"too long", strings.Repeat("a", MaxSearchLen+1), Search{}, "longer than 200 bytes"},
		{"too many words", "a b c d e f g h i", Search{}, "9 words"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSearch(tt.q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSearch(%q) error = %v, want one containing %q", tt.q, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSearch(%q): %v", tt.q, err)
			}
			if got.Kind != tt.want.Kind || got.Term != tt.want.Term || !slices.Equal(got.Words, tt.want.Words) {
				t.Errorf("ParseSearch(%q) = %+v, want %+v", tt.q, got, tt.want)
			}
		})
	}
}

// FuzzParseSearch checks what every kind promises: the term is in its
// canonical form (parsing it again gives the same search), words are
// bounded and hold no character the FTS5 or LIKE syntax reads.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{"EX315207", "ex315207", "72f988bf-86f1-41af-91ab-2d7cd011db47", "jane@contoso.com",
		"contoso.com", "2602150040001234", "Exchange outage", `"a" OR b*`, "jan@bäckerei.de", "%_\\", "MC123456", "ＥＸ３１５２０７"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		s, err := ParseSearch(q)
		if err != nil {
			return
		}
		if s.Term == "" || len(s.Words) > MaxSearchWords {
			t.Fatalf("ParseSearch(%q) = %+v: empty term or too many words", q, s)
		}
		if s.Kind == SearchWords {
			for _, w := range s.Words {
				if w == "" || strings.ContainsAny(w, `"*%_\ ():^-+`) {
					t.Fatalf("ParseSearch(%q): word %q holds syntax", q, w)
				}
			}
			if s.Term != strings.Join(s.Words, " ") {
				t.Fatalf("ParseSearch(%q): term %q is not the words %q", q, s.Term, s.Words)
			}
			return
		}
		if !utf8.ValidString(s.Term) {
			t.Fatalf("ParseSearch(%q): term %q is not UTF-8", q, s.Term)
		}
		again, err := ParseSearch(s.Term)
		if err != nil || again.Kind != s.Kind || again.Term != s.Term {
			t.Fatalf("ParseSearch(%q) = %+v, but its term parses as %+v, %v", q, s, again, err)
		}
	})
}

// searchFixture is a ledger with two named tenants, mail from their
// domains and from elsewhere, claims on two incidents and a ticket number.
func searchFixture(t testing.TB) (*Ledger, map[string]int64, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	l := newTestLedger(t)
	if _, err := l.UpsertTenants(ctx, []rules.Tenant{
		{ID: tenantA, Name: "Contoso Ltd", Domains: []string{"contoso.com"}},
		{ID: tenantB, Name: "Fabrikam Brno", Domains: []string{"fabrikam.cz"}},
	}); err != nil {
		t.Fatal(err)
	}
	msgs := []struct {
		name, sender, subject string
		j                     rules.Judgment
	}{
		{"a1", "jane@contoso.com", "Exchange outage EX315207", accepted(tenantA, "EX315207")},
		{"a2", "Ops@IT.Contoso.com", "Re: mail is slow", accepted(tenantA, "EX315207")},
		{"b1", "petr@fabrikam.cz", "Výpadek Exchange", accepted(tenantB, "EX315208")},
		{"gmail", "jane@gmail.com", "Exchange help", rejected(rules.ReasonPersonalAddress)},
		{"unmatched", "jane@contoso.com", "Outage again, ticket 2602150040001234", unmatched(tenantA)},
	}
	ids := map[string]int64{}
	claimIDs := map[string]int64{}
	for i, m := range msgs {
		rec := testRecord(100 + i)
		rec.Sender, rec.Subject = m.sender, m.subject
		got := mustRecord(t, l, rec)
		ids[m.name] = got.ID
		atts, _, err := l.RecordJudgment(ctx, got.ID, m.j, rules.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range atts {
			claimIDs[a.IncidentID+" "+a.TenantID] = a.ClaimID
		}
	}
	if err := l.SetClaimField(ctx, claimIDs["EX315208 "+tenantB], claims.FieldTicket, "2602150040001234", "anna"); err != nil {
		t.Fatal(err)
	}
	return l, ids, claimIDs
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	l, ids, claimIDs := searchFixture(t)
	ca, cb := claimIDs["EX315207 "+tenantA], claimIDs["EX315208 "+tenantB]
	tests := []struct {
		q            string
		verdicts     []rules.Verdict
		wantMessages []string // newest first
		wantClaims   []int64
		wantTenants  []string
	}{
		{"ex315207", nil, []string{"a2", "a1"}, []int64{ca}, []string{tenantA}},
		{"EX315208", nil, []string{"b1"}, []int64{cb}, []string{tenantB}},
		{"EX999999", nil, nil, nil, nil},
		{tenantB, nil, []string{"b1"}, []int64{cb}, []string{tenantB}},
		{"JANE@contoso.com", nil, []string{"unmatched", "a1"}, []int64{ca}, []string{tenantA}},
		{"jane@contoso.com", []rules.Verdict{rules.Rejected, rules.Unmatched}, []string{"unmatched"}, []int64{ca}, []string{tenantA}},
		{"ops@it.contoso.com", nil, []string{"a2"}, []int64{ca}, []string{tenantA}},
		{"contoso.com", nil, []string{"unmatched", "a1"}, []int64{ca}, []string{tenantA}},
		{"it.contoso.com", nil, []string{"a2"}, []int64{ca}, []string{tenantA}},
		{"gmail.com", nil, []string{"gmail"}, nil, nil},
		{"2602150040001234", nil, []string{"unmatched"}, []int64{cb}, []string{tenantB}},
		{"exchange", nil, []string{"gmail", "b1", "a1"}, nil, nil},
		{"exchange", []rules.Verdict{rules.Accepted}, []string{"b1", "a1"}, nil, nil},
		{"vypadek", nil, []string{"b1"}, nil, nil},
		{"Contoso", nil, nil, []int64{ca}, []string{tenantA}},
		{"fabrikam brno", nil, nil, []int64{cb}, []string{tenantB}},
		{"fabrikam prague", nil, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.q, tt.verdicts), func(t *testing.T) {
			s, err := ParseSearch(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			page, err := l.MessageList(ctx, MessageQuery{Search: &s, Verdicts: tt.verdicts})
			if err != nil {
				t.Fatalf("MessageList: %v", err)
			}
			var want []int64
			for _, n := range tt.wantMessages {
				want = append(want, ids[n])
			}
			var got []int64
			for _, m := range page.Messages {
				got = append(got, m.ID)
			}
			if !slices.Equal(got, want) || page.Total != len(want) {
				t.Errorf("MessageList(%q) = %v (total %d), want %v", tt.q, got, page.Total, want)
			}
			cp, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{Search: &s}})
			if err != nil {
				t.Fatalf("ClaimList: %v", err)
			}
			var gotClaims []int64
			for _, c := range cp.Claims {
				gotClaims = append(gotClaims, c.ID)
			}
			if !slices.Equal(gotClaims, tt.wantClaims) || cp.Total != len(tt.wantClaims) {
				t.Errorf("ClaimList(%q) = %v (total %d), want %v", tt.q, gotClaims, cp.Total, tt.wantClaims)
			}
			tenants, err := l.SearchTenants(ctx, s)
			if err != nil {
				t.Fatalf("SearchTenants: %v", err)
			}
			var gotTenants []string
			for _, tn := range tenants {
				gotTenants = append(gotTenants, tn.ID)
			}
			if !slices.Equal(gotTenants, tt.wantTenants) {
				t.Errorf("SearchTenants(%q) = %v, want %v", tt.q, gotTenants, tt.wantTenants)
			}
		})
	}
}

// TestSearchFollowsRejudgment: the text index follows a message's
// incident IDs when a re-judgment changes them.
func TestSearchFollowsRejudgment(t *testing.T) {
	ctx := context.Background()
	l, ids, _ := searchFixture(t)
	if _, err := l.reprocessMessage(ctx, ids["a2"], accepted(tenantA, "EX400001"), rules.Version, "anna"); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string][]int64{"EX400001": {ids["a2"]}, "EX315207": {ids["a1"]}} {
		s, _ := ParseSearch(q)
		page, err := l.MessageList(ctx, MessageQuery{Search: &s})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, m := range page.Messages {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("after re-judging, MessageList(%s) = %v, want %v", q, got, want)
		}
	}
}

func TestMessageListPaging(t *testing.T) {
	ctx := context.Background()
	l, ids := queryFixture(t)
	all := slices.Clone(ids)
	slices.Sort(all)
	s, _ := ParseSearch("outage")
	triage := []rules.Verdict{rules.Rejected, rules.Unmatched}
	tests := []struct {
		name  string
		q     MessageQuery
		want  []int64
		total int
	}{
		{"all, newest first", MessageQuery{}, reversed(all), 8},
		{"all, oldest first", MessageQuery{Sort: SortOldest}, all, 8},
		{"triage, newest first", MessageQuery{Verdicts: triage}, []int64{ids[6], ids[5], ids[3], ids[2]}, 4},
		{"triage, oldest first", MessageQuery{Verdicts: triage, Sort: SortOldest}, []int64{ids[2], ids[3], ids[5], ids[6]}, 4},
		{"words, oldest first", MessageQuery{Search: &s, Sort: SortOldest}, all, 8},
		{"words in triage", MessageQuery{Search: &s, Verdicts: triage}, []int64{ids[6], ids[5], ids[3], ids[2]}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{1, 3, 100} {
				q := tt.q
				q.Limit = limit
				var got []int64
				for pages := 0; ; pages++ {
					page, err := l.MessageList(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if page.Total != tt.total {
						t.Errorf("limit %d: total %d, want %d", limit, page.Total, tt.total)
					}
					for _, m := range page.Messages {
						got = append(got, m.ID)
					}
					if page.Next == "" || pages > 20 {
						break
					}
					q.Cursor = page.Next
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("limit %d: pages hold %v, want %v", limit, got, tt.want)
				}
			}
		})
	}
	for _, q := range []MessageQuery{{Sort: "biggest"}, {Cursor: "abc"}, {Cursor: "-4"}, {Cursor: "o4"}, {Cursor: "4", Sort: SortOldest},
		{Cursor: "+4"}, {Verdicts: []rules.Verdict{"maybe"}}} {
		if _, err := l.MessageList(ctx, q); err == nil {
			t.Errorf("MessageList(%+v) = nil error, want one", q)
		} else if q.Cursor != "" && !errors.Is(err, ErrBadCursor) {
			t.Errorf("MessageList(%+v) = %v, want ErrBadCursor", q, err)
		}
	}
}

// TestMessageListCountCap: a search counts its matches up to the cap and
// then says so; the pages go on past it.
func TestMessageListCountCap(t *testing.T) {
	ctx := context.Background()
	l, _ := queryFixture(t) // eight messages, all with "outage" in the subject
	defer func(n int) { messageCountCap = n }(messageCountCap)
	messageCountCap = 3
	s, _ := ParseSearch("outage")
	triage := []rules.Verdict{rules.Rejected, rules.Unmatched}
	for _, tt := range []struct {
		name   string
		q      MessageQuery
		total  int
		capped bool
	}{
		{"text index alone", MessageQuery{Search: &s}, 3, true},
		{"with verdicts", MessageQuery{Search: &s, Verdicts: triage}, 3, true},
		{"under the cap", MessageQuery{Search: &s, Verdicts: []rules.Verdict{rules.Accepted}}, 3, false},
		{"by an index", MessageQuery{Search: &Search{Kind: SearchSender, Term: "jane@contoso.com"}}, 3, true},
		{"no search: the kept counts", MessageQuery{}, 8, false},
	} {
		page, err := l.MessageList(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != tt.total || page.TotalCapped != tt.capped {
			t.Errorf("%s: total %d, capped %v; want %d, %v", tt.name, page.Total, page.TotalCapped, tt.total, tt.capped)
		}
	}
	page, err := l.MessageList(ctx, MessageQuery{Search: &s, Limit: 5})
	if err != nil || len(page.Messages) != 5 || page.Next == "" {
		t.Errorf("a capped search's page: %d messages, next %q, %v; want 5 and more", len(page.Messages), page.Next, err)
	}
}

func reversed(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

// FuzzSearchLedger runs every search ParseSearch accepts against a small
// ledger: whatever the words, the text index is given a query it takes
// (no FTS5 syntax error), and every kind's SQL runs.
func FuzzSearchLedger(f *testing.F) {
	for _, s := range []string{"EX315207", "jane@contoso.com", "contoso.com", "2602150040001234", "Exchange outage",
		"\u0300", "ǅ", "a\u200bb", "日本語", "²", "NEAR", "OR NOT", `"a" OR b*`, "x\u00a0y"} {
		f.Add(s)
	}
	l, _, _ := searchFixture(f)
	f.Fuzz(func(t *testing.T, q string) {
		s, err := ParseSearch(q)
		if err != nil {
			return
		}
		ctx := context.Background()
		if _, err := l.MessageList(ctx, MessageQuery{Search: &s, Verdicts: []rules.Verdict{rules.Rejected}}); err != nil {
			t.Fatalf("MessageList(%+v): %v", s, err)
		}
		if _, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{Search: &s}}); err != nil {
			t.Fatalf("ClaimList(%+v): %v", s, err)
		}
		if _, err := l.SearchTenants(ctx, s); err != nil {
			t.Fatalf("SearchTenants(%+v): %v", s, err)
		}
	})
}
