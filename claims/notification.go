package claims

import (
	"slices"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// maxNotificationScan bounds how much of a body ParseNotification reads: the
// facts sit at the top of a notification, however long a forward grows.
const maxNotificationScan = 256 << 10

// ParseNotification reads a Service Health notification mail from
// o365mc@microsoft.com, as a customer or colleague forwarded it, into
// provisional incident facts (Source SourceNotification; the caller sets
// ReadAt, e.g. to when the mail was received). ok is false when the text is
// not such a notification.
//
// The subject has the form "EX1321282: Exchange Online Service Health
// Incident (Service Restored)", after any "RE:"/"FW:"/"Fwd:" prefixes; when
// the subject is something else, a "Subject:" line of a forwarded header
// block in the body is read instead. From it come the ID, the service, the
// classification and the status. The body's "Key: value" lines add or
// override: "ID:", "Issue type:" (Incident / Advisory), "Start time:",
// "End time:", "Title:", "User impact:", "Status:", "Service:". Keys are
// read in any case; lines may carry "> " quote marks of an inline forward
// and "*" of bold text; the first line of each key counts.
//
// Times are read in these forms (ParseNotificationTime): RFC 3339
// ("2026-02-15T09:00:00Z"), "2026-02-15 09:00 UTC" (seconds optional),
// "February 15, 2026 9:00 AM UTC" or "Feb 15, 2026, 9:00 AM" (with or
// without a weekday in front, an "at" before the time, 24-hour times), and
// "15 February 2026 09:00 UTC". A zone of UTC, GMT or Z, or none, is UTC;
// a numeric offset ("+01:00") is honoured. Numeric dates such as 2/3/2026
// are not read, being ambiguous between the US and European orders; such
// a time stays zero.
//
// ok needs an incident ID (rules.ParseIncidentID) from the subject or an
// "ID:" line, plus the subject's Service Health form or an "Issue type:",
// "Start time:" or "End time:" line; when the subject and the "ID:" line
// name different incidents, ok is false rather than guess.
func ParseNotification(subject, body string) (inc Incident, ok bool) {
	if len(body) > maxNotificationScan {
		body = body[:maxNotificationScan]
	}
	// What is kept must write to JSON and read back the same.
	subject, body = strings.ToValidUTF8(subject, "\uFFFD"), strings.ToValidUTF8(body, "\uFFFD")
	lines := notificationLines(body)
	subj, subjOK := parseNotificationSubject(subject)
	if !subjOK {
		if s, found := lines["subject"]; found {
			subj, subjOK = parseNotificationSubject(s)
		}
	}
	inc = Incident{Source: SourceNotification}
	if subjOK {
		inc.ID, inc.Service, inc.Classification, inc.Status = subj.id, subj.service, subj.class, subj.status
	}
	if v, found := lines["id"]; found {
		id, err := rules.ParseIncidentID(firstWord(v))
		if err != nil {
			if !subjOK {
				return Incident{}, false
			}
		} else if inc.ID != "" && inc.ID != id {
			return Incident{}, false
		} else {
			inc.ID = id
		}
	}
	if inc.ID == "" {
		return Incident{}, false
	}
	_, hasType := lines["issue type"]
	_, hasStart := lines["start time"]
	_, hasEnd := lines["end time"]
	if !subjOK && !hasType && !hasStart && !hasEnd {
		return Incident{}, false
	}
	if v := lines["issue type"]; v != "" {
		inc.Classification = ParseClassification(v)
	}
	if v := lines["status"]; v != "" {
		inc.Status = CanonicalIssueStatus(v)
	}
	if v := lines["service"]; v != "" {
		inc.Service = v
	}
	inc.Title = lines["title"]
	inc.ImpactDescription = lines["user impact"]
	inc.Start, _ = ParseNotificationTime(lines["start time"])
	inc.End, _ = ParseNotificationTime(lines["end time"])
	inc.IsResolved = slices.Contains(resolvedStatuses, inc.Status)
	return inc, true
}

type notificationSubject struct {
	id, service, status string
	class               Classification
}

// replyPrefixes are the reply and forward markers mail clients put before a
// subject, in the languages partners' staff use most.
var replyPrefixes = []string{"re:", "fw:", "fwd:", "wg:", "tr:", "aw:", "sv:", "vs:", "rv:", "enc:", "doorst:", "odp:", "pd:", "[external]"}

// parseNotificationSubject reads "EX1321282: Exchange Online Service Health
// Incident (Service Restored)".
func parseNotificationSubject(s string) (notificationSubject, bool) {
	s = strings.TrimSpace(s)
	for trimmed := true; trimmed; {
		trimmed = false
		for _, p := range replyPrefixes {
			if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
				s, trimmed = strings.TrimSpace(s[len(p):]), true
			}
		}
	}
	idPart, rest, found := strings.Cut(s, ":")
	if !found {
		return notificationSubject{}, false
	}
	id, err := rules.ParseIncidentID(idPart)
	if err != nil {
		return notificationSubject{}, false
	}
	at := indexFoldASCII(rest, "service health")
	if at < 0 {
		return notificationSubject{}, false
	}
	out := notificationSubject{id: id, service: strings.TrimSpace(rest[:at])}
	tail := strings.TrimSpace(rest[at+len("service health"):])
	if open := strings.IndexByte(tail, '('); open >= 0 {
		if end := strings.IndexByte(tail[open:], ')'); end > 0 {
			out.status = CanonicalIssueStatus(tail[open+1 : open+end])
		}
		tail = tail[:open]
	}
	if class := strings.TrimSpace(tail); class != "" {
		out.class = ParseClassification(class)
	}
	return out, true
}

// notificationKeys are the body's keys ParseNotification reads, lower case.
var notificationKeys = []string{"id", "issue type", "start time", "end time", "title", "user impact", "status", "service", "subject"}

// notificationLines returns the first value of each key in notificationKeys
// found in body, with quote marks and bold stars stripped.
func notificationLines(body string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		for strings.HasPrefix(line, ">") {
			line = strings.TrimSpace(line[1:])
		}
		key, value, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		key = strings.ToLower(strings.Trim(strings.TrimSpace(key), "*_ "))
		if !slices.Contains(notificationKeys, key) {
			continue
		}
		if _, seen := out[key]; seen {
			continue
		}
		out[key] = oneLine(strings.Trim(value, "*_ \t"))
	}
	return out
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// notificationLayouts are the date-time forms of ParseNotificationTime,
// after it dropped the weekday, "at", commas and the zone.
var notificationLayouts = []string{
	"2006-01-02 15:04", "2006-01-02 15:04:05",
	"January 2 2006 3:04 PM", "January 2 2006 3:04:05 PM", "January 2 2006 15:04", "January 2 2006 15:04:05",
	"Jan 2 2006 3:04 PM", "Jan 2 2006 3:04:05 PM", "Jan 2 2006 15:04", "Jan 2 2006 15:04:05",
	"2 January 2006 15:04", "2 January 2006 15:04:05", "2 Jan 2006 15:04", "2 Jan 2006 15:04:05",
	"2 January 2006 3:04 PM", "2 Jan 2006 3:04 PM",
}

var weekdays = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
	"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// ParseNotificationTime reads a time as Service Health notifications and
// the mail clients that forward them write it; see ParseNotification for
// the forms. It returns the time in UTC, or ok false.
func ParseNotificationTime(s string) (t time.Time, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 100 {
		return time.Time{}, false
	}
	if t, err := ParseGraphTime(s); err == nil {
		return t, true
	}
	words := strings.Fields(strings.ReplaceAll(s, ",", " "))
	if len(words) > 0 && slices.Contains(weekdays, strings.ToLower(words[0])) {
		words = words[1:]
	}
	words = slices.DeleteFunc(words, func(w string) bool { return strings.EqualFold(w, "at") })
	loc := time.UTC
	if n := len(words); n > 0 {
		last := strings.Trim(words[n-1], "()")
		switch {
		case strings.EqualFold(last, "UTC"), strings.EqualFold(last, "GMT"), last == "Z":
			words = words[:n-1]
		case len(last) > 3 && (strings.HasPrefix(strings.ToUpper(last), "UTC") || strings.HasPrefix(strings.ToUpper(last), "GMT")) ||
			strings.HasPrefix(last, "+") || strings.HasPrefix(last, "-"):
			off, okOff := parseOffset(last)
			if !okOff {
				return time.Time{}, false
			}
			loc, words = time.FixedZone("", off), words[:n-1]
		}
	}
	for k, w := range words {
		if u := strings.ToUpper(w); u == "AM" || u == "PM" {
			words[k] = u
		}
	}
	v := strings.Join(words, " ")
	for _, layout := range notificationLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			t, err = inRange(t, s)
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// parseOffset reads "+01:00", "-0500", "UTC+1" or "GMT+05:30" as seconds
// east of UTC.
func parseOffset(s string) (int, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.ToUpper(s), "UTC"), "GMT")
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	sign, digits := 1, strings.ReplaceAll(s[1:], ":", "")
	if s[0] == '-' {
		sign = -1
	}
	if len(digits) <= 2 {
		digits += "00"
	}
	if len(digits) == 3 {
		digits = "0" + digits
	}
	if len(digits) != 4 {
		return 0, false
	}
	h, m := 0, 0
	for k, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		if k < 2 {
			h = h*10 + int(c-'0')
		} else {
			m = m*10 + int(c-'0')
		}
	}
	if h > 14 || m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

// indexFoldASCII is strings.Index ignoring ASCII case; unlike an index into
// strings.ToLower(s), it is an index into s itself.
func indexFoldASCII(s, substr string) int {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return i
		}
	}
	return -1
}
