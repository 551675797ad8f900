package archive

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRewritePlaceholders(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"none", `SELECT 1`, `SELECT 1`},
		{"in order", `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{"string literal", `SELECT '?', x FROM t WHERE y = ?`, `SELECT '?', x FROM t WHERE y = $1`},
		{"doubled quote", `SELECT 'it''s ?' WHERE y = ?`, `SELECT 'it''s ?' WHERE y = $1`},
		{"quoted identifier", `SELECT "a?b" FROM t WHERE y = ?`, `SELECT "a?b" FROM t WHERE y = $1`},
		{"line comment", "SELECT x -- why?\nFROM t WHERE y = ?", "SELECT x -- why?\nFROM t WHERE y = $1"},
		{"block comment", `SELECT /* ? */ x WHERE y = ?`, `SELECT /* ? */ x WHERE y = $1`},
		{"dollar quoted", `CREATE FUNCTION f() AS $$ SELECT '?' $$; SELECT ?`, `CREATE FUNCTION f() AS $$ SELECT '?' $$; SELECT $1`},
		{"tagged dollar", `SELECT $body$ ? $body$, ?`, `SELECT $body$ ? $body$, $1`},
		{"positional param is not a tag", `SELECT $1, ?`, `SELECT $1, $1`},
		{"unterminated literal", `SELECT '?`, `SELECT '?`},
		{"many", strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
	} {
		if got := rewritePlaceholders(tc.in); got != tc.want {
			t.Errorf("%s: rewritePlaceholders(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://ct:s3cret@db:5432/ledger?sslmode=require", "postgres://ct:<redacted>@db:5432/ledger?sslmode=require"},
		{"postgres://ct@db/ledger", "postgres://ct@db/ledger"},
		{"postgres://db/ledger?password=s3cret&user=ct", "postgres://db/ledger?password=<redacted>&user=ct"},
		{"host=db user=ct password=s3cret dbname=ledger", "host=db user=ct password=<redacted> dbname=ledger"},
		{"host=db password = 'two words' dbname=x", "host=db password = <redacted> dbname=x"},
		{"", ""},
	} {
		got := RedactDSN(tc.in)
		if strings.Contains(got, "s3cret") || strings.Contains(got, "two words") {
			t.Errorf("RedactDSN(%q) = %q: the password shows", tc.in, got)
		}
		if got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLedgerConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  LedgerConfig
		want string // in the error; "" for none
	}{
		{"default", LedgerConfig{}, ""},
		{"sqlite path", LedgerConfig{Driver: "sqlite", Path: "data/x.db"}, ""},
		{"postgres", LedgerConfig{Driver: "postgres", DSN: "postgres://ct:pw@db/ledger"}, ""},
		{"unknown driver", LedgerConfig{Driver: "mysql"}, `driver: "mysql" is not a ledger driver`},
		{"postgres without dsn", LedgerConfig{Driver: "postgres"}, "dsn: missing"},
		{"postgres with path", LedgerConfig{Driver: "postgres", DSN: "postgres://db/x", Path: "x.db"}, "path: is for driver sqlite"},
		{"sqlite with dsn", LedgerConfig{DSN: "postgres://db/x"}, "dsn: is for driver postgres"},
		{"bad dsn", LedgerConfig{Driver: "postgres", DSN: "postgres://ct:s3cret@db:notaport/x"}, "dsn: not a PostgreSQL URL"},
		{"memory", LedgerConfig{Path: ":memory:"}, "plain file name"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Validate() = %v, want an error with %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("%s: Validate() = %v: the password shows", tc.name, err)
		}
	}
}

// TestMigrationsAlike checks that both engines' migrations end at the same
// version: schema_version must mean the same schema on both.
func TestMigrationsAlike(t *testing.T) {
	lite, err := sqliteEngine.migrations()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := postgresEngine.migrations()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := lite[len(lite)-1], pg[len(pg)-1]; a.version != b.version {
		t.Errorf("SQLite's migrations end at %s, PostgreSQL's at %s: give each new migration a twin of the same number", a.name, b.name)
	}
}

// TestOpenLedgerReopens opens the test engine's ledger twice: the schema
// is at the same version on both engines, each migration applied once,
// the data kept, and Sync works.
func TestOpenLedgerReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	lite, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		l, err := OpenLedger(ctx, testLedgerConfig(t, path))
		if err != nil {
			t.Fatalf("round %d: OpenLedger: %v", round, err)
		}
		ms, err := l.eng.migrations()
		if err != nil {
			t.Fatal(err)
		}
		if v, err := l.SchemaVersion(ctx); err != nil || v != lite[len(lite)-1].version {
			t.Errorf("round %d: SchemaVersion = %d, %v; want %d on %s as on SQLite", round, v, err, lite[len(lite)-1].version, l.eng.name)
		}
		if n := countRows(t, l, `SELECT COUNT(*) FROM schema_version`); n != len(ms) {
			t.Errorf("round %d: schema_version has %d rows, want %d (a migration ran twice?)", round, n, len(ms))
		}
		if round == 1 {
			mustRecord(t, l, testRecord(1))
		} else if n := countRows(t, l, `SELECT COUNT(*) FROM messages`); n != 1 {
			t.Errorf("after reopen: %d messages, want the 1 recorded before", n)
		}
		if err := l.Sync(ctx); err != nil {
			t.Errorf("round %d: Sync: %v", round, err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("round %d: Close: %v", round, err)
		}
	}
}

// TestPostgresUnreachable opens a PostgreSQL ledger where no server
// listens: the error is ErrUnavailable (a retry may cure it) and does not
// show the DSN's password.
func TestPostgresUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = OpenLedger(ctx, LedgerConfig{Driver: DriverPostgres, DSN: "postgres://ct:s3cret-pw@" + addr + "/ledger?connect_timeout=5"})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("OpenLedger(no server) = %v, want ErrUnavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("OpenLedger(no server) = %v: the password shows", err)
	}
}

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"cancelled", context.Canceled, false},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"bad connection", driver.ErrBadConn, true},
	} {
		if got := unavailable(tc.err); got != tc.want {
			t.Errorf("unavailable(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
