package archivetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// PostgresServer is a private PostgreSQL cluster that the tests of one
// test binary share: it listens on 127.0.0.1 only, on a random port, with
// a random password, and keeps its data in a temporary directory. Each test
// gets a database of its own from NewDatabase.
type PostgresServer struct {
	Addr     string // host:port
	User     string
	Password string

	dir  string // removed by StopPostgres
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster has exited
	log  string
}

var (
	pgMu     sync.Mutex
	pgShared *PostgresServer
	pgErr    error
)

// postgresStartTimeout bounds initdb plus the server's start on a busy
// two-core machine.
const postgresStartTimeout = 90 * time.Second

// StartPostgres returns the test binary's PostgreSQL cluster, starting it on
// first use: initdb and pg_ctl's postgres from $CLAIMTRAIL_POSTGRES (the
// directory holding them; scripts/servers.sh's ensure_postgres sets it),
// else from $PATH, else from Debian's /usr/lib/postgresql/NN/bin. Without
// them the test is skipped, or fails when $CI is "true". As root, the
// cluster runs as the postgres system user, since PostgreSQL refuses root.
//
// The cluster outlives the test: call StopPostgres from TestMain after
// m.Run. Should the binary die first, the postmaster dies with it
// (Pdeathsig), leaving only its temporary directory behind.
func StartPostgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgShared == nil && pgErr == nil {
		pgShared, pgErr = startPostgres()
	}
	if pgErr != nil {
		var missing *missingPostgresError
		if errors.As(pgErr, &missing) && os.Getenv("CI") != "true" {
			tb.Skipf("PostgreSQL server: %v", pgErr)
		}
		tb.Fatalf("PostgreSQL server: %v", pgErr)
	}
	return pgShared
}

// StopPostgres stops the shared cluster, if one was started, and removes
// its directory. TestMain calls it after m.Run.
func StopPostgres() {
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgShared != nil {
		pgShared.stop()
		pgShared = nil
	}
}

// NewDatabase creates an empty database for the test, dropped when the
// test ends, and returns its DSN.
func (s *PostgresServer) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := "ct_" + strings.ToLower(rand.Text())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.admin(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	// Registered before the test's own cleanups, so it runs after them
	// (a ledger closed first); FORCE ends connections left open.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.admin(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

// DSN returns the URL of database name on this server.
func (s *PostgresServer) DSN(name string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.User, s.Password), Host: s.Addr, Path: "/" + name,
		RawQuery: "sslmode=disable"}
	return u.String()
}

func (s *PostgresServer) admin(ctx context.Context, stmt string) error {
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// missingPostgresError says the binaries are not installed: a skip, not a
// failure, outside CI.
type missingPostgresError struct{ msg string }

func (e *missingPostgresError) Error() string { return e.msg }

// findPostgres returns the directory holding initdb and postgres.
func findPostgres() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("CLAIMTRAIL_POSTGRES"); d != "" {
		if !has(d) {
			return "", &missingPostgresError{fmt.Sprintf("CLAIMTRAIL_POSTGRES=%s holds no initdb and postgres", d)}
		}
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // the newest first
		if has(dirs[i]) {
			return dirs[i], nil
		}
	}
	return "", &missingPostgresError{"no initdb and postgres in $CLAIMTRAIL_POSTGRES, $PATH or /usr/lib/postgresql/*/bin; " +
		"install them with: . scripts/servers.sh; ensure_postgres"}
}

// runAs returns the credential the server's programs run under: the
// postgres system user when we are root, else nil (ourselves).
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, &missingPostgresError{"running as root, and PostgreSQL refuses root: no postgres system user (" + err.Error() + ")"}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user: uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func startPostgres() (_ *PostgresServer, err error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	removeStaleClusters()
	dir, err := os.MkdirTemp("", "claimtrail-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	s := &PostgresServer{User: "claimtrail", Password: rand.Text(), dir: dir, log: filepath.Join(dir, "postgres.log")}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		// The postgres user must reach the directory and own what it writes.
		for _, p := range []string{dir, pwfile} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "--pwfile", pwfile,
		"--auth", "scram-sha-256", "--no-locale", "--encoding", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, tail(out))
	}
	// Only TCP from 127.0.0.1, with the password.
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"),
		[]byte("host all all 127.0.0.1/32 scram-sha-256\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		os.Chown(filepath.Join(data, "pg_hba.conf"), int(cred.Uid), int(cred.Gid))
	}
	// A port found free can be taken before the server binds it: try again.
	for attempt := 1; ; attempt++ {
		s.Addr = freePostgresAddr()
		err = s.start(bin, data, cred)
		if err == nil {
			return s, nil
		}
		if attempt == 3 {
			return nil, err
		}
	}
}

// removeStaleClusters removes the directories of clusters whose test
// binary was killed before StopPostgres: an hour old, and no postmaster
// alive in them. Pdeathsig stopped their servers; their files stay.
func removeStaleClusters() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "claimtrail-pg-*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
				if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
					continue // still running, perhaps as another user
				}
			}
		}
		os.RemoveAll(d)
	}
}

func freePostgresAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the postmaster itself rather than pg_ctl start, which would
// detach it: as our child it gets Pdeathsig, so that no server outlives a
// test binary that dies before StopPostgres.
func (s *PostgresServer) start(bin, data string, cred *syscall.Credential) error {
	_, port, _ := net.SplitHostPort(s.Addr)
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// fsync off: the cluster is thrown away, and the disk is shared.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+port, "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		s.stopServer()
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(postgresStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("postgres exited during startup: %s", tail(b))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopServer()
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("postgres not ready after %v: %v: %s", postgresStartTimeout, err, tail(b))
		}
	}
}

// stopServer ends the postmaster: SIGQUIT is an immediate shutdown, fine
// for a cluster about to be deleted.
func (s *PostgresServer) stopServer() {
	if s.cmd == nil {
		return
	}
	stopProcess(s.cmd, s.done, syscall.SIGQUIT)
	s.cmd = nil
}

func (s *PostgresServer) stop() {
	s.stopServer()
	os.RemoveAll(s.dir)
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}
