package web

import (
	"net/url"
	"strconv"
	"strings"
)

// Every list of the JSON API that grows with the ledger (claims, triage,
// messages, the audit trail, a claim's audit, incidents and an incident's
// claims) and the tenant registry pages the same way, and the pages use it
// too:
//
//   - ?limit=N asks for at most N items (1 to the list's maximum; each list
//     has a default);
//   - ?cursor=C asks for the page after the one whose answer said
//     "next": C. A cursor is opaque: it is only ever copied from an answer,
//     and stays valid while items are added (keyset paging, never offsets);
//   - the answer carries "more" (whether a next page exists), "next" (its
//     cursor, absent on the last page) and, on lists where counting is
//     cheap, "total" (how many items the filter selects in all). A search
//     of the mail counts up to archive.MessageCountCap: "total_capped":
//     true then says that more match than "total".
//
// README.md's "JSON API" section documents this contract; keep them
// together.

// pageReq is one request's paging: how many items, and after which cursor.
type pageReq struct {
	Limit  int
	Cursor string
}

// maxCursorLen bounds a cursor: they are short keys, and anything longer
// is not one of ours.
const maxCursorLen = 512

// parsePage reads ?limit= and ?cursor= for a list whose default page is
// def items and largest maxLimit.
func parsePage(q url.Values, def, maxLimit int) (pageReq, error) {
	p := pageReq{Limit: def, Cursor: strings.TrimSpace(q.Get("cursor"))}
	if l := strings.TrimSpace(q.Get("limit")); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > maxLimit {
			return p, badRequest("limit=%q is not a number from 1 to %d", l, maxLimit)
		}
		p.Limit = n
	}
	if len(p.Cursor) > maxCursorLen {
		return p, badRequest("cursor is not one this server gave: copy the \"next\" of the previous page")
	}
	return p, nil
}

// pageInfo is the paging part of a list's answer.
type pageInfo struct {
	// Next is the cursor of the following page; empty on the last page.
	Next string
	// Total is how many items the filter selects in all; -1 when the list
	// does not count them.
	Total int
	// Capped says that Total stopped counting: more items match.
	Capped bool
}

// put adds the paging fields to a JSON answer.
func (p pageInfo) put(out map[string]any) map[string]any {
	out["more"] = p.Next != ""
	if p.Next != "" {
		out["next"] = p.Next
	}
	if p.Total >= 0 {
		out["total"] = p.Total
	}
	if p.Capped {
		out["total_capped"] = true
	}
	return out
}

// nextURL is the link to the following page: the request's query with
// cursor set to next.
func nextURL(path string, q url.Values, next string) string {
	v := url.Values{}
	for k, vs := range q {
		if k != "cursor" {
			v[k] = vs
		}
	}
	v.Set("cursor", next)
	return path + "?" + v.Encode()
}
