package ingest

import (
	"context"
	"time"
)

// Message is one message fetched from a mailbox and spooled to a local file
// or held in memory. A message that was not fetched (see Skip) has no Path,
// no Data and no SHA256.
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
	// Data holds the raw message instead of Path when it was small enough
	// to keep in memory (IMAPOptions.MemoryBytes). Like Path, it is valid
	// only until the handler returns.
	Data []byte
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

// Processor is what a source hands its mail to.
type Processor interface {
	// Process handles m and says where it goes. With IMAPOptions.Workers
	// above 1 it runs on several goroutines at once, out of UID order.
	// m.Path and m.Data are valid only until it returns. It must be idempotent: a
	// message handled before a crash, but not yet moved, is offered again.
	// An error stops the current pass; the message and those after it are
	// offered again, after a backoff when the error is temporary; a
	// permanent error (IsPermanent) stops the source.
	Process(ctx context.Context, m *Message) (Destination, error)
	// Moved records that msgs, all from one folder, now live in folder
	// (moved there, or marked done in place when the server cannot move).
	// It runs after the move; its error is temporary.
	Moved(ctx context.Context, msgs []*Message, folder string) error
	// Unmoved lists the messages of mailbox/folder that Process handled but
	// whose move was never recorded (a crash came between), each with the
	// destination Process chose. The source moves them before new mail.
	Unmoved(ctx context.Context, mailbox, folder string) ([]Unmoved, error)
	// Sync makes what Process recorded durable; the source calls it before
	// it moves mail out of the polled folder.
	Sync(ctx context.Context) error
}

// Unmoved is a handled message still waiting for its move.
type Unmoved struct {
	UIDValidity uint32
	UID         uint32
	SHA256      string
	Dest        Destination
}

// Handler is a Processor that only processes: it keeps no record of moves
// and needs none made durable. It suits tests and one-off runs.
type Handler func(ctx context.Context, m *Message) (Destination, error)

// Process calls h.
func (h Handler) Process(ctx context.Context, m *Message) (Destination, error) { return h(ctx, m) }

// Moved does nothing.
func (Handler) Moved(context.Context, []*Message, string) error { return nil }

// Unmoved reports nothing.
func (Handler) Unmoved(context.Context, string, string) ([]Unmoved, error) { return nil, nil }

// Sync does nothing.
func (Handler) Sync(context.Context) error { return nil }

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
