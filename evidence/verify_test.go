package evidence

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// rezip rebuilds a bundle file by file, letting edit change a file's name or
// content or drop it (keep false), then appends extra. The headers, order and
// comment are kept, and CRCs are recomputed: this is a deliberate edit, not
// damage.
func rezip(t testing.TB, b []byte, edit func(name string, data []byte) (string, []byte, bool), extra map[string][]byte) []byte {
	t.Helper()
	zr, files := zipEntries(t, b)
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	write := func(fh zip.FileHeader, data []byte) {
		fh.CRC32, fh.CompressedSize64, fh.UncompressedSize64 = 0, 0, 0
		w, err := zw.CreateHeader(&fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range zr.File {
		name, data, keep := f.Name, files[f.Name], true
		if edit != nil {
			name, data, keep = edit(f.Name, bytes.Clone(data))
		}
		if !keep {
			continue
		}
		fh := f.FileHeader
		fh.Name = name
		write(fh, data)
	}
	for name, data := range extra {
		write(zip.FileHeader{Name: name, Method: zip.Store}, data)
	}
	if err := zw.SetComment(zr.Comment); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func verifyBytes(b []byte, key string) error {
	return VerifyBundle(bytes.NewReader(b), int64(len(b)), key)
}

// wantMismatch fails unless err is a *MismatchError about file.
func wantMismatch(t *testing.T, err error, file string) {
	t.Helper()
	var me *MismatchError
	if !errors.As(err, &me) || !errors.Is(err, ErrBundleMismatch) {
		t.Fatalf("VerifyBundle() = %v, want a *MismatchError about %s", err, file)
	}
	if me.File != file {
		t.Fatalf("VerifyBundle() = %v, want the mismatch in %s", err, file)
	}
	if !strings.Contains(err.Error(), file) || me.Want == "" || me.Got == "" {
		t.Errorf("VerifyBundle() = %q, want the file, want and got named", err)
	}
}

func TestVerifyBundleGood(t *testing.T) {
	for _, c := range bundleCases {
		t.Run(c.name, func(t *testing.T) {
			raw, b, _ := buildCase(t, c)
			for _, key := range []string{"", BundleKey(sha256Hex(raw), 1), BundleKey(sha256Hex(raw), 7)} {
				if err := verifyBytes(b, key); err != nil {
					t.Errorf("VerifyBundle(key %q) = %v, want nil", key, err)
				}
			}
		})
	}
}

// TestVerifyBundleEveryEdit changes one byte of every file of every golden
// bundle, at its start, middle and end, rebuilding the ZIP with correct
// CRCs as a forger would, and wants VerifyBundle to name that file.
func TestVerifyBundleEveryEdit(t *testing.T) {
	for _, c := range bundleCases {
		_, b, _ := buildCase(t, c)
		_, files := zipEntries(t, b)
		for name, data := range files {
			if len(data) == 0 {
				continue
			}
			for _, pos := range []int{0, len(data) / 2, len(data) - 1} {
				t.Run(c.name+"/"+name, func(t *testing.T) {
					edited := rezip(t, b, func(n string, d []byte) (string, []byte, bool) {
						if n == name {
							d[pos] ^= 0x01
						}
						return n, d, true
					}, nil)
					wantMismatch(t, verifyBytes(edited, ""), name)
				})
			}
		}
	}
}

// TestVerifyBundleEveryDamagedByte flips every byte of every file's stored
// data in the ZIP itself (a disk or transfer error, CRCs left alone).
func TestVerifyBundleEveryDamagedByte(t *testing.T) {
	for _, c := range bundleCases {
		t.Run(c.name, func(t *testing.T) {
			_, b, _ := buildCase(t, c)
			zr, _ := zipEntries(t, b)
			for _, f := range zr.File {
				off, err := f.DataOffset()
				if err != nil {
					t.Fatal(err)
				}
				for i := off; i < off+int64(f.CompressedSize64); i++ {
					damaged := bytes.Clone(b)
					damaged[i] ^= 0xff
					err := verifyBytes(damaged, "")
					var me *MismatchError
					if !errors.As(err, &me) || me.File != f.Name {
						t.Fatalf("VerifyBundle(byte %d of %s flipped) = %v, want a mismatch in %s", i-off, f.Name, err, f.Name)
					}
				}
			}
		})
	}
}

// TestVerifyBundleDeflated checks that the verifier does not depend on the
// method bundles are written with today: a Deflate bundle verifies, and
// damage to its compressed bytes is caught.
func TestVerifyBundleDeflated(t *testing.T) {
	raw := []byte(mustRead(t, "testdata/bundle/forwarded.eml"))
	var buf bytes.Buffer
	deflate := func(string) uint16 { return zip.Deflate }
	if _, err := writeBundle(t.Context(), &buf, &BundleInput{
		Raw: bytes.NewReader(raw), RawSize: int64(len(raw)), Facts: bundleCases[1].facts(t, raw),
	}, deflate, nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if err := verifyBytes(b, BundleKey(sha256Hex(raw), 1)); err != nil {
		t.Fatalf("VerifyBundle(deflated) = %v", err)
	}
	zr, _ := zipEntries(t, b)
	for _, f := range zr.File {
		if f.Method != zip.Deflate {
			t.Fatalf("%s method = %d, want Deflate", f.Name, f.Method)
		}
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		for i := off; i < off+int64(f.CompressedSize64); i++ {
			damaged := bytes.Clone(b)
			damaged[i] ^= 0xff
			if err := verifyBytes(damaged, ""); err == nil || !strings.Contains(err.Error(), f.Name) {
				t.Fatalf("VerifyBundle(byte %d of deflated %s flipped) = %v, want an error naming it", i-off, f.Name, err)
			}
		}
	}
}

func TestVerifyBundleStructure(t *testing.T) {
	c := bundleCases[1] // forwarded: it has every kind of file
	raw, b, _ := buildCase(t, c)
	otherSHA := sha256Hex([]byte("another message"))
	tests := []struct {
		name     string
		bundle   []byte
		key      string
		wantFile string // a *MismatchError about this file; "" for another error
		wantErr  string
	}{
		{
			name:     "file added",
			bundle:   rezip(t, b, nil, map[string][]byte{"invoice.exe": []byte("MZ")}),
			wantFile: "invoice.exe",
		},
		{
			name: "file removed",
			bundle: rezip(t, b, func(n string, d []byte) (string, []byte, bool) {
				return n, d, n != OriginalName(1)
			}, nil),
			wantFile: OriginalName(1),
		},
		{
			name: "file renamed",
			bundle: rezip(t, b, func(n string, d []byte) (string, []byte, bool) {
				if n == BodyName {
					n = "../body.txt"
				}
				return n, d, true
			}, nil),
			wantFile: BodyName,
		},
		{
			name:     "duplicate name",
			bundle:   rezip(t, b, nil, map[string][]byte{BodyName: []byte("Customer mail attached, ticket 88231.\r\n")}),
			wantFile: BodyName,
		},
		{
			name:     "key names another message",
			bundle:   b,
			key:      BundleKey(otherSHA, 1),
			wantFile: MessageName,
		},
		{
			name:    "malformed key",
			bundle:  b,
			key:     "bundles/x/1.zip",
			wantErr: "bundle key",
		},
		{
			name:    "not a zip",
			bundle:  raw,
			wantErr: "not a bundle",
		},
		{
			name:    "empty",
			bundle:  nil,
			wantErr: "not a bundle",
		},
		{
			name: "manifest missing",
			bundle: rezip(t, b, func(n string, d []byte) (string, []byte, bool) {
				return n, d, n != ManifestName
			}, nil),
			wantErr: "manifest.json missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyBytes(tt.bundle, tt.key)
			if tt.wantFile != "" {
				wantMismatch(t, err, tt.wantFile)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("VerifyBundle() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestVerifyBundleRewrittenManifest is a forger who also rewrites the
// manifest and its digest: consistent inside, so only the key (the raw
// message's SHA-256 kept outside the bundle) catches the changed message.
func TestVerifyBundleRewrittenManifest(t *testing.T) {
	raw, b, m := buildCase(t, bundleCases[0])
	forged := bytes.Replace(raw, []byte("08:00 to"), []byte("09:00 to"), 1)
	m.Raw = FileDigest{Size: int64(len(forged)), SHA256: sha256Hex(forged)}
	for i := range m.Files {
		if m.Files[i].Name == MessageName {
			m.Files[i].Size, m.Files[i].SHA256 = m.Raw.Size, m.Raw.SHA256
		}
	}
	mb, err := encodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	edited := rezip(t, b, func(n string, d []byte) (string, []byte, bool) {
		switch n {
		case MessageName:
			return n, forged, true
		case ManifestName:
			return n, mb, true
		}
		return n, d, true
	}, nil)
	// The comment still holds the old manifest's digest.
	wantMismatch(t, verifyBytes(edited, ""), ManifestName)

	zr, _ := zipEntries(t, edited)
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	zw.SetComment(manifestComment(ManifestSchema, mb))
	zw.Close()
	if err := verifyBytes(out.Bytes(), ""); err != nil {
		t.Fatalf("VerifyBundle(consistent forgery, no key) = %v; the test forgery is not consistent", err)
	}
	wantMismatch(t, verifyBytes(out.Bytes(), BundleKey(sha256Hex(raw), 1)), MessageName)
}

func TestReadManifest(t *testing.T) {
	_, b, want := buildCase(t, bundleCases[2])
	got, err := ReadManifest(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("ReadManifest() error = %v", err)
	}
	if got.Message.Subject != want.Message.Subject || got.Raw != want.Raw || len(got.Attachments) != 1 {
		t.Errorf("ReadManifest() = %+v, want %+v", got, want)
	}
	newer := rezip(t, b, func(n string, d []byte) (string, []byte, bool) {
		if n == ManifestName {
			d = bytes.Replace(d, []byte(ManifestSchema), []byte("claimtrail.bundle/v3"), 1)
		}
		return n, d, true
	}, nil)
	if _, err := ReadManifest(bytes.NewReader(newer), int64(len(newer))); err == nil || !strings.Contains(err.Error(), "newer claimtrail") {
		t.Errorf("ReadManifest(v3) error = %v, want one asking for a newer claimtrail", err)
	}
}

// FuzzVerifyBundle feeds arbitrary bytes, seeded with the golden bundles,
// to VerifyBundle, ReadManifest and Extract: an error is fine, a panic or a
// file outside the target directory is not.
func FuzzVerifyBundle(f *testing.F) {
	for _, c := range bundleCases {
		raw, b, _ := buildCase(f, c)
		f.Add(b, BundleKey(sha256Hex(raw), 1))
	}
	f.Add([]byte("PK\x05\x06"+strings.Repeat("\x00", 18)), "")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		err := verifyBytes(b, key)
		if _, rerr := ReadManifest(bytes.NewReader(b), int64(len(b))); rerr != nil && err == nil {
			t.Fatalf("VerifyBundle() = nil but ReadManifest() = %v", rerr)
		}
		dir := t.TempDir()
		names, _ := Extract(bytes.NewReader(b), int64(len(b)), dir)
		checkExtracted(t, dir, names)
	})
}

// withManifest returns bundle b with its manifest replaced by what edit
// makes of it, encoded canonically under schema, and a ZIP comment of
// schema whose digest matches: a bundle as a writer of schema would have
// made it.
func withManifest(t *testing.T, b []byte, schema string, edit func(*Manifest)) []byte {
	t.Helper()
	m, err := ReadManifest(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	mb, err := encodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	out := rezip(t, b, func(n string, d []byte) (string, []byte, bool) {
		if n == ManifestName {
			d = mb
		}
		return n, d, true
	}, nil)
	// The comment ends the ZIP, after its 2-byte length; every comment
	// here has the same length, so it is replaced in place.
	comment := manifestComment(schema, mb)
	if len(schema) != len(ManifestSchema) || !bytes.HasSuffix(out[:len(out)-64], []byte(ManifestSchema+commentSuffix)) {
		t.Fatalf("unexpected ZIP comment layout")
	}
	return append(out[:len(out)-len(comment)], comment...)
}

// TestVerifyV1Bundle: bundles written before schema v2 still verify and
// read; a v1 manifest carrying v2 fields, or a comment naming another
// schema than the manifest, does not.
func TestVerifyV1Bundle(t *testing.T) {
	raw, b, _ := buildCase(t, bundleCases[0])
	key := BundleKey(sha256Hex(raw), 1)
	asV1 := func(m *Manifest) {
		m.Schema = manifestSchemaV1
		m.Message.Authors, m.Message.FromFields, m.Message.Automation, m.Message.ReportType, m.Message.TooComplex = nil, 0, nil, "", false
		for i := range m.Originals {
			m.Originals[i].Automation, m.Originals[i].ReportType = nil, ""
		}
	}
	v1 := withManifest(t, b, manifestSchemaV1, asV1)
	if err := verifyBytes(v1, key); err != nil {
		t.Fatalf("VerifyBundle(v1 bundle) = %v, want nil", err)
	}
	if m, err := ReadManifest(bytes.NewReader(v1), int64(len(v1))); err != nil || m.Schema != manifestSchemaV1 {
		t.Errorf("ReadManifest(v1 bundle) = schema %v, %v; want %s", m, err, manifestSchemaV1)
	}

	withAuthors := withManifest(t, b, manifestSchemaV1, func(m *Manifest) {
		asV1(m)
		m.Message.Authors = []string{"jane@contoso.com"}
	})
	if err := verifyBytes(withAuthors, key); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("VerifyBundle(v1 manifest with authors) = %v, want damaged", err)
	}

	v2CommentV1 := withManifest(t, b, manifestSchemaV1, func(*Manifest) {})
	wantMismatch(t, verifyBytes(v2CommentV1, key), ManifestName)
}
