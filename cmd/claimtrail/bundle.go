package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
)

const bundleUsage = `usage: claimtrail bundle verify  [--config FILE] [--key KEY] BUNDLE.zip|KEY
       claimtrail bundle extract [--config FILE] [--force] -o DIR BUNDLE.zip|KEY
       claimtrail bundle get     --config FILE [-o FILE] KEY

verify   checks every file of an evidence bundle against its manifest, and the
         message against the SHA-256 its key names (taken from the path when
         it ends in bundles/<sha256>/<n>.zip, or given with --key).
extract  verifies the bundle, then writes the message's attachments into DIR
         (created if missing) under safe names.
get      fetches a bundle from the configured store into FILE (default
         <sha256>-<n>.zip; "-" for standard output) and verifies it.

A KEY (bundles/<sha256>/<n>.zip) is fetched from the store named by the
archive: section of the --config file; an existing file of that name is
read instead.

Exit status: 0 ok, 1 when a bundle fails verification or cannot be read,
2 for bad usage or configuration.

flags:
`

// bundleStore is what the bundle commands need of an object store.
type bundleStore interface {
	// Get opens the object; the reader fails at EOF if the stored bytes do
	// not match the SHA-256 recorded when they were stored. A missing key
	// gives an error wrapping archive.ErrNotFound. Safe for concurrent use.
	Get(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error)
	Close() error
}

// openBundleStore opens the store the configuration file names in its
// archive: section; a configuration that does not load gives a
// *configError. A variable so that tests can give the commands a store of
// their own.
var openBundleStore = func(ctx context.Context, configPath string) (bundleStore, error) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, &configError{err}
	}
	return archive.OpenStore(ctx, cfg.Archive)
}

// configError marks an error in the configuration file, which is the
// user's to fix (exit 2), apart from a store that is down (exit 1).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func runBundle(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, bundleUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlags(e, "bundle "+sub, bundleUsage)
	configPath := fs.String("config", "", "the configuration `file` whose archive: section names the store, for KEY arguments")
	var key, out *string
	var force *bool
	switch sub {
	case "verify":
		key = fs.String("key", "", "check the message against this bundle `key` (bundles/<sha256>/<n>.zip)")
	case "extract":
		out = fs.String("o", "", "the `directory` to write the attachments into")
		force = fs.Bool("force", false, "extract even from a bundle that fails verification")
	case "get":
		out = fs.String("o", "", "the `file` to write the bundle to (default <sha256>-<n>.zip; - for standard output)")
	case "-h", "-help", "--help", "help":
		fs.Usage()
		return exitOK
	default:
		e.errorf("bundle: unknown subcommand %q; use verify, extract or get", sub)
		return exitUsage
	}
	pos, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if len(pos) != 1 {
		e.errorf("bundle %s: want one bundle (a file or a key), got %d arguments", sub, len(pos))
		return exitUsage
	}
	b := &bundleCmd{e: e, configPath: *configPath}
	switch sub {
	case "verify":
		return b.verify(ctx, pos[0], *key)
	case "extract":
		if *out == "" {
			e.errorf("bundle extract: -o DIR is missing; name the directory to write the attachments into")
			return exitUsage
		}
		return b.extract(ctx, pos[0], *out, *force)
	default:
		return b.get(ctx, pos[0], *out)
	}
}

type bundleCmd struct {
	e          *env
	configPath string
}

// openedBundle is a bundle ready for reading, from a file or a store.
type openedBundle struct {
	r    io.ReaderAt
	size int64
	name string // the file or key, for messages
	key  string // the key the bundle is known by, "" if none
	done func() error
}

// open reads arg as a file if one exists, else as a key in the configured
// store (spooled to a temporary file: the ZIP reader needs random access).
func (b *bundleCmd) open(ctx context.Context, arg string) (*openedBundle, int) {
	f, err := os.Open(arg)
	if err == nil {
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			f.Close()
			b.e.errorf("bundle: %s is not a regular file", arg)
			return nil, exitFail
		}
		return &openedBundle{r: f, size: st.Size(), name: arg, key: keyFromPath(arg), done: f.Close}, exitOK
	}
	if !errors.Is(err, os.ErrNotExist) {
		b.e.errorf("bundle: %v", err)
		return nil, exitFail
	}
	if _, _, kerr := evidence.ParseBundleKey(arg); kerr != nil {
		b.e.errorf("bundle: %s: no such file, and not a bundle key (bundles/<sha256>/<n>.zip)", arg)
		return nil, exitFail
	}
	sf, code := b.fetch(ctx, arg)
	if sf == nil {
		return nil, code
	}
	return &openedBundle{r: sf, size: sf.Size(), name: arg, key: arg, done: sf.Close}, exitOK
}

// fetch spools the bundle stored under key.
func (b *bundleCmd) fetch(ctx context.Context, key string) (*evidence.SpoolFile, int) {
	if b.configPath == "" {
		b.e.errorf("bundle: %s is a key: name the configuration file with the store, --config FILE", key)
		return nil, exitUsage
	}
	store, err := openBundleStore(ctx, b.configPath)
	if err != nil {
		b.e.errorf("bundle: %v", err)
		var ce *configError
		if errors.As(err, &ce) {
			return nil, exitUsage
		}
		return nil, exitFail
	}
	defer store.Close()
	rc, _, err := store.Get(ctx, key)
	if err != nil {
		b.e.errorf("bundle: %v", err)
		return nil, exitFail
	}
	defer rc.Close()
	sf, err := evidence.Spool(ctx, rc, "")
	if err != nil {
		b.e.errorf("bundle: fetch %s: %v", key, err)
		return nil, exitFail
	}
	return sf, exitOK
}

// keyFromPath recovers the key of a bundle read from a directory store's
// tree (.../bundles/<sha256>/<n>.zip), so that verify checks it too.
func keyFromPath(path string) string {
	parts := strings.Split(filepath.ToSlash(filepath.Clean(path)), "/")
	if len(parts) < 3 {
		return ""
	}
	key := strings.Join(parts[len(parts)-3:], "/")
	if _, _, err := evidence.ParseBundleKey(key); err != nil {
		return ""
	}
	return key
}

func (b *bundleCmd) verify(ctx context.Context, arg, key string) int {
	if key != "" {
		if _, _, err := evidence.ParseBundleKey(key); err != nil {
			b.e.errorf("bundle verify: --key: %v", err)
			return exitUsage
		}
	}
	ob, code := b.open(ctx, arg)
	if ob == nil {
		return code
	}
	defer ob.done()
	if key == "" {
		key = ob.key
	}
	return b.check(ob, key)
}

// check verifies an opened bundle and reports the outcome.
func (b *bundleCmd) check(ob *openedBundle, key string) int {
	if err := evidence.VerifyBundle(ob.r, ob.size, key); err != nil {
		b.e.errorf("bundle verify: %s: FAILED: %v", ob.name, err)
		return exitFail
	}
	m, err := evidence.ReadManifest(ob.r, ob.size)
	if err != nil { // verified a moment ago: only an I/O error gets here
		b.e.errorf("bundle verify: %s: %v", ob.name, err)
		return exitFail
	}
	checked := "no key to check the message against"
	if key != "" {
		checked = "matches key " + key
	}
	fmt.Fprintf(b.e.stdout, "%s: ok: %d files match the manifest; message.eml (%d bytes, sha256 %s) %s; verdict %s, rules %s\n",
		ob.name, len(m.Files)+1, m.Raw.Size, m.Raw.SHA256, checked, m.Judgment.Verdict, m.RulesVersion)
	return exitOK
}

func (b *bundleCmd) extract(ctx context.Context, arg, dir string, force bool) int {
	ob, code := b.open(ctx, arg)
	if ob == nil {
		return code
	}
	defer ob.done()
	if err := evidence.VerifyBundle(ob.r, ob.size, ob.key); err != nil {
		if !force {
			b.e.errorf("bundle extract: %s fails verification, nothing extracted: %v (use --force to extract anyway)", ob.name, err)
			return exitFail
		}
		b.e.errorf("bundle extract: %s fails verification, extracting anyway (--force): %v", ob.name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.e.errorf("bundle extract: %v", err)
		return exitFail
	}
	names, err := evidence.Extract(ob.r, ob.size, dir)
	for _, n := range names {
		fmt.Fprintln(b.e.stdout, filepath.Join(dir, n))
	}
	if errors.Is(err, evidence.ErrExtractLimit) {
		// The parse stops at the same limit and judges what it read, so
		// the evidence an analyst saw is all here: a note, not a failure.
		fmt.Fprintf(b.e.stderr, "claimtrail: bundle extract: %s: stopped where the parse stops, what comes after was not extracted: %v\n", ob.name, err)
		err = nil
	}
	if err != nil {
		b.e.errorf("bundle extract: %s: %v", ob.name, err)
		return exitFail
	}
	if len(names) == 0 {
		fmt.Fprintf(b.e.stderr, "claimtrail: bundle extract: %s: the message has no attachments\n", ob.name)
	}
	return exitOK
}

func (b *bundleCmd) get(ctx context.Context, key, out string) int {
	sha, n, err := evidence.ParseBundleKey(key)
	if err != nil {
		b.e.errorf("bundle get: %v", err)
		return exitUsage
	}
	if out == "" {
		out = fmt.Sprintf("%s-%d.zip", sha, n)
	}
	if out != "-" {
		if _, err := os.Lstat(out); err == nil {
			b.e.errorf("bundle get: %s exists; remove it or choose another file with -o", out)
			return exitFail
		}
	}
	sf, code := b.fetch(ctx, key)
	if sf == nil {
		return code
	}
	defer sf.Close()
	if out == "-" {
		if _, err := io.Copy(b.e.stdout, sf.Reader()); err != nil {
			b.e.errorf("bundle get: write: %v", err)
			return exitFail
		}
		if err := evidence.VerifyBundle(sf, sf.Size(), key); err != nil {
			b.e.errorf("bundle get: %s: FAILED verification: %v", key, err)
			return exitFail
		}
		return exitOK
	}
	if err := writeFileExcl(out, sf.Reader()); err != nil {
		b.e.errorf("bundle get: %v", err)
		return exitFail
	}
	// Verify what was written: the file is what the analyst will open.
	f, err := os.Open(out)
	if err != nil {
		b.e.errorf("bundle get: %v", err)
		return exitFail
	}
	defer f.Close()
	return b.check(&openedBundle{r: f, size: sf.Size(), name: out}, key)
}

// writeFileExcl writes r to a new file path (never replacing one), synced
// before it is closed.
func writeFileExcl(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
