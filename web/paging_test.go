package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// triageAnswer is GET /api/v1/triage's answer as a client reads it.
type triageAnswer struct {
	Messages []triageItem `json:"messages"`
	More     bool         `json:"more"`
	Next     string       `json:"next"`
	Total    int          `json:"total"`
}

// TestTriagePaging walks the queue a message at a time, with new mail
// arriving on the way, and checks it sees the queue of one big page,
// each message once, in order.
func TestTriagePaging(t *testing.T) {
	f := newFixture(t)
	token := f.apiToken("anna")
	all := decode[triageAnswer](t, f.apiCall("GET", "/api/v1/triage?limit=500", token, ""))
	if len(all.Messages) < 3 || all.More || all.Next != "" || all.Total != len(all.Messages) {
		t.Fatalf("one big page: %d messages, more %v, next %q, total %d; want at least 3, no more, total = count",
			len(all.Messages), all.More, all.Next, all.Total)
	}
	var walked []string
	path := "/api/v1/triage?limit=1"
	for i := 0; ; i++ {
		if i > len(all.Messages) {
			t.Fatalf("walked %d pages for %d messages: the cursor does not advance", i, len(all.Messages))
		}
		page := decode[triageAnswer](t, f.apiCall("GET", path, token, ""))
		if len(page.Messages) != 1 {
			t.Fatalf("GET %s: %d messages, want 1", path, len(page.Messages))
		}
		walked = append(walked, page.Messages[0].SHA256)
		if page.More != (page.Next != "") {
			t.Errorf("GET %s: more %v but next %q", path, page.More, page.Next)
		}
		if i == 0 {
			// New mail in triage between two pages: newer than the
			// cursor, so it is on none of the pages still to come.
			f.record(context.Background(), fixtureMail{name: "late", from: "someone@gmail.com", subject: "late arrival",
				received: testNow.Add(time.Hour), judgment: rules.Judgment{Verdict: rules.Rejected,
					Reason: rules.ReasonPersonalAddress, Sender: "someone@gmail.com", SenderDomain: "gmail.com"}}, 900)
		} else if page.Total != all.Total+1 {
			t.Errorf("GET %s: total %d, want %d with the new mail", path, page.Total, all.Total+1)
		}
		if !page.More {
			break
		}
		path = "/api/v1/triage?limit=1&cursor=" + url.QueryEscape(page.Next)
	}
	var want []string
	for _, m := range all.Messages {
		want = append(want, m.SHA256)
	}
	if !slices.Equal(walked, want) {
		t.Errorf("paged walk = %v\nwant the big page's %v", walked, want)
	}

	for _, bad := range []string{"cursor=abc", "cursor=-3", "limit=0", "limit=501", "limit=x", "cursor=" + strings.Repeat("9", 600)} {
		rec := f.apiCall("GET", "/api/v1/triage?"+bad, token, "")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("GET /api/v1/triage?%s = %d %s, want 400 with an error", bad, rec.Code, rec.Body.String())
		}
	}

	// The page links the next page, keeping the other parameters.
	cookie, _ := f.session("anna")
	rec := f.get("/triage?limit=1", cookie)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /triage?limit=1 = %d", rec.Code)
	}
	first := decode[triageAnswer](t, f.apiCall("GET", "/api/v1/triage?limit=1", token, ""))
	if want := fmt.Sprintf(`<a href="/triage?cursor=%s&amp;limit=1" rel="next">`, url.QueryEscape(first.Next)); !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/triage?limit=1 has no link %s", want)
	}
	if rec := f.get("/triage?cursor=nope", cookie); rec.Code != http.StatusBadRequest {
		t.Errorf("GET /triage?cursor=nope = %d, want 400", rec.Code)
	}
}

// TestTenantsPaging walks the registry two tenants at a time, by name
// regardless of case, with a tenant added on the way.
func TestTenantsPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var add []rules.Tenant
	for i, name := range []string{"alpine Ski", "Bakery", "alpine ski", "Zeta", "Omega"} {
		add = append(add, rules.Tenant{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), Name: name,
			Domains: []string{fmt.Sprintf("t%d.example", i+1)}})
	}
	if _, err := f.ledger.UpsertTenants(ctx, add); err != nil {
		t.Fatal(err)
	}
	token := f.apiToken("vera")
	type answer struct {
		Tenants []struct{ ID, Name string } `json:"tenants"`
		More    bool                        `json:"more"`
		Next    string                      `json:"next"`
		Total   int                         `json:"total"`
	}
	all := decode[answer](t, f.apiCall("GET", "/api/v1/tenants?limit=1000", token, ""))
	if all.Total != len(all.Tenants) || all.More || len(all.Tenants) != 7 {
		t.Fatalf("one page: %d tenants, total %d, more %v; want all 7", len(all.Tenants), all.Total, all.More)
	}
	for i := 1; i < len(all.Tenants); i++ {
		if strings.ToLower(all.Tenants[i-1].Name) > strings.ToLower(all.Tenants[i].Name) {
			t.Errorf("tenants not by name: %q before %q", all.Tenants[i-1].Name, all.Tenants[i].Name)
		}
	}
	var walked []string
	path := "/api/v1/tenants?limit=2"
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("the cursor does not advance")
		}
		page := decode[answer](t, f.apiCall("GET", path, token, ""))
		for _, tn := range page.Tenants {
			walked = append(walked, tn.ID)
		}
		if i == 0 {
			// A tenant named after the first page's: it shows on a
			// later page.
			if _, err := f.ledger.UpsertTenants(ctx, []rules.Tenant{{ID: "00000000-0000-4000-8000-000000000099",
				Name: "Zulu", Domains: []string{"zulu.example"}}}); err != nil {
				t.Fatal(err)
			}
		}
		if !page.More {
			break
		}
		path = "/api/v1/tenants?limit=2&cursor=" + url.QueryEscape(page.Next)
	}
	var want []string
	for _, tn := range all.Tenants {
		want = append(want, tn.ID)
	}
	want = append(want, "00000000-0000-4000-8000-000000000099") // Zulu sorts last
	if !slices.Equal(walked, want) {
		t.Errorf("paged walk = %v\nwant %v", walked, want)
	}
	if rec := f.apiCall("GET", "/api/v1/tenants?cursor=notacursor", token, ""); rec.Code != http.StatusBadRequest {
		t.Errorf("a bad cursor = %d, want 400", rec.Code)
	}
	cookie, _ := f.session("vera")
	if page := f.get("/tenants?limit=3", cookie).Body.String(); !strings.Contains(page, `rel="next"`) || !strings.Contains(page, "8 tenants") {
		t.Errorf("/tenants?limit=3 has no next link or no total")
	}
}
