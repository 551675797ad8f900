package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

func TestServe(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "claimtrail.db")
	objects := filepath.Join(dir, "objects")
	config := filepath.Join("..", "..", "testdata", "config.yaml")
	if _, err := os.Stat(config); err != nil {
		t.Skipf("no %s: %v", config, err)
	}

	code, _, errOut := runUsersCLI(t, "", "serve", "--config", config, "--ledger", db, "--store-dir", objects, "--listen", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(errOut, "users add") {
		t.Fatalf("serve without users = %d %q, want exit 2 telling to add a user", code, errOut)
	}
	if code, _, errOut := runUsersCLI(t, cliPassword, "users", "--ledger", db, "add", "boss", "--role", "admin"); code != exitOK {
		t.Fatalf("users add: %s", errOut)
	}

	// Serve until the context ends; read the address from the log.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: pw}, []string{"serve", "--config", config, "--ledger", db, "--store-dir", objects, "--listen", "127.0.0.1:0"})
		pw.Close()
	}()
	var addr string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if _, a, ok := strings.Cut(sc.Text(), "addr=http://"); ok {
			addr = strings.Fields(a)[0]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatalf("serve printed no address; exit %d", <-done)
	}
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/claims": 303, "/api/v1/claims": 401, "/tenants": 303} {
		resp, err := client.Get(fmt.Sprintf("http://%s%s", addr, path))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exit code after the context ended = %d, want 0", code)
	}
	// The configuration's tenants are in the registry the pages show.
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ts, err := l.Tenants(context.Background()); err != nil || len(ts) == 0 {
		t.Errorf("tenants after serve = %d (%v), want the configuration's", len(ts), err)
	}
}
