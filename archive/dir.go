package archive

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Dir is a Store in a local directory: each key is a read-only file at that
// relative path, so the tree can be inspected, copied and checked with
// ordinary tools. Writes are durable and create-only (see Put). Each file's
// SHA-256 is kept in an extended attribute where the filesystem has them;
// elsewhere, or on a copy that lost them, it is computed again when needed.
//
// Dir needs hard links (ext4, xfs, btrfs, zfs, tmpfs and APFS have them).
// Objects cannot be removed through it and are retained for good, so legal
// holds change nothing.
type Dir struct {
	root *os.Root
}

// Modes of what Dir creates: objects are read-only for everyone the
// directories let in; directories keep customer mail from other users.
const (
	dirObjectMode os.FileMode = 0o444
	dirDirMode    os.FileMode = 0o750
	// dirTempDir holds the files of Puts in progress, each linked to its
	// key's name when complete; ValidateKey refuses such names.
	dirTempDir = ".tmp"
)

// OpenDir opens (creating if needed) the directory store rooted at path.
func OpenDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, dirDirMode); err != nil {
		return nil, fmt.Errorf("archive: open dir store %s: %w: check the dir setting and that claimtrail may create it", path, err)
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("archive: open dir store %s: %w", path, err)
	}
	d := &Dir{root: root}
	// Find out now, not at the first mail, if the directory is read-only.
	err = d.mkdirs(dirTempDir)
	var f *os.File
	probe := filepath.Join(dirTempDir, "probe-"+randomHex())
	if err == nil {
		f, err = root.OpenFile(probe, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("archive: open dir store %s: cannot write there (%w): make it writable by the user running claimtrail", path, err)
	}
	f.Close()
	if err := root.Remove(probe); err != nil {
		root.Close()
		return nil, fmt.Errorf("archive: open dir store %s: %w", path, err)
	}
	if err := d.sweepTemp(); err != nil {
		root.Close()
		return nil, fmt.Errorf("archive: open dir store %s: remove the files of writes cut short: %w", path, err)
	}
	return d, nil
}

// sweepTemp removes the temporary files no Put is writing any more: those
// of a process killed in the middle of one.
func (d *Dir) sweepTemp() error {
	entries, err := fs.ReadDir(d.root.FS(), dirTempDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dirTempDir, e.Name())
		f, err := d.root.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // its Put just finished
		}
		if err != nil {
			return err
		}
		abandoned, err := abandonedTemp(f)
		if err == nil && abandoned {
			err = d.root.Remove(name)
		}
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Path returns the directory the store was opened on.
func (d *Dir) Path() string { return d.root.Name() }

// Put implements Store.Put. It writes a temporary file in the store's .tmp
// directory, fsyncs it and hard-links it to the key's name: link(2) fails if
// the name exists, so of racing writers exactly one wins and readers never
// see a partial file. The directory is fsynced after the link. The
// temporary file is locked while written, so that OpenDir removes it if
// the process dies first.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	if err := checkPut(ctx, key, size, opts); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	name := filepath.FromSlash(key)
	vr := newVerifyingReader(ctxReader{ctx, r}, size, opts.SHA256)

	// A retried Put finds the object: hash the input without writing it.
	if fi, err := d.root.Lstat(name); err == nil {
		if fi.IsDir() {
			return ObjectInfo{}, fmt.Errorf("archive: put %s: %w: keys exist under %s/, so the directory store cannot also hold it as an object", key, ErrExists, key)
		}
		sum, err := vr.drain()
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
		}
		return putExisting(ctx, d, key, sum)
	}

	parent := path.Dir(key)
	if err := d.mkdirs(parent); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	tmp := filepath.Join(dirTempDir, randomHex())
	f, err := d.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// Removed while the store was open: make it again.
		if err = d.mkdirs(dirTempDir); err == nil {
			f, err = d.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		}
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	linked := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if !linked {
			d.root.Remove(tmp)
		}
	}()
	if err := lockTemp(f); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: lock temporary file: %w", key, err)
	}
	// Hide ReadFrom so that the verifying reader, not a splice, feeds the file.
	if _, err := io.Copy(struct{ io.Writer }{f}, vr); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	sum := vr.Sum()
	if err := setSumXattr(f, sum); err != nil && !errors.Is(err, errNoXattr) {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: record SHA-256: %w", key, err)
	}
	if err := f.Chmod(dirObjectMode); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: fsync: %w", key, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil { // last chance to abandon the write
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}

	err = d.root.Link(tmp, name)
	if errors.Is(err, fs.ErrExist) {
		return putExisting(ctx, d, key, sum) // a concurrent Put won
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: link into place: %w (the dir store needs a filesystem with hard links)", key, err)
	}
	linked = true
	if err := d.root.Remove(tmp); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: remove temporary file: %w", key, err)
	}
	if err := d.syncDir(filepath.FromSlash(parent)); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	fi, err := d.root.Lstat(name)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), SHA256: sum, Modified: fi.ModTime()}, nil
}

// Get implements Store.Get.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	f, info, err := d.open(ctx, key)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("archive: get %s: %w", key, err)
	}
	rc := struct {
		io.Reader
		io.Closer
	}{ctxReader{ctx, f}, f}
	return newCheckedReadCloser(rc, key, info.SHA256), info, nil
}

// Stat implements Store.Stat.
func (d *Dir) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	f, info, err := d.open(ctx, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: stat %s: %w", key, err)
	}
	f.Close()
	return info, nil
}

// open opens key's file and describes it, hashing it if no attribute
// records its SHA-256 (the file is then rewound).
func (d *Dir) open(ctx context.Context, key string) (*os.File, ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := d.root.Open(filepath.FromSlash(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, ObjectInfo{}, ErrNotFound
	}
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, ObjectInfo{}, ErrNotFound // a directory is a prefix, not an object
	}
	info := ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()}
	info.SHA256, err = sumXattr(f)
	if err != nil {
		info.SHA256, err = hashFile(ctx, f)
	}
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, err
	}
	return f, info, nil
}

func hashFile(ctx context.Context, f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// List implements Store.List. Directories are read one at a time, each
// sorted so that a directory "a" sorts as "a/": that gives the keys' byte
// order ("a-b" < "a/b") without holding every key in memory.
func (d *Dir) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ValidatePrefix(prefix); err != nil {
			yield(ObjectInfo{}, fmt.Errorf("archive: list %s: %w", prefix, err))
			return
		}
		start := "" // the deepest directory that holds every match
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			start = prefix[:i]
		}
		err := d.walk(ctx, start, prefix, yield)
		if err != nil && err != errStopWalk {
			yield(ObjectInfo{}, fmt.Errorf("archive: list %s: %w", prefix, err))
		}
	}
}

var errStopWalk = errors.New("stop")

func (d *Dir) walk(ctx context.Context, dir, prefix string, yield func(ObjectInfo, error) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := filepath.FromSlash(dir)
	if dir == "" {
		name = "."
	}
	f, err := d.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing under this prefix
	}
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	sortKey := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return cmp.Compare(sortKey(a), sortKey(b)) })
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // temporary files
		}
		key := e.Name()
		if dir != "" {
			key = dir + "/" + key
		}
		switch {
		case e.IsDir():
			// Descend only where matches can be: "bundles/" under "b", or
			// "bundles/ab/" under "bundles/a".
			if strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
				if err := d.walk(ctx, key, prefix, yield); err != nil {
					return err
				}
			}
		case e.Type().IsRegular() && strings.HasPrefix(key, prefix):
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if !yield(ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil) {
				return errStopWalk
			}
		}
	}
	return nil
}

// SetLegalHold implements Store.SetLegalHold: Dir keeps every object for
// good, so it only checks that the object exists.
func (d *Dir) SetLegalHold(ctx context.Context, key string, on bool) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("archive: legal hold %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("archive: legal hold %s: %w", key, err)
	}
	fi, err := d.root.Lstat(filepath.FromSlash(key))
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("archive: legal hold %s: %w", key, ErrNotFound)
	}
	return nil
}

// URL implements Store.URL: a directory cannot serve its files, so it
// always fails with ErrNotSupported; stream the object with Get instead.
func (d *Dir) URL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", fmt.Errorf("archive: url %s: %w", key, err)
	}
	return "", fmt.Errorf("archive: url %s: %w: the directory store cannot make URLs; stream the object with Get", key, ErrNotSupported)
}

// Close implements Store.Close.
func (d *Dir) Close() error { return d.root.Close() }

// mkdirs creates dir (a key's parent, slash-separated) and its missing
// parents, fsyncing each parent after a creation so that the new entry
// survives a crash.
func (d *Dir) mkdirs(dir string) error {
	if dir == "." {
		return nil
	}
	if fi, err := d.root.Stat(filepath.FromSlash(dir)); err == nil && fi.IsDir() {
		return nil
	}
	segs := strings.Split(dir, "/")
	for i := range segs {
		p := filepath.Join(segs[:i+1]...)
		err := d.root.Mkdir(p, dirDirMode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s is an object, so the directory store cannot hold keys under it", path.Join(segs[:i]...))
		}
		if err != nil {
			return err
		}
		if err := d.syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dir) syncDir(name string) error {
	f, err := d.root.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", name, err)
	}
	return nil
}

func randomHex() string { return strings.ToLower(rand.Text()) }

// errNoXattr: the filesystem or platform keeps no SHA-256 attribute, or the
// file lacks it (copied without attributes); Dir then hashes the file.
var errNoXattr = errors.New("no SHA-256 attribute")
