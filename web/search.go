package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// searchShown is how many of each kind of match the search page and API
// show; each section links its full list.
const searchShown = 10

// searchSection is one kind of match: the first few, how many in all, and
// the list that shows them all.
type searchSection[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
	// Capped says Total stopped counting at archive.MessageCountCap.
	Capped bool `json:"total_capped,omitempty"`
	// URL is the full list, filtered by the search: a page for the page,
	// an API list for the API.
	URL string `json:"url"`
}

// searchResult is what a search finds.
type searchResult struct {
	Q        string                      `json:"q"`
	Kind     archive.SearchKind          `json:"kind"`
	Term     string                      `json:"term"`
	Claims   searchSection[claimRow]     `json:"claims"`
	Messages searchSection[messageRow]   `json:"messages"`
	Tenants  searchSection[searchTenant] `json:"tenants"`
	// Triage links the triage queue filtered by the search.
	Triage string `json:"triage_url"`
}

// searchTenant is a tenant as a search shows it.
type searchTenant struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
}

// search runs s over claims, messages and tenants; api says whether the
// sections link the API's lists or the pages.
func (s *Server) search(ctx context.Context, q string, sr archive.Search, api bool) (searchResult, error) {
	out := searchResult{Q: q, Kind: sr.Kind, Term: sr.Term}
	prefix := ""
	if api {
		prefix = "/api/v1"
	}
	link := func(list string) string { return prefix + list + "?" + url.Values{"q": {q}}.Encode() }
	claimRows, info, err := s.claimRows(ctx, claimFilter{Sort: claimSorts[0], Q: q}, pageReq{Limit: searchShown})
	if err != nil {
		return out, err
	}
	out.Claims = searchSection[claimRow]{Items: claimRows, Total: info.Total, URL: link("/claims")}
	page, err := s.ledger.MessageList(ctx, archive.MessageQuery{Search: &sr, Limit: searchShown})
	if err != nil {
		return out, err
	}
	rows, err := s.rowsOf(ctx, page.Messages)
	if err != nil {
		return out, err
	}
	out.Messages = searchSection[messageRow]{Items: rows, Total: page.Total, Capped: page.TotalCapped, URL: link("/messages")}
	tenants, err := s.ledger.SearchTenants(ctx, sr)
	if err != nil {
		return out, err
	}
	out.Tenants = searchSection[searchTenant]{Items: []searchTenant{}, Total: len(tenants), URL: link("/tenants")}
	for i, t := range sortTenants(tenants, "name") {
		if i == searchShown {
			break
		}
		st := searchTenant{ID: t.ID, Name: t.Name, Domains: t.Domains}
		if st.Domains == nil {
			st.Domains = []string{}
		}
		out.Tenants.Items = append(out.Tenants.Items, st)
	}
	out.Triage = link("/triage")
	return out, nil
}

// searchView is the search page: the form, and what it found.
type searchView struct {
	Q      string
	Result *searchResult
}

func (s *Server) searchPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sr, err := parseSearchParam(q)
	if err != nil {
		s.requestFailed(w, r, "search", err)
		return
	}
	v := searchView{Q: q.Get("q")}
	if sr != nil {
		res, err := s.search(r.Context(), v.Q, *sr, false)
		if err != nil {
			s.requestFailed(w, r, "search", err)
			return
		}
		v.Result = &res
	}
	s.render(w, r, http.StatusOK, "search", page0{Title: "Search", Nav: "search", Query: v.Q}, v)
}

func (s *Server) apiSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sr, err := parseSearchParam(q)
	if err == nil && sr == nil {
		err = badRequest("q is missing: %v", archive.ErrEmptySearch)
	}
	if err != nil {
		s.requestFailed(w, r, "search", err)
		return
	}
	res, err := s.search(r.Context(), q.Get("q"), *sr, true)
	if err != nil {
		s.requestFailed(w, r, "search", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// tenantSorts are the tenant list's sorts, the default first: by name
// (case aside, then ID), by name reversed, or by tenant ID.
var tenantSorts = []string{"name", "-name", "id"}

// tenantSortKey is the key that sort orders the registry by.
func tenantSortKey(sort string) func(rules.Tenant) string {
	if sort == "id" {
		return func(t rules.Tenant) string { return t.ID }
	}
	return tenantKey
}

// sortTenants sorts ts in place by sort (one of tenantSorts) and returns it.
func sortTenants(ts []rules.Tenant, sort string) []rules.Tenant {
	key := tenantSortKey(sort)
	slices.SortFunc(ts, func(a, b rules.Tenant) int {
		if sort == "-name" {
			a, b = b, a
		}
		return strings.Compare(key(a), key(b))
	})
	return ts
}
