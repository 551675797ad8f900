package archive

import "errors"

// Sentinel errors shared by the stores and the ledger; test with errors.Is.
var (
	// ErrNotFound: the object, message or claim does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a write-once key already holds different bytes; evidence is
	// never replaced.
	ErrExists = errors.New("already exists with different content")
	// ErrUnavailable: the store or database could not be reached; the
	// operation may succeed if retried later.
	ErrUnavailable = errors.New("unavailable")
	// ErrDecided: a re-judgment would replace an analyst's decision about
	// a message (an attach or a detach by hand) without saying to override
	// it; bulk re-judging skips such messages.
	ErrDecided = errors.New("an analyst decided about this message")
)
