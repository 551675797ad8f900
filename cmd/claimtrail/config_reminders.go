package main

import (
	"errors"
	"fmt"

	"github.com/claimtrail/claimtrail/remind"
)

// reminderErrors places the reminders section's errors at their keys:
// "claimtrail.yaml:40: reminders.smtp.from: ...".
func (c *Config) reminderErrors() []error {
	err := c.Reminders.WithDefaults().Validate()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var ke *remind.KeyError
		if errors.As(e, &ke) {
			key := "reminders." + ke.Key
			out = append(out, fmt.Errorf("%s: %s: %w", c.where(key), key, ke.Err))
			continue
		}
		out = append(out, fmt.Errorf("%s: reminders: %w", c.where("reminders"), e))
	}
	return out
}
