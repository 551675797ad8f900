package archive

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/claimtrail/claimtrail/rules"
)

// MessageSort orders a message list.
type MessageSort string

// The message list's sorts, both by the order messages were recorded in.
const (
	// SortNewest is the most recently recorded message first.
	SortNewest MessageSort = "newest"
	// SortOldest is SortNewest reversed.
	SortOldest MessageSort = "oldest"
)

// DefaultMessagePage and MaxMessagePage bound a MessageQuery's Limit.
const (
	DefaultMessagePage = 100
	MaxMessagePage     = 500
)

// MessageCountCap is where a message list with a search stops counting:
// counting every message with a common word costs what reading them does
// (at 1M messages, 10,000 matches of a verdict-filtered search took 50 ms
// to count, 1,000 take 5). A page whose Total reached it says TotalCapped.
const MessageCountCap = 1000

// messageCountCap is MessageCountCap; tests lower it.
var messageCountCap = MessageCountCap

// MessageQuery asks for one page of a message list.
type MessageQuery struct {
	// Verdicts keeps the messages whose current judgment has one of these
	// verdicts; none keeps all, judged or not.
	Verdicts []rules.Verdict
	// Search keeps the messages a search selects (see SearchKind); nil
	// keeps all.
	Search *Search
	Sort   MessageSort // "" is SortNewest
	// Cursor is the Next of the previous page; "" asks for the first.
	Cursor string
	// Limit is the page's size: 0 is DefaultMessagePage, and more than
	// MaxMessagePage is MaxMessagePage.
	Limit int
	// NoTotal skips counting: the page's Total is then -1.
	NoTotal bool
}

// MessagePage is one page of a message list.
type MessagePage struct {
	Messages []*Message
	// Next is the cursor of the following page; "" on the last page.
	Next string
	// Total is how many messages the query selects in all (-1 with
	// NoTotal); with a search, at most MessageCountCap.
	Total int
	// TotalCapped says that Total is MessageCountCap and more messages
	// match.
	TotalCapped bool
}

// MessageList returns one page of the messages q selects, in q's order.
// Every page walks an index from the cursor on: the verdict index, the
// sender, domain or tenant index of migration 0014, or the words of
// message_search, so that it costs its rows whatever the ledger holds. A
// malformed cursor is an error wrapping ErrBadCursor.
func (l *Ledger) MessageList(ctx context.Context, q MessageQuery) (MessagePage, error) {
	const op = "list messages"
	page := MessagePage{Total: -1}
	var verdicts []rules.Verdict
	for _, v := range q.Verdicts {
		if v != rules.Accepted && v != rules.Rejected && v != rules.Unmatched {
			return page, fmt.Errorf("archive: %s: unknown verdict %q; use accepted, rejected or unmatched", op, v)
		}
		if !slices.Contains(verdicts, v) {
			verdicts = append(verdicts, v)
		}
	}
	desc := true
	switch q.Sort {
	case "", SortNewest:
	case SortOldest:
		desc = false
	default:
		return page, fmt.Errorf("archive: %s: sort %q is not newest or oldest", op, q.Sort)
	}
	limit := pageLimit(q.Limit, DefaultMessagePage, MaxMessagePage)
	// A cursor is the last message's ID, marked "o" when oldest first, so
	// that it continues only the sort it came from.
	mark := ""
	if !desc {
		mark = "o"
	}
	var after int64
	if q.Cursor != "" {
		digits, ok := strings.CutPrefix(q.Cursor, mark)
		id, err := strconv.ParseInt(digits, 10, 64)
		if !ok || err != nil || id <= 0 || strconv.FormatInt(id, 10) != digits {
			return page, fmt.Errorf("archive: %s: %w", op, ErrBadCursor)
		}
		after = id
	}

	// from is the rows walked, key the column they are walked by.
	from, key := `messages m`, `m.id`
	var conds []string
	var args []any
	if s := q.Search; s != nil {
		if s.usesText() {
			var cond string
			var targs []any
			from, key, cond, targs = l.eng.textSearch(s.textWords())
			conds, args = append(conds, cond), append(args, targs...)
		} else {
			cond, cargs := s.messageCond()
			conds, args = append(conds, cond), append(args, cargs...)
		}
	}

	if !q.NoTotal {
		var err error
		textFrom := ""
		if q.Search != nil && q.Search.usesText() {
			textFrom = l.eng.textCountFrom
		}
		if page.Total, page.TotalCapped, err = l.countMessages(ctx, q.Search != nil, textFrom, verdicts, from, conds, args); err != nil {
			return page, dbErr(op, err)
		}
	}

	cmpOp, dir := "<", "DESC"
	if !desc {
		cmpOp, dir = ">", "ASC"
	}
	if after == 0 && desc {
		after = math.MaxInt64
	}
	// Even the first page bounds its key: the walk is then a SEARCH from
	// one end, which the plan checks tell from reading the table whole.
	conds, args = append(conds, key+` `+cmpOp+` ?`), append(args, after)
	run := func(conds []string, args []any) ([]*Message, error) {
		qs := messageColumns + ` FROM ` + from
		if len(conds) > 0 {
			qs += ` WHERE ` + strings.Join(conds, ` AND `)
		}
		qs += ` ORDER BY ` + key + ` ` + dir + ` LIMIT ?`
		return l.readMessages(ctx, op, qs, append(args, limit+1)...)
	}
	var msgs []*Message
	switch {
	case len(verdicts) == 0:
		var err error
		if msgs, err = run(conds, args); err != nil {
			return page, err
		}
	case q.Search == nil:
		// One walk of messages_verdict per verdict, merged: an IN over
		// the verdicts would sort them all.
		for _, v := range verdicts {
			part, err := run(append([]string{`m.verdict = ?`}, conds...), append([]any{string(v)}, args...))
			if err != nil {
				return page, err
			}
			msgs = mergeByID(msgs, part, desc)
		}
	default:
		// The search's index orders the walk; the verdict filters it.
		in, vargs := verdictsIn(verdicts)
		var err error
		if msgs, err = run(append(conds, `m.verdict IN (`+in+`)`), append(args, vargs...)); err != nil {
			return page, err
		}
	}
	if len(msgs) > limit {
		msgs = msgs[:limit]
		page.Next = mark + strconv.FormatInt(msgs[limit-1].ID, 10)
	}
	page.Messages = msgs
	if page.Messages == nil {
		page.Messages = []*Message{}
	}
	return page, nil
}

// countMessages counts what a message list selects. Without a search the
// kept counts answer; with one, the walk counts up to MessageCountCap.
func (l *Ledger) countMessages(ctx context.Context, search bool, textFrom string, verdicts []rules.Verdict, from string, conds []string, args []any) (int, bool, error) {
	if !search {
		counts, err := l.MessageCounts(ctx)
		if err != nil {
			return 0, false, err
		}
		n := 0
		for _, v := range verdicts {
			n += counts[v]
		}
		if len(verdicts) == 0 {
			for _, c := range counts {
				n += c
			}
			// Messages not judged yet are few: they have no count kept,
			// and messages_verdict finds them.
			var unjudged int
			if err := l.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages m WHERE m.verdict IS NULL`).Scan(&unjudged); err != nil {
				return 0, false, err
			}
			n += unjudged
		}
		return n, false, nil
	}
	if len(verdicts) > 0 {
		in, vargs := verdictsIn(verdicts)
		conds, args = append(slices.Clone(conds), `m.verdict IN (`+in+`)`), append(slices.Clone(args), vargs...)
	} else if textFrom != "" {
		// Without a verdict to check, the text index counts alone.
		from = textFrom
	}
	var n int
	err := l.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+from+` WHERE `+strings.Join(conds, ` AND `)+` LIMIT ?) AS capped`,
		append(slices.Clone(args), messageCountCap+1)...).Scan(&n)
	if err != nil {
		return 0, false, err
	}
	if n > messageCountCap {
		return messageCountCap, true, nil
	}
	return n, false, nil
}

func verdictsIn(vs []rules.Verdict) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = string(v)
	}
	return "?" + strings.Repeat(", ?", len(vs)-1), args
}

// mergeByID merges two lists of messages ordered by ID (highest first when
// desc) into one.
func mergeByID(a, b []*Message, desc bool) []*Message {
	if len(a) == 0 {
		return b
	}
	out := make([]*Message, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if (a[0].ID > b[0].ID) == desc {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// SearchTenants returns the tenants of the registry that s selects (see
// SearchKind), ordered by ID, domains sorted.
func (l *Ledger) SearchTenants(ctx context.Context, s Search) ([]rules.Tenant, error) {
	cond, args := s.tenantCond()
	out, err := tenantsWhere(ctx, l.r, cond, args)
	if err != nil {
		return nil, dbErr("search tenants", err)
	}
	return out, nil
}
