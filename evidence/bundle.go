package evidence

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// BundleInput is everything a bundle is built from. Nothing else goes in, in
// particular no clock: the same input gives the same bytes.
type BundleInput struct {
	// Raw is the message exactly as fetched, RawSize bytes long; usually a
	// *SpoolFile. It is streamed into the bundle, never held in memory.
	Raw     io.ReaderAt
	RawSize int64
	// RawSHA256 is Raw's SHA-256 (lowercase hex) when already known, as a
	// SpoolFile knows it; WriteBundle checks it while copying. When empty,
	// Raw is read twice.
	RawSHA256 string
	// RawVerified says RawSHA256 was computed over Raw's bytes in memory,
	// which cannot have changed since: WriteBundle then checks only their
	// size. Leave it false when Raw is a file (another process could
	// rewrite it).
	RawVerified bool
	// Facts is what the parse of Raw found; nil is read as a message whose
	// facts are unknown, and noted in the manifest's warnings.
	Facts      *Facts
	Judgment   rules.Judgment
	Provenance Provenance
}

// bundleEpoch stamps the files of a message without a usable Date: the
// earliest time a ZIP (MS-DOS) timestamp can hold.
var bundleEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// bundleLatest is the last time both ZIP timestamps (MS-DOS to 2107, the
// extended field's unsigned 32-bit Unix seconds to 2106) can hold.
var bundleLatest = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)

// bundleMethod is the ZIP method of every file: Store. BenchmarkBundleMethod
// measured (CPU time, 2 cores, Deflate at BestSpeed with pooled writers):
//
//	text mail, 60 KB           Store 0.10 ms, bundle 1.52 x raw   Deflate 0.78 ms, 0.47 x
//	  (Deflate all but message.eml: 0.36 ms, 1.20 x)
//	4 MB attachment, base64    Store 0.76 ms/MB, 1.00 x           Deflate 2.99 ms/MB, 0.76 x
//
// Deflate costs 4 to 8 times the CPU, and saves much only on text mail,
// which is small anyway; MinIO on the same cores needs ~1.35 ms per object.
// Store also keeps bundles identical across Go releases: compress/flate
// output is deterministic only for a given Go version, and a write-once key
// rebuilt by a newer binary would otherwise conflict with the stored bundle.
func bundleMethod(string) uint16 { return zip.Store }

// WriteBundle writes the evidence bundle of in to w: a ZIP of body.txt,
// manifest.json, message.eml and original-N.eml, in name order, each dated
// from the message's Date. It returns the manifest written. It stops with
// ctx's error when ctx ends; w then holds a partial bundle.
func WriteBundle(ctx context.Context, w io.Writer, in *BundleInput) (*Manifest, error) {
	return writeBundle(ctx, w, in, bundleMethod, nil)
}

// writeBundle is WriteBundle with the choice of ZIP method and the Deflate
// compressor (nil: archive/zip's default) as parameters, for the benchmark
// that chose bundleMethod.
func writeBundle(ctx context.Context, w io.Writer, in *BundleInput, methodFor func(name string) uint16, deflate zip.Compressor) (*Manifest, error) {
	if in == nil || in.Raw == nil {
		return nil, errors.New("evidence: write bundle: no raw message")
	}
	if in.RawSize < 0 {
		return nil, fmt.Errorf("evidence: write bundle: raw size %d", in.RawSize)
	}
	rawSHA := in.RawSHA256
	// checkSHA is what the copy of Raw into the bundle must hash to: ""
	// (not hashed again) when the caller hashed these bytes in memory.
	checkSHA := rawSHA
	if in.RawVerified {
		checkSHA = ""
	}
	if rawSHA == "" {
		h := sha256.New()
		if _, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(in.Raw, 0, in.RawSize)}); err != nil {
			return nil, fmt.Errorf("evidence: write bundle: hash raw message: %w", err)
		}
		rawSHA = hex.EncodeToString(h.Sum(nil))
		checkSHA = rawSHA // read twice: the second read is checked
	} else if !isSHA256Hex(rawSHA) {
		return nil, fmt.Errorf("evidence: write bundle: raw SHA-256 %q is not 64 lowercase hex digits", rawSHA)
	}

	m, small := buildManifest(in, rawSHA)
	manifest, err := encodeManifest(m)
	if err != nil {
		return nil, err
	}

	var date time.Time
	if in.Facts != nil {
		date = in.Facts.Date
	}
	zw := zip.NewWriter(w)
	if deflate != nil {
		zw.RegisterCompressor(zip.Deflate, deflate)
	}
	names := make([]string, 0, len(small)+2)
	for name := range small {
		names = append(names, name)
	}
	names = append(names, ManifestName, MessageName)
	slices.Sort(names)
	for _, name := range names {
		fw, err := zw.CreateHeader(fileHeader(name, date, methodFor(name)))
		if err != nil {
			return nil, fmt.Errorf("evidence: write bundle: %s: %w", name, err)
		}
		switch name {
		case ManifestName:
			_, err = fw.Write(manifest)
		case MessageName:
			err = copyRaw(ctx, fw, in.Raw, in.RawSize, checkSHA)
		default:
			_, err = fw.Write(small[name])
		}
		if err != nil {
			return nil, fmt.Errorf("evidence: write bundle: %s: %w", name, err)
		}
	}
	if err := zw.SetComment(manifestComment(ManifestSchema, manifest)); err != nil {
		return nil, fmt.Errorf("evidence: write bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("evidence: write bundle: %w", err)
	}
	return m, nil
}

// SpoolBundle writes the bundle of in to a new spool file in dir, so that a
// store can be given its exact size and SHA-256 before the upload starts.
// The caller closes the returned SpoolFile.
func SpoolBundle(ctx context.Context, dir string, in *BundleInput) (*SpoolFile, *Manifest, error) {
	var m *Manifest
	sf, err := spoolFunc(dir, func(w io.Writer) error {
		var err error
		m, err = WriteBundle(ctx, w, in)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return sf, m, nil
}

func fileHeader(name string, date time.Time, method uint16) *zip.FileHeader {
	switch {
	case date.IsZero() || date.Before(bundleEpoch):
		date = bundleEpoch
	case date.After(bundleLatest):
		date = bundleLatest
	}
	// UTC, so that the MS-DOS fields (local time, no zone) mean the same
	// whatever zone the sender wrote the Date in.
	return &zip.FileHeader{Name: name, Method: method, Modified: date.UTC().Truncate(2 * time.Second)}
}

// copyRaw streams the raw message into w, checking it still has the size and
// (unless wantSHA is empty) the SHA-256 it had when the manifest was written.
func copyRaw(ctx context.Context, w io.Writer, raw io.ReaderAt, size int64, wantSHA string) error {
	var h hash.Hash
	if wantSHA != "" {
		h = sha256.New()
		w = io.MultiWriter(w, h)
	}
	n, err := io.Copy(w, ctxReader{ctx, io.NewSectionReader(raw, 0, size)})
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("raw message ended after %d of %d bytes", n, size)
	}
	if h == nil {
		return nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA {
		return &MismatchError{File: MessageName, What: "sha256", Want: wantSHA, Got: got}
	}
	return nil
}

// buildManifest fills the manifest of in and returns the small files (all
// but message.eml and the manifest) by name.
func buildManifest(in *BundleInput, rawSHA string) (*Manifest, map[string][]byte) {
	var warnings []string
	f := in.Facts
	if f == nil {
		f = &Facts{}
		warnings = append(warnings, "bundle: no parsed facts; the headers, body and attachments are unknown")
	}
	small := map[string][]byte{}
	body := f.Text
	if body == "" {
		body = f.HTMLText
	}
	small[BodyName] = []byte(body)

	originals := make([]OriginalSummary, 0, len(f.Originals))
	for i, o := range f.Originals {
		name := OriginalName(i + 1)
		if o.Raw == nil {
			warnings = append(warnings, fmt.Sprintf("bundle: customer original %d has no bytes; %s not stored", i+1, name))
			continue
		}
		small[name] = o.Raw
		s := OriginalSummary{File: name}
		if of := o.Facts; of != nil {
			s.MessageID, s.From, s.Sender, s.Date, s.Subject = of.MessageID, of.From, of.Sender, of.Date, of.Subject
			s.Automation, s.ReportType = maps.Clone(of.Automation), of.ReportType
		}
		originals = append(originals, s)
	}

	files := make([]FileDigest, 0, len(small)+1)
	for name, b := range small {
		sum := sha256.Sum256(b)
		files = append(files, FileDigest{Name: name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	}
	files = append(files, FileDigest{Name: MessageName, Size: in.RawSize, SHA256: rawSHA})
	slices.SortFunc(files, func(a, b FileDigest) int { return strings.Compare(a.Name, b.Name) })

	j := in.Judgment
	j.IncidentIDs = nonNil(j.IncidentIDs)
	j.Warnings = nonNil(j.Warnings)
	m := &Manifest{
		Schema:       ManifestSchema,
		RulesVersion: rules.Version,
		Raw:          FileDigest{Size: in.RawSize, SHA256: rawSHA},
		Files:        files,
		Message: MessageHeaders{
			MessageID:      f.MessageID,
			From:           f.From,
			Sender:         f.Sender,
			Authors:        f.Authors,
			FromFields:     f.FromFields,
			AuthorsDropped: f.AuthorsDropped,
			ReplyTo:        nonNil(f.ReplyTo),
			To:             nonNil(f.To),
			Date:           f.Date,
			Subject:        f.Subject,
			Automation:     maps.Clone(f.Automation),
			ReportType:     f.ReportType,
			Malformed:      f.Malformed,
			Truncated:      f.Truncated,
			TooComplex:     f.TooComplex,
		},
		Provenance: in.Provenance,
		Judgment:   j,
		Authentication: SenderAuthentication{
			AuthenticationResults: nonNil(f.AuthenticationResults),
			DKIM:                  nonNil(f.DKIM),
			DKIMVerified:          f.DKIM != nil,
		},
		Attachments: nonNil(f.Attachments),
		Originals:   originals,
		Warnings:    append(slices.Clone(f.Warnings), warnings...),
	}
	if m.Warnings == nil {
		m.Warnings = []string{}
	}
	return m, small
}

// nonNil makes empty lists read as [] rather than null in the manifest.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// BundleKey returns the object-store key of the n-th (1-based) judgment of
// the raw message with the given SHA-256 (lowercase hex):
// "bundles/<sha256>/<n>.zip".
func BundleKey(rawSHA256 string, n int) string {
	return "bundles/" + rawSHA256 + "/" + strconv.Itoa(n) + ".zip"
}

// ParseBundleKey is the inverse of BundleKey. It accepts only the exact form
// BundleKey produces, so that one bundle has one key.
func ParseBundleKey(key string) (rawSHA256 string, n int, err error) {
	rest, ok := strings.CutPrefix(key, "bundles/")
	if !ok {
		return "", 0, fmt.Errorf("evidence: bundle key %q: want bundles/<sha256>/<n>.zip", key)
	}
	sha, file, ok := strings.Cut(rest, "/")
	if !ok || !isSHA256Hex(sha) {
		return "", 0, fmt.Errorf("evidence: bundle key %q: want 64 lowercase hex digits after bundles/", key)
	}
	num, ok := strings.CutSuffix(file, ".zip")
	n, err = strconv.Atoi(num)
	if !ok || err != nil || n < 1 || strconv.Itoa(n) != num {
		return "", 0, fmt.Errorf("evidence: bundle key %q: want a judgment number from 1, as in bundles/<sha256>/1.zip", key)
	}
	return sha, n, nil
}
