package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// StoreConfig chooses and configures the object store; it is the `store`
// part of claimtrail's configuration file. The zero value is a directory
// store under ./data (see WithDefaults).
type StoreConfig struct {
	Store string `yaml:"store"` // "dir" (default) or "minio"
	Dir   string `yaml:"dir"`   // the directory store's root

	// MinIO (or another S3 server with object locking).
	Endpoint  string `yaml:"endpoint"` // host:port, without a scheme
	Bucket    string `yaml:"bucket"`   // created with object locking if missing
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"` // secret: never printed, see String
	TLS       bool   `yaml:"tls"`
	Region    string `yaml:"region"`
	// RetentionDays locks every new object against deletion for this many
	// days; 0 sets no retention (legal holds still work).
	RetentionDays int `yaml:"retention_days"`
	// RetentionMode is "governance" (default: users with the bypass
	// permission may still delete) or "compliance" (nobody may, not even
	// the root user, until the days are over).
	RetentionMode string `yaml:"retention_mode"`
}

// Defaults applied by WithDefaults.
const (
	DefaultStoreDir      = "data/objects"
	DefaultBucket        = "claimtrail-evidence"
	DefaultRetentionMode = "governance"
	maxRetentionDays     = 100 * 365
)

// WithDefaults returns c with empty fields set to their defaults.
func (c StoreConfig) WithDefaults() StoreConfig {
	if c.Store == "" {
		c.Store = "dir"
	}
	c.Store = strings.ToLower(c.Store)
	if c.Dir == "" {
		c.Dir = DefaultStoreDir
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.RetentionMode == "" && c.RetentionDays > 0 {
		c.RetentionMode = DefaultRetentionMode
	}
	c.RetentionMode = strings.ToLower(c.RetentionMode)
	return c
}

// Validate checks c with its defaults applied and names each bad key in
// the error; keys of the store not chosen are not checked.
func (c StoreConfig) Validate() error {
	c = c.WithDefaults()
	switch c.Store {
	case "dir":
		return nil // Dir is not empty after defaults; OpenDir says if it is unusable
	case "minio":
		return c.validateMinIO()
	}
	return fmt.Errorf("store: %q is not a store; use \"dir\" or \"minio\"", c.Store)
}

func (c StoreConfig) validateMinIO() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.Endpoint == "":
		bad("endpoint: missing; set the MinIO server's host:port, e.g. 127.0.0.1:9000")
	case strings.Contains(c.Endpoint, "://"):
		bad("endpoint: %q has a scheme; write host:port only and set tls: true for https", c.Endpoint)
	case strings.ContainsAny(c.Endpoint, "/?# "):
		bad("endpoint: %q is not host:port", c.Endpoint)
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		bad("bucket: %q: %v (3-63 lowercase letters, digits, dots and hyphens)", c.Bucket, err)
	}
	if c.AccessKey == "" {
		bad("access_key: missing")
	}
	if c.SecretKey == "" {
		bad("secret_key: missing; set it in the file, by environment or from a file")
	}
	if c.RetentionDays < 0 || c.RetentionDays > maxRetentionDays {
		bad("retention_days: %d is out of range; use 0 (no retention) to %d", c.RetentionDays, maxRetentionDays)
	}
	switch c.RetentionMode {
	case "", "governance", "compliance":
	default:
		bad("retention_mode: %q is not a mode; use \"governance\" or \"compliance\"", c.RetentionMode)
	}
	if c.RetentionMode != "" && c.RetentionDays == 0 {
		bad("retention_mode: %q is set but retention_days is 0, so nothing would be retained; set retention_days or remove retention_mode", c.RetentionMode)
	}
	return errors.Join(errs...)
}

// String describes c without its secret, so a config can be logged.
func (c StoreConfig) String() string {
	if c.SecretKey != "" {
		c.SecretKey = "<redacted>"
	}
	type plain StoreConfig // drops the methods, or Sprintf would recurse
	return fmt.Sprintf("%+v", plain(c))
}

// GoString keeps %#v from printing the secret.
func (c StoreConfig) GoString() string { return "archive.StoreConfig" + c.String() }

// LogValue keeps slog from printing the secret.
func (c StoreConfig) LogValue() slog.Value {
	secret := ""
	if c.SecretKey != "" {
		secret = "<redacted>"
	}
	return slog.GroupValue(
		slog.String("store", c.Store), slog.String("dir", c.Dir),
		slog.String("endpoint", c.Endpoint), slog.String("bucket", c.Bucket),
		slog.String("access_key", c.AccessKey), slog.String("secret_key", secret),
		slog.Bool("tls", c.TLS), slog.String("region", c.Region),
		slog.Int("retention_days", c.RetentionDays), slog.String("retention_mode", c.RetentionMode),
	)
}

// OpenStore opens the store cfg names, with defaults applied: a *Dir or a
// *MinIO. Its errors say what to change in the configuration or which
// server to start.
func OpenStore(ctx context.Context, cfg StoreConfig) (Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("archive: store config: %w", err)
	}
	if cfg.Store == "minio" {
		return OpenMinIO(ctx, cfg)
	}
	return OpenDir(cfg.Dir)
}
