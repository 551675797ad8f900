package ingest

import (
	"context"
	"time"
)

// Message is one message fetched from a mailbox and spooled to a local file.
// A message that was not fetched (see Skip) has no Path and no SHA256.
type Message struct {
	Mailbox      string    // the configured mailbox name (MailboxConfig.Name)
	Folder       string    // e.g. "INBOX"
	UIDValidity  uint32    // the folder's UIDVALIDITY when the message was fetched
	UID          uint32    // unique within Folder as long as UIDValidity holds
	InternalDate time.Time // when the server received the message
	// Size is the number of bytes spooled, or the server's RFC822.SIZE for
	// a skipped message.
	Size int64
	// SHA256 is the lowercase hex SHA-256 of the raw message bytes.
	SHA256 string
	// Path is the spool file holding the raw message. It is removed when
	// the handler returns, unless the handler moved it away (os.Rename).
	Path string
	// Skip says why the message was not fetched; empty when Path is set.
	Skip SkipReason
}

// SkipReason says why a message was reported without its content.
type SkipReason string

// The reasons a message is reported without content. Such a message stays
// in its folder; the consumer records it and may advance its checkpoint.
const (
	// SkipTooLarge: the message is larger than max_message_bytes.
	SkipTooLarge SkipReason = "too_large"
	// SkipNoBody: the server returned no body for the message (NIL).
	SkipNoBody SkipReason = "no_body"
)

// Destination says where a handled message goes. The values match the
// rules package's verdicts, so a verdict converts directly.
type Destination string

// The destinations. LeaveInPlace keeps the message where it is.
const (
	LeaveInPlace Destination = ""
	ToAccepted   Destination = "accepted"
	ToRejected   Destination = "rejected"
	ToUnmatched  Destination = "unmatched"
)

// Handler processes one message and says where it goes next. It runs on the
// source's goroutine, one message at a time, in UID order per folder.
// m.Path is valid only until it returns. An error stops the current pass:
// the message is not checkpointed and will be offered again, after a
// backoff when the error is temporary; a permanent error (IsPermanent)
// stops the source.
type Handler func(ctx context.Context, m *Message) (Destination, error)

// Checkpoint is how far a folder has been handled: every message with a UID
// up to UID under UIDValidity. The zero Checkpoint means nothing yet.
type Checkpoint struct {
	UIDValidity uint32
	UID         uint32
}

// CheckpointStore keeps one Checkpoint per mailbox and folder. It must be
// safe for concurrent use by several sources.
type CheckpointStore interface {
	// LoadCheckpoint returns the stored checkpoint of mailbox/folder, or the
	// zero Checkpoint and a nil error when none is stored.
	LoadCheckpoint(ctx context.Context, mailbox, folder string) (Checkpoint, error)
	// SaveCheckpoint stores cp for mailbox/folder, replacing the previous
	// one; it is durable when it returns nil. Saving the same value twice is
	// harmless. Errors are treated as temporary.
	SaveCheckpoint(ctx context.Context, mailbox, folder string, cp Checkpoint) error
}
