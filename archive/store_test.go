package archive_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/claimtrail/claimtrail/archive"
)

func TestValidateKey(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"bundle", "bundles/" + strings.Repeat("ab", 32) + "/1.zip", true},
		{"anchor", "anchors/0000000001.json", true},
		{"one segment", "z", true},
		{"unicode", "bundles/é/ü.zip", true},
		{"dots inside", "a..b/c.d", true},
		{"longest", strings.Repeat("a/", 511) + "bc", true},
		{"longest segment", strings.Repeat("x", 255), true},
		{"empty", "", false},
		{"absolute", "/a", false},
		{"trailing slash", "a/", false},
		{"double slash", "a//b", false},
		{"dot", "a/./b", false},
		{"dot dot", "a/../b", false},
		{"leading dot dot", "../a", false},
		{"hidden", "a/.b", false},
		{"backslash", `a\b`, false},
		{"NUL", "a\x00", false},
		{"tab", "a\tb", false},
		{"DEL", "a\x7f", false},
		{"C1", "a\u009bb", false},
		{"invalid UTF-8", "a\xc3", false},
		{"replacement char", "a\ufffd", false},
		{"too long", strings.Repeat("a/", 512) + "b", false},
		{"segment too long", strings.Repeat("x", 256), false},
	} {
		err := archive.ValidateKey(tc.key)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, archive.ErrInvalidKey)) {
			t.Errorf("%s: ValidateKey(%q) = %v, want ok=%v", tc.name, tc.key, err, tc.ok)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"", true}, {"bundles/", true}, {"bundles/ab", true}, {"b", true}, {"bundles/ab/1.zip", true},
		{"/", false}, {"../", false}, {"a/../", false}, {"a//", false}, {".", false}, {"a/.", false}, {`a\`, false}, {"a\n", false},
	} {
		err := archive.ValidatePrefix(tc.prefix)
		if (err == nil) != tc.ok {
			t.Errorf("ValidatePrefix(%q) = %v, want ok=%v", tc.prefix, err, tc.ok)
		}
	}
}

// FuzzValidateKey checks that every key ValidateKey accepts stays inside a
// directory when joined to it and is a prefix List accepts.
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{"bundles/ab/1.zip", "../x", "a/./b", "a\\b", "/a", "a//b", ".x", "a\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if archive.ValidateKey(key) != nil {
			return
		}
		if !filepath.IsLocal(key) || filepath.Clean(key) != filepath.FromSlash(key) {
			t.Errorf("ValidateKey(%q) accepted a key that is not a clean local path", key)
		}
		if err := archive.ValidatePrefix(key); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v for a valid key", key, err)
		}
	})
}

func TestStoreConfigValidate(t *testing.T) {
	minio := archive.StoreConfig{Store: "minio", Endpoint: "127.0.0.1:9000", Bucket: "evidence", AccessKey: "ak", SecretKey: "sk"}
	with := func(f func(*archive.StoreConfig)) archive.StoreConfig {
		c := minio
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name    string
		cfg     archive.StoreConfig
		wantKey string // "" for valid
	}{
		{"zero value is a dir store", archive.StoreConfig{}, ""},
		{"dir ignores minio keys", archive.StoreConfig{Store: "dir", Endpoint: "http://x"}, ""},
		{"minio", minio, ""},
		{"minio upper case", with(func(c *archive.StoreConfig) { c.Store = "MinIO" }), ""},
		{"default bucket", with(func(c *archive.StoreConfig) { c.Bucket = "" }), ""},
		{"retention", with(func(c *archive.StoreConfig) { c.RetentionDays = 90; c.RetentionMode = "Compliance" }), ""},
		{"retention default mode", with(func(c *archive.StoreConfig) { c.RetentionDays = 90 }), ""},
		{"unknown store", archive.StoreConfig{Store: "s3"}, "store:"},
		{"no endpoint", with(func(c *archive.StoreConfig) { c.Endpoint = "" }), "endpoint:"},
		{"endpoint with scheme", with(func(c *archive.StoreConfig) { c.Endpoint = "https://minio:9000" }), "endpoint:"},
		{"endpoint with path", with(func(c *archive.StoreConfig) { c.Endpoint = "minio:9000/x" }), "endpoint:"},
		{"bad bucket", with(func(c *archive.StoreConfig) { c.Bucket = "Evidence_1" }), "bucket:"},
		{"no access key", with(func(c *archive.StoreConfig) { c.AccessKey = "" }), "access_key:"},
		{"no secret key", with(func(c *archive.StoreConfig) { c.SecretKey = "" }), "secret_key:"},
		{"negative days", with(func(c *archive.StoreConfig) { c.RetentionDays = -1 }), "retention_days:"},
		{"bad mode", with(func(c *archive.StoreConfig) { c.RetentionDays = 1; c.RetentionMode = "strict" }), "retention_mode:"},
		{"mode without days", with(func(c *archive.StoreConfig) { c.RetentionMode = "compliance" }), "retention_mode:"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.wantKey == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tc.name, err)
		case tc.wantKey != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantKey)):
			t.Errorf("%s: Validate() = %v, want an error naming %q", tc.name, err, tc.wantKey)
		}
	}
}

func TestStoreConfigDefaults(t *testing.T) {
	got := archive.StoreConfig{RetentionDays: 30}.WithDefaults()
	want := archive.StoreConfig{Store: "dir", Dir: "data/objects", Bucket: "claimtrail-evidence", RetentionDays: 30, RetentionMode: "governance"}
	if got != want {
		t.Errorf("WithDefaults() = %v, want %v", got, want)
	}
}

func TestStoreConfigHidesSecret(t *testing.T) {
	cfg := archive.StoreConfig{Store: "minio", AccessKey: "visible-key", SecretKey: "hunter2-secret"}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "store", cfg)
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg), logged.String()} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "visible-key") || !strings.Contains(out, "<redacted>") {
			t.Errorf("printed config %q: want the access key shown and the secret redacted", out)
		}
	}
}

// FuzzStoreConfig feeds YAML to the config and Validate: no panics, and a
// config Validate accepts names a known store.
func FuzzStoreConfig(f *testing.F) {
	for _, seed := range []string{
		"store: dir\ndir: /var/lib/claimtrail\n",
		"store: minio\nendpoint: 127.0.0.1:9000\nbucket: evidence\naccess_key: a\nsecret_key: s\nretention_days: 90\nretention_mode: compliance\n",
		"store: minio\nendpoint: http://x\nretention_days: -5\n",
		"store: [1, 2]\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var cfg archive.StoreConfig
		if yaml.Unmarshal([]byte(doc), &cfg) != nil {
			return
		}
		if cfg.Validate() == nil {
			if s := cfg.WithDefaults().Store; s != "dir" && s != "minio" {
				t.Errorf("Validate accepted store %q", s)
			}
		}
	})
}

func TestOpenStoreDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "objects")
	s, err := archive.OpenStore(context.Background(), archive.StoreConfig{Dir: dir})
	if err != nil {
		t.Fatalf("OpenStore(dir %s) = %v", dir, err)
	}
	defer s.Close()
	d, ok := s.(*archive.Dir)
	if !ok || d.Path() != dir {
		t.Errorf("OpenStore(dir %s) = %T %v, want a *archive.Dir there", dir, s, s)
	}
	if _, err := archive.OpenStore(context.Background(), archive.StoreConfig{Store: "ftp"}); err == nil || !strings.Contains(err.Error(), "store:") {
		t.Errorf("OpenStore(store ftp) = %v, want an error naming the store key", err)
	}
}

func TestDirURLNotSupported(t *testing.T) {
	d := newDir(t)
	defer d.Close()
	_, err := d.URL(context.Background(), "bundles/x", time.Minute)
	if !errors.Is(err, archive.ErrNotSupported) || !strings.Contains(err.Error(), "Get") {
		t.Errorf("Dir.URL = %v, want ErrNotSupported pointing to Get", err)
	}
}
