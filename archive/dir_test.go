package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/archive/archivetest"
)

func newDir(t testing.TB) *archive.Dir {
	t.Helper()
	d, err := archive.OpenDir(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatalf("OpenDir = %v", err)
	}
	return d
}

func TestDirConformance(t *testing.T) {
	archivetest.Run(t, func(t *testing.T) archive.Store { return newDir(t) })
}

// tempFiles lists what Dir leaves that is not an object: temporary files.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if !e.IsDir() && (strings.HasPrefix(rel, ".") || strings.Contains(rel, string(filepath.Separator)+".")) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestDirFiles(t *testing.T) {
	d := newDir(t)
	defer d.Close()
	ctx := context.Background()
	data := archivetest.Data(1, 4096)
	key := "bundles/" + strings.Repeat("0f", 32) + "/1.zip"
	if _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); err != nil {
		t.Fatalf("Put(%s) = %v", key, err)
	}
	path := filepath.Join(d.Path(), filepath.FromSlash(key))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the object is not at %s: %v", path, err)
	}
	if got := fi.Mode().Perm(); got != 0o444 {
		t.Errorf("object mode = %v, want -r--r--r--", got)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Errorf("file %s holds other bytes than put", path)
	}
	var buf [64]byte
	n, err := unix.Getxattr(path, "user.claimtrail.sha256", buf[:])
	if err != nil || string(buf[:n]) != archivetest.Sum(data) {
		t.Errorf("xattr user.claimtrail.sha256 = %q, %v; want %s", buf[:n], err, archivetest.Sum(data))
	}
	// Failed Puts leave no temporary files behind.
	d.Put(ctx, "bundles/fail/1.zip", bytes.NewReader(data), int64(len(data))+1, archive.PutOptions{})
	d.Put(ctx, key, bytes.NewReader(data[1:]), int64(len(data))-1, archive.PutOptions{})
	if left := tempFiles(t, d.Path()); len(left) != 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
}

// A process killed in the middle of a Put leaves its temporary file; the
// next OpenDir removes it, but not one another Put is still writing.
func TestDirSweepsAbandonedTemp(t *testing.T) {
	root := filepath.Join(t.TempDir(), "objects")
	d, err := archive.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	abandoned := filepath.Join(root, ".tmp", "abandoned")
	inUse := filepath.Join(root, ".tmp", "in-use")
	for _, p := range []string{abandoned, inUse} {
		if err := os.WriteFile(p, []byte("half a bundle"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A Put in progress holds its file's lock (here: this open file's).
	f, err := os.Open(inUse)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	d, err = archive.OpenDir(root)
	if err != nil {
		t.Fatalf("OpenDir = %v", err)
	}
	defer d.Close()
	if _, err := os.Stat(abandoned); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the abandoned temporary file is still there (Stat: %v)", err)
	}
	if _, err := os.Stat(inUse); err != nil {
		t.Errorf("the temporary file of a Put in progress was removed: %v", err)
	}
	// The store works on, and List shows no temporary file.
	data := archivetest.Data(2, 100)
	if _, err := d.Put(context.Background(), "a/b", bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); err != nil {
		t.Fatalf("Put = %v", err)
	}
	for info, err := range d.List(context.Background(), "") {
		if err != nil || info.Key != "a/b" {
			t.Errorf("List gave %q, %v; want only a/b", info.Key, err)
		}
	}
}

// tamper rewrites an object's file behind the store's back, as root could.
func tamper(t *testing.T, path string, data []byte, keepXattr bool) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if !keepXattr {
		if err := unix.Removexattr(path, "user.claimtrail.sha256"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDirDetectsTampering(t *testing.T) {
	d := newDir(t)
	defer d.Close()
	ctx := context.Background()
	data := archivetest.Data(2, 10_000)
	key := "anchors/0000000001.json"
	if _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	altered := bytes.Clone(data)
	altered[5000] ^= 1
	tamper(t, filepath.Join(d.Path(), key), altered, true)

	rc, _, err := d.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%s) = %v", key, err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("reading altered %s: %v, want ErrCorrupt", key, err)
	}
	// The recorded hash still names the original bytes.
	if _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); err != nil {
		t.Errorf("Put(%s) of the original bytes = %v, want a no-op", key, err)
	}
}

func TestDirWithoutXattr(t *testing.T) {
	// A tree copied without extended attributes: Dir hashes the files.
	d := newDir(t)
	defer d.Close()
	ctx := context.Background()
	data := archivetest.Data(3, 5000)
	key := "bundles/copy/1.zip"
	if _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	other := archivetest.Data(4, 5000)
	tamper(t, filepath.Join(d.Path(), key), other, false)

	info, err := d.Stat(ctx, key)
	if err != nil || info.SHA256 != archivetest.Sum(other) {
		t.Errorf("Stat(%s) = %+v, %v; want SHA-256 %s from the file", key, info, err, archivetest.Sum(other))
	}
	if _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{}); !errors.Is(err, archive.ErrExists) {
		t.Errorf("Put(%s) of bytes the file no longer holds = %v, want ErrExists", key, err)
	}
	rc, _, err := d.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, other) {
		t.Errorf("Get(%s) = %d bytes, %v; want the file's %d", key, len(got), err, len(other))
	}
}

func TestDirKeyAndPrefixConflict(t *testing.T) {
	d := newDir(t)
	defer d.Close()
	ctx := context.Background()
	put := func(key string) error {
		_, err := d.Put(ctx, key, strings.NewReader("x"), 1, archive.PutOptions{})
		return err
	}
	if err := put("a/b"); err != nil {
		t.Fatal(err)
	}
	// S3 allows both "a" and "a/b"; a directory cannot. Refuse clearly.
	for _, key := range []string{"a", "a/b/c"} {
		if err := put(key); err == nil {
			t.Errorf("Put(%s) next to a/b succeeded, want an error", key)
		}
	}
	if left := tempFiles(t, d.Path()); len(left) != 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
}

func TestDirSymlinkEscape(t *testing.T) {
	d := newDir(t)
	defer d.Close()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	if err := os.Symlink(outside, filepath.Join(d.Path(), "bundles")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := d.Get(ctx, "bundles/secret"); err == nil {
		t.Errorf("Get through a symlink out of the root succeeded")
	}
	if _, err := d.Put(ctx, "bundles/new", strings.NewReader("x"), 1, archive.PutOptions{}); err == nil {
		t.Errorf("Put through a symlink out of the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Errorf("Put wrote outside the root")
	}
}

func TestOpenDirErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct{ name, path, want string }{
		{"a file", file, "check the dir setting"},
		{"under a file", filepath.Join(file, "objects"), "check the dir setting"},
	} {
		_, err := archive.OpenDir(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: OpenDir(%s) = %v, want an error saying %q", tc.name, tc.path, err, tc.want)
		}
	}
}

func BenchmarkDirPut(b *testing.B) {
	d := newDir(b)
	defer d.Close()
	archivetest.BenchmarkPut(b, d)
}

// BenchmarkDirStat compares Stat with the SHA-256 in an extended attribute
// and, as on a tree copied without attributes, computed from the file.
func BenchmarkDirStat(b *testing.B) {
	d := newDir(b)
	defer d.Close()
	ctx := context.Background()
	for _, size := range []int{8 << 10, 1 << 20} {
		for _, xattr := range []bool{true, false} {
			key := "bench/" + strings.Repeat("x", size>>13) // unique per size
			if !xattr {
				key += "-rehash"
			}
			data := archivetest.Data(1, size)
			if _, err := d.Put(ctx, key, bytes.NewReader(data), int64(size), archive.PutOptions{}); err != nil {
				b.Fatal(err)
			}
			if !xattr {
				if err := unix.Removexattr(filepath.Join(d.Path(), key), "user.claimtrail.sha256"); err != nil {
					b.Fatal(err)
				}
			}
			name := map[bool]string{true: "xattr", false: "rehash"}[xattr]
			b.Run(name+"-"+map[int]string{8 << 10: "8KiB", 1 << 20: "1MiB"}[size], func(b *testing.B) {
				for b.Loop() {
					if _, err := d.Stat(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
