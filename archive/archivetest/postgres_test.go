package archivetest

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopPostgres()
	os.Exit(code)
}

// TestStartPostgres checks the shared cluster: each test database is its
// own and empty, a wrong password is refused, and the server answers on
// 127.0.0.1 only.
func TestStartPostgres(t *testing.T) {
	ctx := context.Background()
	s := StartPostgres(t)
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %s, want 127.0.0.1:port", s.Addr)
	}
	dsnA, dsnB := s.NewDatabase(t), s.NewDatabase(t)
	if dsnA == dsnB {
		t.Fatalf("NewDatabase twice = %s both times", dsnA)
	}
	a, err := sql.Open("pgx", dsnA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.ExecContext(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatalf("create table in %s: %v", dsnA, err)
	}
	b, err := sql.Open("pgx", dsnB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n int
	if err := b.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the other database holds %d tables t (err %v), want 0", n, err)
	}
	if StartPostgres(t) != s {
		t.Errorf("StartPostgres started a second cluster")
	}

	wrong := *s
	wrong.Password = "not-" + s.Password
	w, err := sql.Open("pgx", wrong.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("connect with a wrong password = %v, want a password authentication failure", err)
	}
}
