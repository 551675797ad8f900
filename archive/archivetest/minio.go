package archivetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/claimtrail/claimtrail/archive"
)

// MinIOServer is a MinIO server that a test runs on 127.0.0.1, with a
// random port, random credentials and its data in a temporary directory.
type MinIOServer struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	DataDir   string

	tb      testing.TB
	bin     string
	console string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// minioStartTimeout bounds the wait for a ready server on a busy two-core
// machine.
const minioStartTimeout = 60 * time.Second

// StartMinIO starts a MinIO server for the test and stops it when the test
// ends. The binary is $CLAIMTRAIL_MINIO, else minio on $PATH, else
// $(go env GOPATH)/bin/minio (scripts/servers.sh builds it there). Without
// one the test is skipped, or fails when $CI is "true".
func StartMinIO(tb testing.TB) *MinIOServer {
	tb.Helper()
	bin, err := findMinIO()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("MinIO server: %v", err)
		}
		tb.Skipf("MinIO server: %v", err)
	}
	dir := tb.TempDir()
	s := &MinIOServer{
		AccessKey: "ct" + strings.ToLower(rand.Text())[:14],
		SecretKey: rand.Text(),
		DataDir:   filepath.Join(dir, "data"),
		tb:        tb,
		bin:       bin,
		logPath:   filepath.Join(dir, "minio.log"),
	}
	tb.Cleanup(s.Stop)
	// A port found free can be taken before MinIO binds it: try again.
	for attempt := 1; ; attempt++ {
		s.Endpoint, s.console = freeAddr(tb), freeAddr(tb)
		err := s.start()
		if err == nil {
			return s
		}
		if attempt == 3 {
			tb.Fatalf("start MinIO: %v", err)
		}
		tb.Logf("start MinIO (attempt %d): %v", attempt, err)
	}
}

// findMinIO looks where StartMinIO's comment says.
func findMinIO() (string, error) {
	if p := os.Getenv("CLAIMTRAIL_MINIO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CLAIMTRAIL_MINIO=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gopath, "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no minio binary in $CLAIMTRAIL_MINIO, $PATH or $GOPATH/bin; " +
		"install it with: . scripts/servers.sh; ensure_minio")
}

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the server and waits until it is live.
func (s *MinIOServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(s.bin, "server", s.DataDir,
		"--address", s.Endpoint, "--console-address", s.console,
		"--certs-dir", filepath.Join(filepath.Dir(s.DataDir), "certs"), // never the user's ~/.minio/certs
		"--quiet")
	cmd.Env = append(withoutMinIOEnv(os.Environ()),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(minioStartTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		// /minio/health/live says 200 before the object layer, IAM and
		// bucket metadata are up (S3 calls then fail with "Server not
		// initialized"); /minio/health/cluster waits for all three.
		resp, err := client.Get("http://" + s.Endpoint + "/minio/health/cluster")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("minio exited during startup: %s", s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("minio not live after %v: %s", minioStartTimeout, s.logTail())
		}
	}
}

func withoutMinIOEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}

func (s *MinIOServer) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// Stop stops the server, keeping its data, as an outage would; Start brings
// it back. Stopping a stopped server does nothing.
func (s *MinIOServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *MinIOServer) stopLocked() {
	if s.cmd == nil {
		return
	}
	stopProcess(s.cmd, s.done, syscall.SIGTERM)
	s.cmd = nil
}

// stopProcess asks a test server's process to end with sig, and kills it
// when it has not within 10 s; done is closed once it has exited.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, sig os.Signal) {
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Start starts a stopped server again on the same address, credentials and
// data, failing the test if it does not come up.
func (s *MinIOServer) Start() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("restart MinIO: %v", err)
	}
}

// NewBucket returns a bucket name no test has used on this server; the
// store creates the bucket.
func (s *MinIOServer) NewBucket() string {
	return "ct-" + strings.ToLower(rand.Text())
}

// Config returns a store configuration for bucket on this server.
func (s *MinIOServer) Config(bucket string) archive.StoreConfig {
	return archive.StoreConfig{
		Store:     "minio",
		Endpoint:  s.Endpoint,
		Bucket:    bucket,
		AccessKey: s.AccessKey,
		SecretKey: s.SecretKey,
	}
}

// Open opens a MinIO store on a new bucket with the given retention (0 and
// "" for none); the store is closed when the test ends.
func (s *MinIOServer) Open(tb testing.TB, retentionDays int, retentionMode string) *archive.MinIO {
	tb.Helper()
	cfg := s.Config(s.NewBucket())
	cfg.RetentionDays, cfg.RetentionMode = retentionDays, retentionMode
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := archive.OpenMinIO(ctx, cfg)
	if err != nil {
		tb.Fatalf("OpenMinIO(%s) = %v", cfg, err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// Client returns a minio-go client with the server's root credentials,
// for tests that check what the store did behind its back.
func (s *MinIOServer) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		tb.Fatalf("minio.New(%s) = %v", s.Endpoint, err)
	}
	return c
}
