package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIO is a Store in a MinIO (S3) bucket with object locking: objects are
// created with If-None-Match: *, so never replaced, and each new object
// gets the configured retention, during which no version can be deleted.
//
// Every object is sent in one PUT carrying its SHA-256 in
// x-amz-checksum-sha256, which the server verifies before it stores
// anything, and in x-amz-meta-sha256, which Stat and Get return. One PUT,
// not multipart: minio-go v7.4.1 sends If-None-Match only when it starts a
// multipart upload, not when it completes one, so two racing uploads of a
// key would both succeed; a single PUT holds the server's lock on the key
// from the check to the commit. It streams, so memory stays small whatever
// the size.
type MinIO struct {
	client    *minio.Client
	transport *http.Transport
	endpoint  string
	bucket    string
	retention time.Duration
	mode      minio.RetentionMode
}

const (
	// sumMetaKey is sent as x-amz-meta-sha256; minio-go returns it as
	// UserMetadata["Sha256"].
	sumMetaKey = "sha256"
	// checksumHeader makes the server verify the body's SHA-256.
	checksumHeader = "x-amz-checksum-sha256"
	// spoolInMemory: non-seekable input up to this size is hashed in
	// memory before sending, larger input in a temporary file.
	spoolInMemory = 8 << 20
	// maxPresign is S3's limit on a presigned URL's lifetime.
	maxPresign = 7 * 24 * time.Hour
)

// OpenMinIO connects to the MinIO server cfg names (cfg.Store is not
// looked at) and makes sure the bucket exists with object locking,
// creating it if missing.
func OpenMinIO(ctx context.Context, cfg StoreConfig) (*MinIO, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validateMinIO(); err != nil {
		return nil, fmt.Errorf("archive: store config: %w", err)
	}
	transport, err := minio.DefaultTransport(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("archive: open minio store: %w", err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.TLS,
		Region:    cfg.Region,
		Transport: transport,
		// Lets Put name its own checksum header (see validate in minio-go).
		TrailingHeaders: true,
		// The poll loop retries whole operations; a few quick retries here
		// keep an unreachable server from stalling startup for long.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("archive: open minio store: endpoint %q: %w", cfg.Endpoint, err)
	}
	m := &MinIO{
		client:    client,
		transport: transport,
		endpoint:  cfg.Endpoint,
		bucket:    cfg.Bucket,
		retention: time.Duration(cfg.RetentionDays) * 24 * time.Hour,
		mode:      minio.RetentionMode(strings.ToUpper(cfg.RetentionMode)),
	}
	if err := m.ensureBucket(ctx, cfg.Region); err != nil {
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("archive: open minio store: %w", err)
	}
	return m, nil
}

func (m *MinIO) ensureBucket(ctx context.Context, region string) error {
	exists, err := m.client.BucketExists(ctx, m.bucket)
	if err != nil {
		return m.explain(err)
	}
	if !exists {
		err := m.client.MakeBucket(ctx, m.bucket, minio.MakeBucketOptions{Region: region, ObjectLocking: true})
		if code(err) == "BucketAlreadyOwnedByYou" {
			err = nil // another claimtrail made it meanwhile; check it below
		}
		if err != nil {
			return fmt.Errorf("create bucket %q: %w", m.bucket, m.explain(err))
		}
	}
	lock, _, _, _, err := m.client.GetObjectLockConfig(ctx, m.bucket)
	if code(err) == "ObjectLockConfigurationNotFoundError" || (err == nil && lock != "Enabled") {
		return fmt.Errorf("bucket %q on %s exists without object locking, so evidence in it could be deleted; "+
			"locking can only be chosen when a bucket is created: set bucket to a new name and claimtrail creates it locked",
			m.bucket, m.endpoint)
	}
	if err != nil {
		return fmt.Errorf("bucket %q: read its object lock configuration: %w", m.bucket, m.explain(err))
	}
	return nil
}

// explain adds to err what the user should check, for errors that mean
// the server, the bucket or the credentials are wrong rather than one
// object.
func (m *MinIO) explain(err error) error {
	switch {
	case errors.Is(classify(err), ErrUnavailable):
		return fmt.Errorf("MinIO at %s: %w (%w): check that it runs and that endpoint and tls are right", m.endpoint, err, ErrUnavailable)
	case code(err) == "NoSuchBucket":
		return fmt.Errorf("bucket %q is missing on %s (%w): check bucket, or restart claimtrail to create it", m.bucket, m.endpoint, err)
	case isDenied(err):
		return fmt.Errorf("MinIO at %s refused the request (%w): check access_key and secret_key, and that the user may use bucket %q", m.endpoint, err, m.bucket)
	}
	return err
}

// Bucket returns the bucket the store keeps its objects in.
func (m *MinIO) Bucket() string { return m.bucket }

// Put implements Store.Put (see MinIO for how).
func (m *MinIO) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	if err := checkPut(ctx, key, size, opts); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
	}
	sum := opts.SHA256
	if sum == "" {
		// The checksum header precedes the body, so learn the hash first.
		body, s, cleanup, err := hashAhead(ctx, r, size)
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
		}
		defer cleanup()
		r, sum = body, s
	}
	var in io.Reader = ctxReader{ctx, r}
	var vr *verifyingReader
	if !opts.Verified || opts.SHA256 == "" {
		vr = newVerifyingReader(in, size, sum)
		in = vr
	}
	if size == 0 && vr != nil {
		// minio-go sends no body at all for size 0: check the input here.
		if _, err := vr.drain(); err != nil {
			return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
		}
	}
	body := &handoffReader{r: in}
	info, err := m.put(ctx, key, body, size, sum, opts)
	if errors.Is(err, errKeyExists) {
		// Compare what the caller really passed, not what it claimed:
		// read the rest of the input, once the HTTP client is done with it.
		body.take()
		if vr != nil {
			if _, err := vr.drain(); err != nil {
				return ObjectInfo{}, fmt.Errorf("archive: put %s: %w", key, err)
			}
		}
		return putExisting(ctx, m, key, sum)
	}
	return info, err
}

// errKeyExists: the create-only PUT found the key taken.
var errKeyExists = errors.New("key exists")

// handoffReader lets Put take its input back from the HTTP client: when a
// server answers before reading the whole body, net/http may still be
// reading it after PutObject returns.
type handoffReader struct {
	mu    sync.Mutex
	r     io.Reader
	taken bool
}

func (h *handoffReader) Read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.taken {
		return 0, errKeyExists
	}
	return h.r.Read(p)
}

// take stops further reads through h and returns the reader it wrapped.
func (h *handoffReader) take() io.Reader {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.taken = true
	return h.r
}

// hashAhead returns the SHA-256 of the next size bytes of r and a reader
// of the same bytes: r itself rewound if it can seek, else a copy in memory
// or a temporary file, removed by cleanup.
func hashAhead(ctx context.Context, r io.Reader, size int64) (io.Reader, string, func(), error) {
	nop := func() {}
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			sum, err := newVerifyingReader(ctxReader{ctx, rs}, size, "").drain()
			if err != nil {
				return nil, "", nop, err
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, "", nop, err
			}
			return rs, sum, nop, nil
		}
	}
	vr := newVerifyingReader(ctxReader{ctx, r}, size, "")
	if size <= spoolInMemory {
		b, err := io.ReadAll(vr)
		if err != nil {
			return nil, "", nop, err
		}
		return bytes.NewReader(b), vr.Sum(), nop, nil
	}
	f, err := os.CreateTemp("", "claimtrail-put-*")
	if err != nil {
		return nil, "", nop, fmt.Errorf("spool the input: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, vr); err != nil {
		cleanup()
		return nil, "", nop, fmt.Errorf("spool the input: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, "", nop, err
	}
	return f, vr.Sum(), cleanup, nil
}

// put sends body, which must yield size bytes hashing to sum, in one
// create-only PUT.
func (m *MinIO) put(ctx context.Context, key string, body io.Reader, size int64, sum string, opts PutOptions) (ObjectInfo, error) {
	raw, _ := hex.DecodeString(sum)
	po := minio.PutObjectOptions{
		UserMetadata: map[string]string{
			sumMetaKey:     sum,
			checksumHeader: base64.StdEncoding.EncodeToString(raw),
		},
		ContentType:      opts.ContentType,
		DisableMultipart: true,
		// The checksum header protects the body; signing every 64 KiB
		// chunk as well would cost a fifth of a PUT over plain HTTP.
		DisableContentSha256: true,
	}
	po.SetMatchETagExcept("*")
	if m.retention > 0 {
		po.Mode = m.mode
		po.RetainUntilDate = time.Now().Add(m.retention).UTC()
	}
	if opts.LegalHold {
		po.LegalHold = minio.LegalHoldEnabled
	}
	_, err := m.client.PutObject(ctx, m.bucket, key, body, size, po)
	if code(err) == "PreconditionFailed" {
		return ObjectInfo{}, errKeyExists
	}
	if err != nil {
		return ObjectInfo{}, m.wrap(ctx, "put", key, err)
	}
	// The server's Last-Modified would cost a HEAD per object; the local
	// clock at completion is as good for a freshly made object.
	return ObjectInfo{Key: key, Size: size, SHA256: sum, Modified: time.Now().UTC()}, nil
}

// Get implements Store.Get.
func (m *MinIO) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("archive: get %s: %w", key, err)
	}
	obj, err := m.client.GetObject(ctx, m.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, m.wrap(ctx, "get", key, err)
	}
	st, err := obj.Stat() // sends the GET
	if err != nil {
		obj.Close()
		return nil, ObjectInfo{}, m.wrap(ctx, "get", key, err)
	}
	info := objectInfo(st)
	if info.SHA256 == "" {
		// Not written by claimtrail: learn the hash first, then reopen.
		obj.Close()
		if info, err = m.Stat(ctx, key); err != nil {
			return nil, ObjectInfo{}, err
		}
		if obj, err = m.client.GetObject(ctx, m.bucket, key, minio.GetObjectOptions{}); err != nil {
			return nil, ObjectInfo{}, m.wrap(ctx, "get", key, err)
		}
	}
	return newCheckedReadCloser(obj, key, info.SHA256), info, nil
}

// Stat implements Store.Stat.
func (m *MinIO) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: stat %s: %w", key, err)
	}
	st, err := m.client.StatObject(ctx, m.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return ObjectInfo{}, m.wrap(ctx, "stat", key, err)
	}
	info := objectInfo(st)
	if info.SHA256 == "" {
		// Written by another tool: hash it.
		obj, err := m.client.GetObject(ctx, m.bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return ObjectInfo{}, m.wrap(ctx, "stat", key, err)
		}
		defer obj.Close()
		vr := newVerifyingReader(obj, info.Size, "")
		if info.SHA256, err = vr.drain(); err != nil {
			return ObjectInfo{}, m.wrap(ctx, "stat", key, err)
		}
	}
	return info, nil
}

// objectInfo converts minio-go's description, taking the SHA-256 from our
// metadata or else from a whole-object checksum.
func objectInfo(st minio.ObjectInfo) ObjectInfo {
	info := ObjectInfo{Key: st.Key, Size: st.Size, Modified: st.LastModified}
	for k, v := range st.UserMetadata {
		if strings.EqualFold(k, sumMetaKey) {
			if _, err := decodeSHA256(v); err == nil {
				info.SHA256 = v
			}
		}
	}
	if info.SHA256 == "" && st.ChecksumSHA256 != "" && !strings.Contains(st.ChecksumSHA256, "-") {
		if raw, err := base64.StdEncoding.DecodeString(st.ChecksumSHA256); err == nil && len(raw) == 32 {
			info.SHA256 = hex.EncodeToString(raw)
		}
	}
	return info
}

// List implements Store.List.
func (m *MinIO) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ValidatePrefix(prefix); err != nil {
			yield(ObjectInfo{}, fmt.Errorf("archive: list %s: %w", prefix, err))
			return
		}
		ctx, cancel := context.WithCancel(ctx) // stops minio-go's lister if we stop early
		defer cancel()
		for o := range m.client.ListObjects(ctx, m.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				yield(ObjectInfo{}, m.wrap(ctx, "list", prefix, o.Err))
				return
			}
			if !yield(ObjectInfo{Key: o.Key, Size: o.Size, Modified: o.LastModified}, nil) {
				return
			}
		}
		// minio-go ends the channel without an error when ctx is canceled.
		if err := ctx.Err(); err != nil {
			yield(ObjectInfo{}, fmt.Errorf("archive: list %s: %w", prefix, err))
		}
	}
}

// SetLegalHold implements Store.SetLegalHold.
func (m *MinIO) SetLegalHold(ctx context.Context, key string, on bool) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("archive: legal hold %s: %w", key, err)
	}
	status := minio.LegalHoldDisabled
	if on {
		status = minio.LegalHoldEnabled
	}
	err := m.client.PutObjectLegalHold(ctx, m.bucket, key, minio.PutObjectLegalHoldOptions{Status: &status})
	if err != nil {
		return m.wrap(ctx, "legal hold", key, err)
	}
	return nil
}

// URL implements Store.URL with a presigned GET, valid for expiry (at
// most 7 days, S3's limit).
func (m *MinIO) URL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", fmt.Errorf("archive: url %s: %w", key, err)
	}
	if expiry < time.Second || expiry > maxPresign {
		return "", fmt.Errorf("archive: url %s: expiry %v is outside 1s to %v", key, expiry, maxPresign)
	}
	if _, err := m.client.StatObject(ctx, m.bucket, key, minio.StatObjectOptions{}); err != nil {
		return "", m.wrap(ctx, "url", key, err) // no URL to a missing object
	}
	u, err := m.client.PresignedGetObject(ctx, m.bucket, key, expiry, url.Values{})
	if err != nil {
		return "", m.wrap(ctx, "url", key, err)
	}
	return u.String(), nil
}

// Close implements Store.Close.
func (m *MinIO) Close() error {
	m.transport.CloseIdleConnections()
	return nil
}

// wrap names the operation and sorts err into the shared kinds.
func (m *MinIO) wrap(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return fmt.Errorf("archive: %s %s: %w", op, key, err)
		}
		return fmt.Errorf("archive: %s %s: %w (%w)", op, key, ctxErr, err)
	}
	switch kind := classify(err); {
	case kind == nil, kind == ErrUnavailable, errors.Is(err, kind):
		return fmt.Errorf("archive: %s %s: %w", op, key, m.explain(err))
	default:
		return fmt.Errorf("archive: %s %s: %w: %w", op, key, kind, err)
	}
}

// classify sorts a minio-go error into ErrNotFound, ErrCorrupt or
// ErrUnavailable (worth retrying); nil means permanent: bad credentials,
// a missing bucket, a refused request.
func classify(err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "NoSuchKey", "NoSuchVersion":
			return ErrNotFound
		case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "IncompleteBody":
			return ErrCorrupt
		case "SlowDown", "SlowDownWrite", "SlowDownRead", "ServiceUnavailable", "InternalError",
			"RequestTimeout", "RequestTimeTooSkewed", "XMinioServerNotInitialized", "XMinioStorageFull":
			return ErrUnavailable
		}
		switch {
		case resp.StatusCode == http.StatusNotFound && resp.Code == "": // HEAD has no body
			return ErrNotFound
		case resp.StatusCode >= 500:
			return ErrUnavailable
		}
		return nil
	}
	// Network trouble, not the caller's input: url.Error is a net.Error
	// too, so look for what it wraps.
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrCorrupt):
		return ErrCorrupt
	case errors.As(err, &opErr), errors.As(err, &netErr) && netErr.Timeout(),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ErrUnavailable
	}
	return nil
}

// isDenied tells the errors that mean bad credentials or missing rights.
func isDenied(err error) bool {
	switch code(err) {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return true
	}
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden
}

func code(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return ""
}
