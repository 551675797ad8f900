package claims

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Field names one value of a claim an analyst sets.
type Field string

// The fields. Values are validated and stored normalised (NormField):
//
//	incident_start     RFC 3339 time; makes the deadline final
//	azure              yes/no: the service is Azure (deadline rule)
//	csp                yes/no: bought through CSP; overrides the tenant's flag
//	downtime_start     RFC 3339 time
//	downtime_duration  a Go duration, e.g. "4h30m"
//	affected_users     a positive whole number
//	locations          free text, e.g. "Prague, Brno"
//	resolution         free text: what was done to resolve it at the time
//	ticket             the support ticket number
const (
	FieldIncidentStart    Field = "incident_start"
	FieldAzure            Field = "azure"
	FieldCSP              Field = "csp"
	FieldDowntimeStart    Field = "downtime_start"
	FieldDowntimeDuration Field = "downtime_duration"
	FieldAffectedUsers    Field = "affected_users"
	FieldLocations        Field = "locations"
	FieldResolution       Field = "resolution"
	FieldTicket           Field = "ticket"
)

// allFields in the order forms and errors list them.
var allFields = []Field{FieldIncidentStart, FieldAzure, FieldCSP, FieldDowntimeStart,
	FieldDowntimeDuration, FieldAffectedUsers, FieldLocations, FieldResolution, FieldTicket}

// Fields returns every field, in a fixed order. The slice is a fresh copy.
func Fields() []Field { return append([]Field(nil), allFields...) }

// ParseField returns the field called name, or an error listing the known
// ones.
func ParseField(name string) (Field, error) {
	for _, f := range allFields {
		if string(f) == name {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown field %q; known: %s", name, fieldNames())
}

// Label is the field's name as the pages show it ("Affected users").
func (f Field) Label() string {
	switch f {
	case FieldIncidentStart:
		return "Incident start (UTC)"
	case FieldAzure:
		return "Azure service"
	case FieldCSP:
		return "Bought through CSP"
	case FieldDowntimeStart:
		return "Downtime start (UTC)"
	case FieldDowntimeDuration:
		return "Downtime duration"
	case FieldAffectedUsers:
		return "Affected users"
	case FieldLocations:
		return "Affected locations"
	case FieldResolution:
		return "What was done to resolve it"
	case FieldTicket:
		return "Support ticket number"
	}
	return string(f)
}

// named is how errors name the field: as the pages do, with the key the
// API and the command take ("Affected users (affected_users)").
func (f Field) named() string {
	if l := f.Label(); l != string(f) {
		return l + " (" + string(f) + ")"
	}
	return string(f)
}

func fieldNames() string {
	names := make([]string, len(allFields))
	for i, f := range allFields {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// MaxFieldLen bounds free-text fields: Partner Center's Details box is not
// a document store.
const MaxFieldLen = 4000

// NormField validates value for field and returns it normalised: times in
// UTC RFC 3339, yes/no, durations without zero units ("4h30m"), whole
// numbers without leading zeros. Errors name the field and say what a good
// value looks like.
func NormField(field Field, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", fmt.Errorf("%s: empty value", field.named())
	}
	switch field {
	case FieldIncidentStart, FieldDowntimeStart:
		t, err := time.Parse(time.RFC3339, value)
		if err != nil {
			return "", fmt.Errorf("%s: %q is not an RFC 3339 time like 2026-02-15T09:30:00Z", field.named(), value)
		}
		return t.UTC().Format(time.RFC3339), nil
	case FieldAzure, FieldCSP:
		switch strings.ToLower(value) {
		case "yes", "y", "true", "1":
			return "yes", nil
		case "no", "n", "false", "0":
			return "no", nil
		}
		return "", fmt.Errorf("%s: %q is not yes or no", field.named(), value)
	case FieldDowntimeDuration:
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return "", fmt.Errorf("%s: %q is not a positive duration like 4h30m", field.named(), value)
		}
		return fmtDuration(d), nil
	case FieldAffectedUsers:
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || n == 0 {
			return "", fmt.Errorf("%s: %q is not a positive whole number", field.named(), value)
		}
		return strconv.FormatUint(n, 10), nil
	case FieldLocations, FieldResolution, FieldTicket:
		if len(value) > MaxFieldLen {
			return "", fmt.Errorf("%s: longer than %d bytes", field.named(), MaxFieldLen)
		}
		return value, nil
	}
	return "", fmt.Errorf("unknown field %q; known: %s", field, fieldNames())
}

// fmtDuration writes d as time.Duration does, without zero trailing units:
// "4h30m", not "4h30m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
