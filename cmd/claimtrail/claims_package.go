package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func (c *ledgerCommand) writePackage(ctx context.Context, st *state, id int64, out string, force bool) int {
	cl, err := st.ledger.Claim(ctx, id)
	if err != nil {
		return c.fail("package", err)
	}
	if !force {
		if _, err := os.Lstat(out); err == nil {
			c.e.errorf("claims package: %s exists; choose another file with -o, or replace it with --force", out)
			return exitFail
		}
	}
	size, err := writeFileAtomic(out, force, func(w io.Writer) error {
		return st.ledger.WriteClaimPackage(ctx, w, id, st.store, cliActor())
	})
	if errors.Is(err, fs.ErrExist) {
		c.e.errorf("claims package: %s appeared while the package was written; nothing replaced it: choose another file with -o, or use --force", out)
		return exitFail
	}
	if err != nil {
		return c.fail("package", err)
	}
	fmt.Fprintf(c.e.stdout, "%s: claim %d (%s, %s), %s, %d bytes\n", out, id, cl.IncidentID, cl.Status,
		plural(len(cl.Evidence), "evidence bundle"), size)
	if !cl.Ready() && cl.Status != claims.StatusSubmitted && cl.Status != claims.StatusApproved {
		fmt.Fprintf(c.e.stderr, "claimtrail: claims package: claim %d is %s, missing %s; its details.txt says NOT READY\n",
			id, cl.Status, strings.Join(cl.Missing(), ", "))
	}
	return exitOK
}

// writeFileAtomic writes what write produces to path through a temporary
// file in the same directory, synced and then renamed, so that path is
// never seen half written. Without replace an existing path is kept and
// the error wraps fs.ErrExist. The file is readable by its owner only:
// packages and exports hold customer mail. It returns the bytes written.
func writeFileAtomic(path string, replace bool, write func(io.Writer) error) (int64, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	cw := &countingWriter{w: tmp}
	bw := bufio.NewWriterSize(cw, 256<<10)
	if err := write(bw); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else if err = os.Link(tmp.Name(), path); err == nil || errors.Is(err, fs.ErrExist) {
		// A hard link never replaces a file that appeared meanwhile.
		os.Remove(tmp.Name())
	} else if _, serr := os.Lstat(path); serr == nil {
		err = fmt.Errorf("%s: %w", path, fs.ErrExist)
	} else {
		err = os.Rename(tmp.Name(), path) // a file system without hard links
	}
	if err != nil {
		os.Remove(tmp.Name())
		done = true
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return cw.n, fmt.Errorf("write %s: sync directory: %w", path, err)
		}
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
