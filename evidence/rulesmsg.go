package evidence

import (
	"maps"
	"slices"

	"github.com/claimtrail/claimtrail/rules"
)

// RulesMessage returns what the rules need to judge the message: its
// header and text facts, its DKIM results and, recursively, its originals.
// Slices are copied, so the rules cannot change the facts. A nil Facts
// gives nil.
func (f *Facts) RulesMessage() *rules.Message {
	if f == nil {
		return nil
	}
	m := &rules.Message{
		From:                  f.Sender,
		FromHeader:            f.From,
		Authors:               slices.Clone(f.Authors),
		FromFields:            f.FromFields,
		AuthorsDropped:        f.AuthorsDropped,
		ReplyTo:               slices.Clone(f.ReplyTo),
		Subject:               f.Subject,
		Text:                  f.Text,
		HTMLText:              f.HTMLText,
		URLs:                  slices.Clone(f.URLs),
		AuthenticationResults: slices.Clone(f.AuthenticationResults),
		AutoFields:            maps.Clone(f.Automation),
		ReportType:            f.ReportType,
		Malformed:             f.Malformed,
		TooComplex:            f.TooComplex,
	}
	if f.DKIM != nil {
		// nil means "not verified"; an empty list means "no signatures".
		m.DKIM = make([]rules.DKIMResult, 0, len(f.DKIM))
		for _, d := range f.DKIM {
			m.DKIM = append(m.DKIM, rules.DKIMResult{Domain: d.Domain, Pass: d.Pass, Error: d.Error})
		}
	}
	for _, o := range f.Originals {
		if om := o.Facts.RulesMessage(); om != nil {
			m.Originals = append(m.Originals, *om)
		} else {
			// An original whose facts are missing still counts as an
			// attached message, one the rules cannot accept.
			m.Originals = append(m.Originals, rules.Message{Malformed: true})
		}
	}
	return m
}
