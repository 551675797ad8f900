package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

// BundleStore is where the pipeline puts evidence bundles: archive.Dir and
// archive.MinIO both fit.
type BundleStore interface {
	// Put stores r under key, create-only: the same bytes again are a
	// successful no-op, different bytes fail with archive.ErrExists. Safe
	// for concurrent use.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts archive.PutOptions) (archive.ObjectInfo, error)
	// Stat describes the object under key; archive.ErrNotFound if none.
	Stat(ctx context.Context, key string) (archive.ObjectInfo, error)
	// Get opens the object under key, for re-judging; the caller closes
	// the reader, which fails at EOF with archive.ErrCorrupt when the
	// bytes do not match their recorded SHA-256. archive.ErrNotFound if
	// none. Safe for concurrent use.
	Get(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error)
}

// Ledger is the part of archive.Ledger the pipeline writes to. Each method
// is idempotent and safe for concurrent use (see archive.Ledger).
type Ledger interface {
	MessageBySHA256(ctx context.Context, sha string) (*archive.Message, error)
	// RecordMessageJudgment records the message and its judgment in one
	// step; a judgment recorded before stands and is the one returned.
	RecordMessageJudgment(ctx context.Context, rec archive.MessageRecord, j rules.Judgment, rulesVersion string) (*archive.Message, bool, error)
	// RecordStoredMessage records a new message with its judgment and its
	// stored bundle in one step; for a message recorded before it is
	// RecordMessageJudgment, and the bundle is not recorded.
	RecordStoredMessage(ctx context.Context, rec archive.MessageRecord, j rules.Judgment, rulesVersion string, b archive.StoredBundle) (*archive.Message, bool, error)
	SetBundle(ctx context.Context, id int64, key, bundleSHA256 string) error
	// RecordRejudgment records a new judgment with its bundle n+1 (see
	// Rejudge); a number already taken is archive.ErrExists.
	RecordRejudgment(ctx context.Context, id int64, r archive.Rejudgment) ([]archive.Attachment, bool, error)
	// Decisions are the analysts' decisions about a message, which a
	// re-judgment does not replace unless told to.
	Decisions(ctx context.Context, messageID int64) ([]archive.Decision, error)
	MarkMoved(ctx context.Context, id int64, folder string) error
	// MarkMovedMany is MarkMoved for several messages, named by where they
	// were received, in one step; copies the ledger did not record are
	// skipped.
	MarkMovedMany(ctx context.Context, moves []archive.Move, folder string) error
	UnfinishedMessages(ctx context.Context, mailbox, folder string, limit int) ([]*archive.Message, error)
	Checkpoint(ctx context.Context, mailbox, folder string) (archive.Checkpoint, error)
	SetCheckpoint(ctx context.Context, mailbox, folder string, uidValidity, lastUID uint32) error
	// Sync makes every committed step durable (the ledger commits without
	// fsync); it is called before mail is moved out of a polled folder.
	Sync(ctx context.Context) error
}

// Observer is told what the pipeline does, for metrics; web.Metrics fits.
// Its methods must be safe for concurrent use and cheap.
type Observer interface {
	ObserveJudge(d time.Duration)
	Judged(v rules.Verdict)
}

// Pipeline does the work on one raw message: parse, verify DKIM, judge,
// bundle, store and record. Every step is idempotent and checked against
// the ledger first, so a message offered again after a crash is finished,
// never done twice. A Pipeline is safe for concurrent use by several
// workers.
type Pipeline struct {
	// policy is what messages are judged with, read once per message
	// (Policy) and swapped whole when the tenant registry changes
	// (SetPolicy). A pointer, so that WithPolicy's copy gets its own.
	policy   *atomic.Pointer[rules.Policy]
	store    BundleStore
	ledger   Ledger
	resolver evidence.Resolver // nil: DKIM is not verified
	parse    *evidence.ParseOptions
	spoolDir string
	log      *slog.Logger
	observe  Observer
	// incidents records the facts of forwarded Service Health
	// notifications; nil: they are not read.
	incidents IncidentRecorder
	budget    *memBudget
	// fullParse is the largest message parsed in full, and so the most
	// a message takes from budget.
	fullParse int64
}

// PipelineOptions configures a Pipeline; the zero value (or nil) means
// defaults.
type PipelineOptions struct {
	// Resolver answers the DNS TXT look-ups of DKIM verification. Nil
	// leaves DKIM unverified, which the bundle's manifest records.
	Resolver evidence.Resolver
	// Parse limits the parse of each message; nil means evidence's defaults.
	Parse *evidence.ParseOptions
	// SpoolDir holds bundles while they are uploaded; "" is os.TempDir().
	SpoolDir string
	Logger   *slog.Logger
	Observer Observer // nil: nobody watches
	// Incidents records the incident facts of the Service Health
	// notifications accepted messages carry; nil: not read.
	Incidents IncidentRecorder
	// MemoryBudget bounds the bytes of the messages parsed and bundled at
	// once, whatever the number of workers; DefaultMemoryBudget when 0. A
	// message counts its size up to the largest one parsed in full (larger
	// ones are parsed streaming); one larger than the budget waits to be
	// alone.
	MemoryBudget int64
}

// DefaultMemoryBudget: a message parsed in full takes about four times its
// size in memory, so this keeps the parses' peak near 256 MiB: four of the
// largest messages parsed in full (16 MiB), or many small ones.
const DefaultMemoryBudget = 64 << 20

// NewPipeline returns a pipeline judging with policy, storing bundles in
// store and recording in ledger.
func NewPipeline(policy *rules.Policy, store BundleStore, ledger Ledger, opts *PipelineOptions) *Pipeline {
	if opts == nil {
		opts = &PipelineOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	budget := opts.MemoryBudget
	if budget <= 0 {
		budget = DefaultMemoryBudget
	}
	p := &Pipeline{
		budget:    newMemBudget(budget),
		fullParse: opts.Parse.WithDefaults().MaxBytes,
		policy:    new(atomic.Pointer[rules.Policy]),
		store:     store,
		ledger:    ledger,
		resolver:  opts.Resolver,
		parse:     opts.Parse,
		spoolDir:  opts.SpoolDir,
		log:       log,
		observe:   opts.Observer,
		incidents: opts.Incidents,
	}
	p.policy.Store(policy)
	return p
}

// Policy returns the policy the pipeline judges with now; nil when it has
// none (a pipeline made only to re-judge with WithPolicy).
func (p *Pipeline) Policy() *rules.Policy { return p.policy.Load() }

// SetPolicy makes the pipeline judge with policy from the next message on,
// e.g. when the tenant registry changed; the messages being judged keep the
// policy they started with, and copies made by WithPolicy keep theirs.
// Safe for concurrent use.
func (p *Pipeline) SetPolicy(policy *rules.Policy) { p.policy.Store(policy) }

// Result is what the pipeline did with one message.
type Result struct {
	Message  *archive.Message // the ledger row, after every step
	Judgment rules.Judgment
	// New is set when this call recorded the message for the first time.
	New bool
}

// Raw is one raw message to process: its bytes and where it came from.
// The bytes are Data when it is set, else the first Size bytes of R.
type Raw struct {
	R    io.ReaderAt
	Size int64
	// Data holds the message in memory instead of R and Size, with SHA256
	// computed over these very bytes as they were read (IMAPConn does):
	// the parse reads them in place, and the bundle copies them without
	// hashing them again. They must not change while Handle runs.
	Data   []byte
	SHA256 string // lowercase hex of the bytes
	From   evidence.Provenance
}

// inMemory returns raw with R and Size set from Data, when it is set.
func (raw Raw) inMemory() Raw {
	if raw.Data != nil {
		raw.R, raw.Size = bytes.NewReader(raw.Data), int64(len(raw.Data))
	}
	return raw
}

// firstBundle returns the key and the input of raw's first bundle, the
// one made when it is recorded: judged j, with facts, from prov.
func (raw Raw) firstBundle(facts *evidence.Facts, j rules.Judgment, prov evidence.Provenance) (string, *evidence.BundleInput) {
	return evidence.BundleKey(raw.SHA256, 1), &evidence.BundleInput{
		Raw: raw.R, RawSize: raw.Size, RawSHA256: raw.SHA256, RawVerified: raw.Data != nil,
		Facts: facts, Judgment: j, Provenance: prov,
	}
}

// Handle judges, bundles, stores and records raw, resuming whatever an
// earlier, interrupted call left undone. Errors are temporary (a store or
// the ledger unavailable) unless IsPermanent says otherwise; processing the
// same message again after an error is always safe.
func (p *Pipeline) Handle(ctx context.Context, raw Raw) (*Result, error) {
	res, err := p.handle(ctx, raw)
	if err != nil || res.Message.BundleKey != "" {
		return res, err
	}
	final, err := p.ledger.MessageBySHA256(ctx, raw.SHA256)
	if err != nil {
		return nil, fmt.Errorf("ingest: process %s: %w", shortSHA(raw.SHA256), err)
	}
	res.Message = final
	return res, nil
}

// handle is Handle without the last read of the ledger row: when it
// finished a row an earlier call left without a bundle, the Result's
// Message is the row from before, without its BundleKey.
// Process needs only the judgment, and the read was a twentieth of the
// pipeline's ledger time.
func (p *Pipeline) handle(ctx context.Context, raw Raw) (*Result, error) {
	res, commit, err := p.prepare(ctx, raw)
	if err != nil || commit == nil {
		return res, err
	}
	return commit()
}

// prepare is handle up to the ledger's record of a new message, which it
// returns as commit, to be called once; when commit is nil, res is
// final. commit reads none of raw's bytes: the IMAP source's workers
// leave it to a goroutine of its own and take the next message, so that
// many messages' records share a transaction (see processDeferred).
func (p *Pipeline) prepare(ctx context.Context, raw Raw) (res *Result, commit func() (*Result, error), err error) {
	start := time.Now()
	raw = raw.inMemory()
	op := "ingest: process " + shortSHA(raw.SHA256)
	known, err := p.ledger.MessageBySHA256(ctx, raw.SHA256)
	switch {
	case err == nil && known.Judgment != nil && known.BundleKey != "":
		// Done before (a duplicate, or offered again after a crash before
		// the checkpoint): nothing to redo but the move.
		return &Result{Message: known, Judgment: *known.Judgment}, nil, nil
	case errors.Is(err, archive.ErrNotFound):
		known = nil
	case err != nil:
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}

	held, err := p.budget.acquire(ctx, min(raw.Size, p.fullParse))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	defer p.budget.release(held)

	var facts *evidence.Facts
	if raw.Data != nil {
		facts, err = evidence.ParseBytes(raw.Data, p.parse)
	} else {
		facts, err = evidence.Parse(raw.R, raw.Size, p.parse)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: parse: %w", op, err)
	}
	if p.resolver != nil {
		checks, err := evidence.VerifyDKIM(ctx, io.NewSectionReader(raw.R, 0, raw.Size), p.resolver)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("%s: %w", op, ctx.Err())
			}
			facts.Warnings = append(facts.Warnings, dkimWarningPrefix+err.Error())
		} else {
			facts.DKIM = checks
		}
	}

	mailbox, folder := raw.From.Mailbox, raw.From.Folder
	if raw.From.Path != "" {
		mailbox, folder = ImportMailbox, raw.From.Path
	}
	rec := archive.MessageRecord{
		SHA256:       raw.SHA256,
		Size:         raw.Size,
		Mailbox:      mailbox,
		Folder:       folder,
		UIDValidity:  raw.From.UIDValidity,
		UID:          raw.From.UID,
		InternalDate: raw.From.InternalDate,
		Date:         facts.Date,
		MessageID:    facts.MessageID,
		Sender:       facts.Sender,
		Subject:      facts.Subject,
	}
	j := p.Policy().Judge(facts.RulesMessage())
	if known == nil {
		j, version, b, err := p.storeNew(ctx, raw, rec, facts, j)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		notes := p.notifications(facts, j, messageDates{rec.Date, rec.InternalDate})
		return nil, func() (*Result, error) {
			msg, created, err := p.ledger.RecordStoredMessage(ctx, rec, j, version, b)
			if err == nil && msg.BundleKey == "" {
				// Another worker recorded the same bytes without their
				// bundle in the meantime: the message is offered again,
				// and the known row's path finishes it.
				err = fmt.Errorf("message %d recorded without its bundle meanwhile; it will be offered again", msg.ID)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			res, err := p.finish(op, start, msg, created)
			if err == nil {
				p.recordNotifications(ctx, *msg.Judgment, notes)
			}
			return res, err
		}, nil
	}
	// The first judgment stands: the bundle must show the recorded one.
	msg, created, err := p.ledger.RecordMessageJudgment(ctx, rec, j, rules.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if msg.Judgment != nil && msg.BundleKey == "" {
		// A row an earlier call (or another worker) recorded without its
		// bundle. Provenance comes from the ledger's first record of the
		// message, so a bundle rebuilt after a crash has the same bytes as
		// the one that may already be stored.
		key, in := raw.firstBundle(facts, *msg.Judgment, provenanceOf(msg))
		sum, _, err := p.storeBundle(ctx, key, in)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		if err := p.ledger.SetBundle(ctx, msg.ID, key, sum); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	res, err = p.finish(op, start, msg, created)
	if err == nil {
		p.recordNotifications(ctx, *msg.Judgment, p.notifications(facts, *msg.Judgment, messageDates{rec.Date, rec.InternalDate}))
	}
	return res, nil, err
}

// finish checks the row the ledger returned for a message handled since
// start, and reports it.
func (p *Pipeline) finish(op string, start time.Time, msg *archive.Message, created bool) (*Result, error) {
	if msg.Judgment == nil {
		return nil, fmt.Errorf("%s: the ledger returned message %d without its judgment", op, msg.ID)
	}
	j := *msg.Judgment
	if p.observe != nil {
		p.observe.ObserveJudge(time.Since(start))
		p.observe.Judged(j.Verdict)
	}
	p.log.Debug("message processed", "sha256", shortSHA(msg.SHA256), "verdict", j.Verdict, "reason", j.Reason, "new", created)
	return &Result{Message: msg, Judgment: j, New: created}, nil
}

// storeNew stores the bundle of a message the ledger has not recorded,
// judged j, and returns what the ledger's record of it needs: the
// judgment and rules version the stored bundle shows, and the bundle. The
// caller records the message, its judgment and its bundle in one step
// (one transaction instead of two, and each claim brought up to date
// once). A crash between the two leaves a stored bundle the ledger does
// not know: the message is offered again, its bundle has the same bytes
// and the same key, and storing it again is a no-op. If the bundle stored
// under the key differs (an earlier attempt judged under other rules, or
// saw another copy of the message), the stored one is the evidence, and
// its judgment the one to record.
func (p *Pipeline) storeNew(ctx context.Context, raw Raw, rec archive.MessageRecord, facts *evidence.Facts, j rules.Judgment) (rules.Judgment, string, archive.StoredBundle, error) {
	key, in := raw.firstBundle(facts, j, provenanceOf(&archive.Message{MessageRecord: rec}))
	sum, kept, err := p.storeBundle(ctx, key, in)
	if err != nil {
		return rules.Judgment{}, "", archive.StoredBundle{}, err
	}
	version := rules.Version
	if kept {
		sf, man, err := p.fetchBundle(ctx, key, sum)
		if err != nil {
			return rules.Judgment{}, "", archive.StoredBundle{}, err
		}
		sf.Close()
		j, version = man.Judgment, man.RulesVersion
	}
	return j, version, archive.StoredBundle{Key: key, SHA256: sum}, nil
}

// MemoryBundleBytes: the bundle of a message up to this size is built in
// memory, larger ones in a spool file. A spool file costs a create, a
// write, a read and an unlink, and system calls were a third of the
// pipeline's CPU time in the ingest benchmark. It is also the most worth
// holding in memory between fetch and store (IMAPOptions.MemoryBytes):
// beyond it the bundle goes to a file anyway.
const MemoryBundleBytes = 4 << 20

// bufferBundleBytes: the bundle of a message held in memory up to this
// size is built in a buffer; a larger one is written twice, into a hash
// and then into the upload (streamBundle), so that it is never held whole.
// Writing twice and the hand-over between goroutines cost more CPU than
// the copy for the small messages that are most of the mail; 16 workers'
// buffers of this size are a few MB. In the ingest benchmark (10,000
// mails) streaming every bundle cost about 0.1 ms of CPU per mail.
const bufferBundleBytes = 256 << 10

// bundleBuffers are reused for bundles built in memory: of messages up to
// bufferBundleBytes, and of messages read from a file.
var bundleBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// storeBundle builds the bundle of in, then puts it under key with its
// exact size and SHA-256, and returns the SHA-256 of the bundle stored
// under key. kept says that key held another bundle already, which is kept
// (write-once) and whose SHA-256 is returned.
func (p *Pipeline) storeBundle(ctx context.Context, key string, in *evidence.BundleInput) (sum string, kept bool, err error) {
	var (
		body     io.Reader
		size     int64
		verified bool
	)
	switch {
	case in.RawVerified && in.RawSize > bufferBundleBytes && in.RawSize <= MemoryBundleBytes:
		// The message is in memory already: the bundle is written twice
		// rather than held, once to learn its size and SHA-256 and once
		// into the upload. A copy of every bundle in flight was half of
		// the ingest benchmark's live heap, almost all of it the large
		// messages'.
		return p.streamBundle(ctx, key, in)
	case in.RawSize <= MemoryBundleBytes:
		buf := bundleBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		// The bundle is the message plus a few small files (and copies
		// of forwarded originals): growing to it in steps cost a tenth of
		// the bundle's CPU time.
		buf.Grow(int(in.RawSize) + 64<<10)
		defer bundleBuffers.Put(buf)
		h := sha256.New()
		if _, err := evidence.WriteBundle(ctx, io.MultiWriter(buf, h), in); err != nil {
			return "", false, err
		}
		body, size, sum = bytes.NewReader(buf.Bytes()), int64(buf.Len()), hex.EncodeToString(h.Sum(nil))
		verified = true // hashed just now, in memory
	default:
		spool, _, err := evidence.SpoolBundle(ctx, p.spoolDir, in)
		if err != nil {
			return "", false, err
		}
		defer spool.Close()
		body, size, sum = spool.Reader(), spool.Size(), spool.SHA256()
	}
	return p.putFirstBundle(ctx, key, body, size, sum, verified)
}

// streamBundle is storeBundle for a message held in memory: it writes the
// bundle of in once into a hash, then again straight into the upload. The
// bundle is a function of in alone, so both writes give the same bytes;
// the store checks them against the SHA-256 of the first all the same
// (archive.PutOptions.SHA256), so a bundle that came out different would
// fail to store, never be stored under a wrong checksum.
func (p *Pipeline) streamBundle(ctx context.Context, key string, in *evidence.BundleInput) (sum string, kept bool, err error) {
	h := &countingHash{h: sha256.New()}
	if _, err := evidence.WriteBundle(ctx, h, in); err != nil {
		return "", false, err
	}
	sum = hex.EncodeToString(h.h.Sum(nil))
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		// Large writes: each one is a hand-over between goroutines.
		bw := bufio.NewWriterSize(pw, 64<<10)
		_, err := evidence.WriteBundle(ctx, bw, in)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		wrote <- err
	}()
	sum, kept, err = p.putFirstBundle(ctx, key, pr, h.n, sum, true)
	// The store may stop reading early (the key taken, an error): that
	// ends the writer.
	pr.CloseWithError(errBundleNotRead)
	if werr := <-wrote; err == nil && werr != nil && !errors.Is(werr, errBundleNotRead) {
		// The store took the whole bundle; a writer failing after that
		// could only mean bytes that the store's checksum refused.
		err = fmt.Errorf("write bundle %s: %w", key, werr)
	}
	if err != nil {
		return "", false, err
	}
	return sum, kept, nil
}

// errBundleNotRead ends the writer of a streamed bundle the store stopped
// reading.
var errBundleNotRead = errors.New("ingest: the store stopped reading the bundle")

// countingHash is a hash that counts the bytes written to it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return c.h.Write(b)
}

// putFirstBundle puts the bundle body, size bytes with SHA-256 sum, under key
// (see storeBundle).
func (p *Pipeline) putFirstBundle(ctx context.Context, key string, body io.Reader, size int64, sum string, verified bool) (string, bool, error) {
	_, err := p.store.Put(ctx, key, body, size, archive.PutOptions{
		SHA256:      sum,
		Verified:    verified,
		ContentType: "application/zip",
	})
	if errors.Is(err, archive.ErrExists) {
		// An earlier attempt stored a bundle under this key and died
		// before the ledger heard of it, with other inputs (another copy
		// of the message, other rules). Write-once: the stored one is the
		// evidence.
		info, serr := p.store.Stat(ctx, key)
		if serr != nil {
			return "", false, errors.Join(err, serr)
		}
		p.log.Warn("evidence bundle already stored with other bytes; keeping the stored one", "key", key)
		return info.SHA256, true, nil
	}
	if err != nil {
		return "", false, err
	}
	return sum, false, nil
}

// ImportMailbox is the ledger's mailbox name for messages imported from
// files; their folder is the file they came from, and their move step is
// closed as ImportedFolder, since there is no mailbox to move them out of.
const (
	ImportMailbox  = "import"
	ImportedFolder = "imported"
)

// provenanceOf is where the bundle says the message came from: the ledger's
// first record of it, so that a bundle rebuilt after a crash is the same.
func provenanceOf(m *archive.Message) evidence.Provenance {
	if m.Mailbox == ImportMailbox {
		return evidence.Provenance{Path: m.Folder}
	}
	return evidence.Provenance{
		Mailbox:      m.Mailbox,
		Folder:       m.Folder,
		UIDValidity:  m.UIDValidity,
		UID:          m.UID,
		InternalDate: m.InternalDate,
	}
}

// HandleFile runs Handle on a message read from r, a file named name
// ("dir/a.eml", "box.mbox#3"), and closes its move step: an imported
// message stays where it is.
func (p *Pipeline) HandleFile(ctx context.Context, name string, r io.Reader) (*Result, error) {
	spool, err := evidence.Spool(ctx, r, p.spoolDir)
	if err != nil {
		return nil, fmt.Errorf("ingest: read %s: %w", name, err)
	}
	defer spool.Close()
	res, err := p.Handle(ctx, Raw{R: spool, Size: spool.Size(), SHA256: spool.SHA256(), From: evidence.Provenance{Path: name}})
	if err != nil {
		return nil, err
	}
	if res.Message.MovedTo == "" && res.Message.Mailbox == ImportMailbox {
		if err := p.ledger.MarkMoved(ctx, res.Message.ID, ImportedFolder); err != nil {
			return nil, fmt.Errorf("ingest: import %s: %w", name, err)
		}
	}
	return res, nil
}

// Process handles one message fetched from a mailbox: it is the Processor
// an IMAPSource drives. Mail the source did not fetch (too large) is logged
// and left in place.
func (p *Pipeline) Process(ctx context.Context, m *Message) (Destination, error) {
	dest, commit, err := p.processDeferred(ctx, m)
	if err != nil || commit == nil {
		return dest, err
	}
	return commit()
}

// processDeferred is Process but for its last step, the ledger's record of
// a new message, which it returns as commit (nil when there is none left:
// dest is then final). commit reads nothing of m's bytes. The IMAP
// source's workers run it on a goroutine of its own and take the next
// message meanwhile: with the ledger's commit delay, records of many
// messages then share one transaction.
func (p *Pipeline) processDeferred(ctx context.Context, m *Message) (dest Destination, commit func() (Destination, error), err error) {
	if m.Skip != "" {
		p.log.Warn("message left in the mailbox unprocessed", "mailbox", m.Mailbox, "folder", m.Folder,
			"uid", m.UID, "size", m.Size, "reason", string(m.Skip),
			"what_to_do", "raise max_message_bytes, or save the message as .eml and run claimtrail import")
		return LeaveInPlace, nil, nil
	}
	// Data was hashed in memory as it arrived (IMAPConn.spool).
	raw := Raw{Size: m.Size, Data: m.Data, SHA256: m.SHA256, From: evidence.Provenance{
		Mailbox: m.Mailbox, Folder: m.Folder, UIDValidity: m.UIDValidity, UID: m.UID, InternalDate: m.InternalDate,
	}}
	if m.Data == nil {
		f, err := os.Open(m.Path)
		if err != nil {
			return "", nil, fmt.Errorf("ingest: open spooled message: %w", err)
		}
		defer f.Close()
		raw.R = f
	}
	res, record, err := p.prepare(ctx, raw)
	switch {
	case err != nil:
		return "", nil, err
	case record == nil:
		return Destination(res.Judgment.Verdict), nil, nil
	}
	return "", func() (Destination, error) {
		res, err := record()
		if err != nil {
			return "", err
		}
		return Destination(res.Judgment.Verdict), nil
	}, nil
}

// Moved records the moves of msgs in the ledger, in one transaction. A
// message the ledger knows from another mailbox, folder or UID is another
// copy of the same bytes: the ledger follows the first one, so its move is
// not recorded.
func (p *Pipeline) Moved(ctx context.Context, msgs []*Message, folder string) error {
	moves := make([]archive.Move, len(msgs))
	for i, m := range msgs {
		moves[i] = archive.Move{SHA256: m.SHA256, Mailbox: m.Mailbox, Folder: m.Folder, UID: m.UID}
	}
	if err := p.ledger.MarkMovedMany(ctx, moves, folder); err != nil {
		return fmt.Errorf("ingest: record moves to %s: %w", folder, err)
	}
	return nil
}

// Unmoved lists the ledger's messages of mailbox/folder whose move is the
// only step left.
func (p *Pipeline) Unmoved(ctx context.Context, mailbox, folder string) ([]Unmoved, error) {
	msgs, err := p.ledger.UnfinishedMessages(ctx, mailbox, folder, 0)
	if err != nil {
		return nil, err
	}
	var out []Unmoved
	for _, m := range msgs {
		if m.Next() != archive.StepMove || m.Judgment == nil {
			continue
		}
		out = append(out, Unmoved{UIDValidity: m.UIDValidity, UID: m.UID, SHA256: m.SHA256, Dest: Destination(m.Judgment.Verdict)})
	}
	return out, nil
}

// LoadCheckpoint reads mailbox/folder's checkpoint from the ledger: the
// pipeline is the CheckpointStore of the sources it serves.
func (p *Pipeline) LoadCheckpoint(ctx context.Context, mailbox, folder string) (Checkpoint, error) {
	cp, err := p.ledger.Checkpoint(ctx, mailbox, folder)
	return Checkpoint{UIDValidity: cp.UIDValidity, UID: cp.LastUID}, err
}

// SaveCheckpoint writes mailbox/folder's checkpoint to the ledger.
func (p *Pipeline) SaveCheckpoint(ctx context.Context, mailbox, folder string, cp Checkpoint) error {
	return p.ledger.SetCheckpoint(ctx, mailbox, folder, cp.UIDValidity, cp.UID)
}

// Sync makes the ledger durable.
func (p *Pipeline) Sync(ctx context.Context) error { return p.ledger.Sync(ctx) }

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
