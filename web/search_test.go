package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
)

// searchAnswer is GET /api/v1/search's answer as a client reads it.
type searchAnswer struct {
	Kind   string `json:"kind"`
	Term   string `json:"term"`
	Claims struct {
		Items []claimRow `json:"items"`
		Total int        `json:"total"`
		URL   string     `json:"url"`
	} `json:"claims"`
	Messages struct {
		Items []messageRow `json:"items"`
		Total int          `json:"total"`
		URL   string       `json:"url"`
	} `json:"messages"`
	Tenants struct {
		Items []searchTenant `json:"items"`
		Total int            `json:"total"`
	} `json:"tenants"`
}

// messagesAnswer is GET /api/v1/messages's answer as a client reads it.
type messagesAnswer struct {
	Messages []messageRow `json:"messages"`
	More     bool         `json:"more"`
	Next     string       `json:"next"`
	Total    int          `json:"total"`
}

func TestAPISearch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.ledger.SetClaimField(ctx, f.claimFor(contosoID, "SP1234567"), claims.FieldTicket, "2602150040001234", "anna"); err != nil {
		t.Fatal(err)
	}
	token := f.apiToken("vera")
	tests := []struct {
		q        string
		kind     string
		claims   []string // incident IDs, soonest deadline first
		messages []string // fixture mail names, newest first
		tenants  []string
	}{
		{"ex315207", "incident", []string{"EX315207"}, []string{"northwind", "gmail", "xss"}, []string{contosoID}},
		{fabrikamID, "tenant", []string{"TM1112332"}, []string{"teams"}, []string{fabrikamID}},
		{"Jana.Novak@gmail.com", "sender", nil, []string{"gmail"}, nil},
		{"contoso.com", "domain", []string{"EX315207", "SP1234567"}, []string{"noid", "sharepoint", "xss"}, []string{contosoID}},
		{"2602150040001234", "ticket", []string{"SP1234567"}, nil, []string{contosoID}},
		{"Fabrikam", "words", []string{"TM1112332"}, nil, []string{fabrikamID}},
		{"OUTAGE", "words", nil, []string{"gmail", "teams"}, nil},
		{"sharepoint unavailable", "words", nil, []string{"sharepoint"}, nil},
		{"nothing-like-this", "words", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got := decode[searchAnswer](t, f.apiCall("GET", "/api/v1/search?q="+url.QueryEscape(tt.q), token, ""))
			if got.Kind != tt.kind {
				t.Errorf("kind %q, want %q", got.Kind, tt.kind)
			}
			var incidents []string
			for _, c := range got.Claims.Items {
				incidents = append(incidents, c.IncidentID)
			}
			if !slices.Equal(incidents, tt.claims) || got.Claims.Total != len(tt.claims) {
				t.Errorf("claims %v (total %d), want %v", incidents, got.Claims.Total, tt.claims)
			}
			var shas, want []string
			for _, m := range got.Messages.Items {
				shas = append(shas, m.SHA256)
			}
			for _, n := range tt.messages {
				want = append(want, f.sha[n])
			}
			if !slices.Equal(shas, want) || got.Messages.Total != len(want) {
				t.Errorf("messages %v (total %d), want %v", shas, got.Messages.Total, tt.messages)
			}
			var tenants []string
			for _, tn := range got.Tenants.Items {
				tenants = append(tenants, tn.ID)
			}
			if !slices.Equal(tenants, tt.tenants) || got.Tenants.Total != len(tt.tenants) {
				t.Errorf("tenants %v, want %v", tenants, tt.tenants)
			}
			// Each section links its full list, which finds the same.
			wantURL := "/api/v1/messages?q=" + url.QueryEscape(tt.q)
			if got.Messages.URL != wantURL {
				t.Errorf("messages URL %q, want %q", got.Messages.URL, wantURL)
			}
			list := decode[messagesAnswer](t, f.apiCall("GET", got.Messages.URL, token, ""))
			if list.Total != got.Messages.Total {
				t.Errorf("GET %s: total %d, want the search's %d", got.Messages.URL, list.Total, got.Messages.Total)
			}
			claimList := decode[struct {
				Total int `json:"total"`
			}](t, f.apiCall("GET", got.Claims.URL, token, ""))
			if claimList.Total != got.Claims.Total {
				t.Errorf("GET %s: total %d, want the search's %d", got.Claims.URL, claimList.Total, got.Claims.Total)
			}
		})
	}
	for _, bad := range []string{"", "q=", "q=%20%2A%2A", "q=" + strings.Repeat("x", archive.MaxSearchLen+1)} {
		rec := f.apiCall("GET", "/api/v1/search?"+bad, token, "")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("GET /api/v1/search?%s = %d %s, want 400 with an error", bad, rec.Code, rec.Body.String())
		}
	}
}

// TestAPIMessagesPaging walks the messages list a message at a time in
// both orders and checks each walk sees the one big page's messages, in
// order, with the total.
func TestAPIMessagesPaging(t *testing.T) {
	f := newFixture(t)
	token := f.apiToken("vera")
	for _, query := range []string{"", "sort=oldest", "verdict=rejected", "verdict=accepted&sort=oldest", "q=contoso.com", "q=outage&sort=oldest"} {
		all := decode[messagesAnswer](t, f.apiCall("GET", "/api/v1/messages?limit=500&"+query, token, ""))
		if len(all.Messages) == 0 || all.More || all.Total != len(all.Messages) {
			t.Fatalf("%s: one big page of %d, more %v, total %d", query, len(all.Messages), all.More, all.Total)
		}
		var walked []string
		path := "/api/v1/messages?limit=1&" + query
		for i := 0; i <= len(all.Messages); i++ {
			page := decode[messagesAnswer](t, f.apiCall("GET", path, token, ""))
			for _, m := range page.Messages {
				walked = append(walked, m.SHA256)
			}
			if page.Total != all.Total || page.More != (page.Next != "") {
				t.Errorf("%s: total %d, more %v, next %q", path, page.Total, page.More, page.Next)
			}
			if !page.More {
				break
			}
			path = "/api/v1/messages?limit=1&" + query + "&cursor=" + url.QueryEscape(page.Next)
		}
		var want []string
		for _, m := range all.Messages {
			want = append(want, m.SHA256)
		}
		if !slices.Equal(walked, want) {
			t.Errorf("%s: paged walk %v, want %v", query, walked, want)
		}
	}
	newest := decode[messagesAnswer](t, f.apiCall("GET", "/api/v1/messages", token, ""))
	oldest := decode[messagesAnswer](t, f.apiCall("GET", "/api/v1/messages?sort=oldest", token, ""))
	if len(newest.Messages) != len(fixtureMails) || newest.Messages[0].SHA256 != f.sha[fixtureMails[len(fixtureMails)-1].name] ||
		oldest.Messages[0].SHA256 != f.sha[fixtureMails[0].name] {
		t.Errorf("newest first starts with %s, oldest first with %s", newest.Messages[0].SHA256, oldest.Messages[0].SHA256)
	}
	for _, m := range decode[messagesAnswer](t, f.apiCall("GET", "/api/v1/messages?verdict=unmatched", token, "")).Messages {
		if m.Verdict != "unmatched" {
			t.Errorf("verdict=unmatched lists a %s message", m.Verdict)
		}
	}
	for _, bad := range []string{"sort=biggest", "verdict=maybe", "cursor=abc", "limit=0", "q=%2A"} {
		rec := f.apiCall("GET", "/api/v1/messages?"+bad, token, "")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("GET /api/v1/messages?%s = %d %s, want 400 with an error", bad, rec.Code, rec.Body.String())
		}
	}
}

// TestAPISorts: triage and tenants sort as asked, the claims list takes
// a search, and a sort no list knows is a 400 on every list.
func TestAPISorts(t *testing.T) {
	f := newFixture(t)
	token := f.apiToken("vera")
	triage := func(query string) []string {
		var out []string
		for _, m := range decode[triageAnswer](t, f.apiCall("GET", "/api/v1/triage?"+query, token, "")).Messages {
			out = append(out, m.SHA256)
		}
		return out
	}
	newest, oldest := triage(""), triage("sort=oldest")
	if len(newest) < 2 || !slices.Equal(newest, reversedStrings(oldest)) {
		t.Errorf("triage oldest first %v is not newest first %v reversed", oldest, newest)
	}
	if got := triage("q=contoso.com"); !slices.Equal(got, []string{f.sha["noid"]}) {
		t.Errorf("triage?q=contoso.com = %v, want the unmatched contoso mail", got)
	}
	tenants := func(query string) []string {
		var out []string
		for _, tn := range decode[struct {
			Tenants []struct {
				ID string `json:"id"`
			} `json:"tenants"`
		}](t, f.apiCall("GET", "/api/v1/tenants?"+query, token, "")).Tenants {
			out = append(out, tn.ID)
		}
		return out
	}
	for query, want := range map[string][]string{
		"":                   {contosoID, fabrikamID},
		"sort=-name":         {fabrikamID, contosoID},
		"sort=id":            {fabrikamID, contosoID},
		"q=fabrikam.com":     {fabrikamID},
		"sort=-name&limit=1": {fabrikamID},
	} {
		if got := tenants(query); !slices.Equal(got, want) {
			t.Errorf("tenants?%s = %v, want %v", query, got, want)
		}
	}
	first := decode[struct {
		Next string `json:"next"`
	}](t, f.apiCall("GET", "/api/v1/tenants?sort=-name&limit=1", token, ""))
	if got := tenants("sort=-name&limit=1&cursor=" + url.QueryEscape(first.Next)); !slices.Equal(got, []string{contosoID}) {
		t.Errorf("second page of tenants by name reversed = %v, want contoso", got)
	}
	if rec := f.apiCall("GET", "/api/v1/tenants?sort=id&cursor="+url.QueryEscape(first.Next), token, ""); rec.Code != http.StatusBadRequest {
		t.Errorf("a -name cursor with sort=id = %d, want 400", rec.Code)
	}
	for _, path := range []string{"/api/v1/claims?sort=size", "/api/v1/triage?sort=size", "/api/v1/tenants?sort=size",
		"/api/v1/messages?sort=size", "/api/v1/claims?q=%2A%2A"} {
		rec := f.apiCall("GET", path, token, "")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("GET %s = %d %s, want 400 with an error", path, rec.Code, rec.Body.String())
		}
	}
}

func reversedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestSearchPages: the header's search box is on every page, the search
// page shows each section with its count and link, and the messages list
// links each message.
func TestSearchPages(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.session("vera")
	rec := f.get("/search?q=EX315207", cookie)
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /search = %d", rec.Code)
	}
	for _, want := range []string{`role="search"`, `value="EX315207"`, `href="/claims?q=EX315207"`, `href="/messages?q=EX315207"`,
		`href="/triage?q=EX315207"`, `id="search-claims"`, `id="search-messages"`, `id="search-tenants"`, `/messages/` + f.sha["northwind"]} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /search?q=EX315207 lacks %s", want)
		}
	}
	rec = f.get("/messages?verdict=rejected", cookie)
	body = rec.Body.String()
	for _, want := range []string{`href="/messages/` + f.sha["gmail"] + `"`, `href="/messages/` + f.sha["northwind"] + `"`, `aria-current="page">Messages`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /messages?verdict=rejected lacks %s", want)
		}
	}
	if strings.Contains(body, f.sha["xss"]) {
		t.Errorf("GET /messages?verdict=rejected lists an accepted message")
	}
	for _, path := range []string{"/search?q=%2A%2A", "/messages?sort=x", "/claims?sort=x", "/triage?sort=x", "/tenants?sort=x"} {
		if rec := f.get(path, cookie); rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", path, rec.Code)
		}
	}
	if rec := f.get("/search", cookie); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Type an incident ID") {
		t.Errorf("GET /search without q = %d, want the form with a hint", rec.Code)
	}
}
