package evidence

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MismatchError says which file of a bundle does not match its record, and
// how. What is "sha256", "size", "manifest digest", "key" or "listing".
type MismatchError struct {
	File string
	What string
	Want string
	Got  string
}

// Error names the file, what differs, and both values.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: %s mismatch: want %s, got %s", e.File, e.What, e.Want, e.Got)
}

// ErrBundleMismatch is matched by every *MismatchError (errors.Is), so a
// caller can tell tampering or damage from an unreadable bundle.
var ErrBundleMismatch = errors.New("bundle does not match its manifest")

// Is reports whether target is ErrBundleMismatch.
func (e *MismatchError) Is(target error) bool { return target == ErrBundleMismatch }

// VerifyBundle checks a bundle against its manifest: the manifest against
// the digest in the ZIP comment, the files present against the files listed
// (exactly, no more, no fewer), every file's size and SHA-256, message.eml
// against the raw message's, and, when key is not empty, the raw message's
// SHA-256 against the one the key names. It returns nil or the first
// problem, a *MismatchError when a file does not match.
//
// The digests make damage and a change to one part evident; a forger who
// rewrites a file, the manifest and the comment together is caught only by
// the key (message.eml) or by a digest of the whole bundle kept elsewhere
// (the ledger's record of the bundle's SHA-256).
func VerifyBundle(bundle io.ReaderAt, size int64, key string) error {
	if err := verifyBundle(bundle, size, key); err != nil {
		return fmt.Errorf("evidence: verify bundle: %w", err)
	}
	return nil
}

func verifyBundle(bundle io.ReaderAt, size int64, key string) error {
	var keySHA string
	if key != "" {
		var err error
		if keySHA, _, err = ParseBundleKey(key); err != nil {
			return err
		}
	}
	zr, err := zip.NewReader(bundle, size)
	if err != nil {
		return fmt.Errorf("not a bundle (ZIP): %w", err)
	}
	mbytes, err := readManifestBytes(zr)
	if err != nil {
		return err
	}
	// The digest first: a damaged manifest is reported as such, not as
	// whatever its damaged JSON happens to say.
	schema, want, ok := commentDigest(zr.Comment)
	if !ok {
		return &MismatchError{File: ManifestName, What: "manifest digest", Want: "a ZIP comment " + strconv.Quote(ManifestSchema+commentSuffix+"<sha256>"), Got: strconv.Quote(truncate(zr.Comment, 100))}
	}
	sum := sha256.Sum256(mbytes)
	if got := hex.EncodeToString(sum[:]); got != want {
		return &MismatchError{File: ManifestName, What: "sha256", Want: want + " (ZIP comment)", Got: got}
	}
	m, err := decodeManifest(mbytes)
	if err != nil {
		return err
	}
	if m.Schema != schema {
		return &MismatchError{File: ManifestName, What: "schema", Want: schema + " (ZIP comment)", Got: m.Schema}
	}

	// The listing, both ways: a file added to a bundle is as suspect as one
	// removed from it.
	present := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if present[f.Name] != nil {
			return &MismatchError{File: f.Name, What: "listing", Want: "one file of that name", Got: "two"}
		}
		present[f.Name] = f
	}
	listed := make(map[string]bool, len(m.Files))
	for _, d := range m.Files {
		if d.Name == ManifestName || listed[d.Name] {
			return &MismatchError{File: d.Name, What: "listing", Want: "listed once in the manifest", Got: "listed again"}
		}
		listed[d.Name] = true
		if present[d.Name] == nil {
			return &MismatchError{File: d.Name, What: "listing", Want: "present (listed in the manifest)", Got: "missing"}
		}
	}
	for _, f := range zr.File {
		if f.Name != ManifestName && !listed[f.Name] {
			return &MismatchError{File: f.Name, What: "listing", Want: "absent (not in the manifest)", Got: "present"}
		}
	}
	if !listed[MessageName] {
		return &MismatchError{File: MessageName, What: "listing", Want: "present (the evidence itself)", Got: "missing"}
	}

	for _, d := range m.Files {
		if d.Name == MessageName {
			if d.SHA256 != m.Raw.SHA256 || d.Size != m.Raw.Size {
				return &MismatchError{File: MessageName, What: "sha256", Want: m.Raw.SHA256 + " (raw message)", Got: d.SHA256 + " (files list)"}
			}
			if keySHA != "" && keySHA != m.Raw.SHA256 {
				return &MismatchError{File: MessageName, What: "key", Want: keySHA + " (key)", Got: m.Raw.SHA256 + " (manifest)"}
			}
		}
		if err := verifyFile(present[d.Name], d); err != nil {
			return err
		}
	}
	return nil
}

// verifyFile hashes one file of the bundle, reading at most one byte more
// than the manifest allows so a ZIP bomb costs no more than an honest file.
func verifyFile(f *zip.File, want FileDigest) error {
	if want.Size < 0 {
		return &MismatchError{File: want.Name, What: "size", Want: "a size of 0 or more", Got: strconv.FormatInt(want.Size, 10)}
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", want.Name, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(rc, want.Size+1))
	if errors.Is(err, zip.ErrChecksum) {
		return &MismatchError{File: want.Name, What: "ZIP CRC-32", Want: fmt.Sprintf("%08x", f.CRC32), Got: "a different checksum (the stored bytes are damaged)"}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", want.Name, err)
	}
	if n != want.Size {
		got := strconv.FormatInt(n, 10)
		if n > want.Size {
			got = "more"
		}
		return &MismatchError{File: want.Name, What: "size", Want: strconv.FormatInt(want.Size, 10), Got: got}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.SHA256 {
		return &MismatchError{File: want.Name, What: "sha256", Want: want.SHA256, Got: got}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
