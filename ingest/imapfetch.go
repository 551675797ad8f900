package ingest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// FetchNew selects folder and hands fn every message with a UID above
// since.UID, in UID order. Each message is first spooled to a file while
// its SHA-256 is computed, a batch at a time, and only then given to fn:
// go-imap reads each literal under one fixed 5-minute deadline, so no slow
// work may happen while a FETCH is streaming. Messages above
// max_message_bytes are reported with Skip set and stay where they are.
// BODY.PEEK[] leaves \Seen alone.
//
// When since.UIDValidity is set and differs from the folder's, FetchNew
// fetches nothing and returns an error wrapping ErrUIDValidityChanged. An
// error from fn stops FetchNew and is returned as is.
func (c *IMAPConn) FetchNew(ctx context.Context, folder string, since Checkpoint, fn func(*Message) error) error {
	_, err := c.fetchNew(ctx, folder, since, 0, fn)
	return err
}

// fetchNew is FetchNew handing on at most limit messages (all when limit
// is 0); more reports whether new mail was left for another call.
func (c *IMAPConn) fetchNew(ctx context.Context, folder string, since Checkpoint, limit int, fn func(*Message) error) (more bool, err error) {
	fresh := c.selected != folder
	st, err := c.Select(ctx, folder)
	if err != nil {
		return false, err
	}
	if !fresh {
		// A server may show mail that arrived since the last command only
		// after a NOOP (Dovecot does); SEARCH alone does not look.
		if err := c.Noop(ctx); err != nil {
			return false, err
		}
	}
	if since.UIDValidity != 0 && since.UIDValidity != st.UIDValidity {
		return false, fmt.Errorf("ingest: mailbox %q: folder %s: %w: was %d, is %d", c.cfg.Name, folder, ErrUIDValidityChanged, since.UIDValidity, st.UIDValidity)
	}
	uids, err := c.searchNew(ctx, since.UID)
	if err != nil {
		return false, err
	}
	if limit > 0 && len(uids) > limit {
		uids, more = uids[:limit], true
	}
	for len(uids) > 0 {
		n := min(len(uids), c.opts.BatchSize)
		if err := c.fetchBatch(ctx, st, uids[:n], fn); err != nil {
			return false, err
		}
		uids = uids[n:]
	}
	return more, nil
}

// searchNew returns the UIDs above last that are not marked done, sorted.
func (c *IMAPConn) searchNew(ctx context.Context, last uint32) ([]imap.UID, error) {
	if last == ^uint32(0) {
		return nil, nil
	}
	criteria := &imap.SearchCriteria{
		UID:     []imap.UIDSet{{{Start: imap.UID(last + 1), Stop: 0}}},
		NotFlag: []imap.Flag{doneKeyword},
	}
	g := c.guard(ctx)
	data, err := c.c.UIDSearch(criteria, nil).Wait()
	if err = g.done(err); err != nil {
		return nil, c.wrap("uid search", err)
	}
	set, ok := data.All.(imap.UIDSet)
	if !ok {
		return nil, nil
	}
	all, ok := set.Nums()
	if !ok {
		return nil, c.wrap("uid search", errors.New("the server answered with a dynamic UID set"))
	}
	// "UID n:*" always matches the highest UID, even below n (RFC 3501
	// 6.4.8), so the answer needs filtering.
	uids := all[:0]
	for _, u := range all {
		if uint32(u) > last {
			uids = append(uids, u)
		}
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

type msgMeta struct {
	uid  imap.UID
	date time.Time
	size int64
}

// fetchBatch reads sizes and dates of uids, then the bodies of those that
// are small enough, in groups of at most BatchBytes, and yields all of them
// in UID order.
func (c *IMAPConn) fetchBatch(ctx context.Context, st FolderStatus, uids []imap.UID, fn func(*Message) error) error {
	metas, err := c.fetchMeta(ctx, uids)
	if err != nil {
		return err
	}
	for len(metas) > 0 {
		// Take messages while the body bytes fit; always at least one.
		var n int
		var bytes int64
		for n < len(metas) {
			m := metas[n]
			if m.size <= c.cfg.MaxMessageBytes {
				if n > 0 && bytes+m.size > c.opts.BatchBytes {
					break
				}
				bytes += m.size
			}
			n++
		}
		if err := c.fetchBodies(ctx, st, metas[:n], fn); err != nil {
			return err
		}
		metas = metas[n:]
	}
	return nil
}

func (c *IMAPConn) fetchMeta(ctx context.Context, uids []imap.UID) ([]msgMeta, error) {
	g := c.guard(ctx)
	cmd := c.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true})
	var metas []msgMeta
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		g.kick()
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return nil, c.wrap("uid fetch size", g.done(err))
		}
		if buf.UID == 0 {
			continue
		}
		metas = append(metas, msgMeta{uid: buf.UID, date: buf.InternalDate, size: buf.RFC822Size})
	}
	if err := g.done(cmd.Close()); err != nil {
		return nil, c.wrap("uid fetch size", err)
	}
	// Messages expunged since the search are simply absent.
	slices.SortFunc(metas, func(a, b msgMeta) int { return cmp.Compare(a.uid, b.uid) })
	return slices.CompactFunc(metas, func(a, b msgMeta) bool { return a.uid == b.uid }), nil
}

// spooled is one message body on disk.
type spooled struct {
	path   string
	data   []byte // the body, when held in memory instead of path
	size   int64
	sha256 string
	nobody bool // the server sent NIL
	large  bool // bigger than announced and than max_message_bytes
}

// fetchBodies fetches the bodies of the small messages among metas, then
// yields every message of metas in UID order. Spool files not handed on
// are removed.
func (c *IMAPConn) fetchBodies(ctx context.Context, st FolderStatus, metas []msgMeta, fn func(*Message) error) error {
	var want imap.UIDSet
	for _, m := range metas {
		if m.size <= c.cfg.MaxMessageBytes {
			want.AddNum(m.uid)
		}
	}
	files := map[imap.UID]*spooled{}
	defer func() {
		for _, f := range files {
			if f.path != "" {
				os.Remove(f.path)
			}
		}
	}()
	if len(want) > 0 {
		if err := c.spoolBodies(ctx, want, files); err != nil {
			return err
		}
	}
	for _, m := range metas {
		msg := &Message{
			Mailbox:      c.cfg.Name,
			Folder:       st.Folder,
			UIDValidity:  st.UIDValidity,
			UID:          uint32(m.uid),
			InternalDate: m.date,
			Size:         m.size,
		}
		if m.size > c.cfg.MaxMessageBytes {
			msg.Skip = SkipTooLarge
		} else {
			f, ok := files[m.uid]
			switch {
			case !ok:
				continue // expunged by someone else meanwhile
			case f.nobody:
				msg.Skip = SkipNoBody
			case f.large:
				msg.Skip = SkipTooLarge
			default:
				msg.Path, msg.Data, msg.Size, msg.SHA256 = f.path, f.data, f.size, f.sha256
			}
		}
		if msg.Skip != "" {
			c.log.Warn("imap message not fetched", "folder", st.Folder, "uid", msg.UID, "size", m.size, "reason", string(msg.Skip))
		}
		err := fn(msg)
		if msg.Path != "" {
			// Gone already when fn moved it away: that is its right.
			os.Remove(msg.Path)
			delete(files, m.uid)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// spoolBodies runs one UID FETCH BODY.PEEK[] and writes each literal to a
// spool file, hashing it on the way.
func (c *IMAPConn) spoolBodies(ctx context.Context, uids imap.UIDSet, files map[imap.UID]*spooled) error {
	g := c.guard(ctx)
	cmd := c.c.Fetch(uids, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var first error
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		g.kick()
		if first != nil {
			continue // Next discards the rest; Close must still drain
		}
		var uid imap.UID
		var f *spooled
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if f != nil {
					continue
				}
				var err error
				if f, err = c.spool(it.Literal, g); err != nil {
					first = err
				}
			}
		}
		if f == nil || uid == 0 {
			if f != nil && f.path != "" {
				os.Remove(f.path)
			}
			continue
		}
		if old := files[uid]; old != nil && old.path != "" {
			os.Remove(old.path)
		}
		files[uid] = f
	}
	if err := g.done(cmd.Close()); err != nil {
		return c.wrap("uid fetch body", err)
	}
	if first != nil {
		return fmt.Errorf("ingest: mailbox %q: spool: %w", c.cfg.Name, first)
	}
	return nil
}

// spool copies one literal to a new file in SpoolDir, or to memory when it
// is at most MemoryBytes, computing its SHA-256. Reading more than
// max_message_bytes marks the message too large.
func (c *IMAPConn) spool(lit imap.LiteralReader, g *guard) (*spooled, error) {
	if lit == nil {
		return &spooled{nobody: true}, nil
	}
	if n := lit.Size(); c.opts.MemoryBytes > 0 && n <= c.opts.MemoryBytes && n <= c.cfg.MaxMessageBytes {
		data := make([]byte, n)
		if _, err := io.ReadFull(progressReader{lit, g}, data); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		return &spooled{data: data, size: n, sha256: hex.EncodeToString(sum[:])}, nil
	}
	f, err := os.CreateTemp(c.opts.SpoolDir, "claimtrail-imap-*.eml")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	limit := c.cfg.MaxMessageBytes
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(progressReader{lit, g}, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	if n > limit {
		os.Remove(f.Name())
		return &spooled{large: true, size: n}, nil
	}
	return &spooled{path: f.Name(), size: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// progressReader kicks the guard while a large literal arrives, so a slow
// but steady transfer is not mistaken for a dead server.
type progressReader struct {
	r io.Reader
	g *guard
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.g.kick()
	}
	return n, err
}
