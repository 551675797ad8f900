package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// startServe runs "claimtrail serve" with config on a free port until the
// test ends and returns its address.
func startServe(t *testing.T, config string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: pw}, []string{"serve", "--config", config, "--listen", "127.0.0.1:0"})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exit code after the context ended = %d, want 0", code)
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if _, a, ok := strings.Cut(sc.Text(), "addr=http://"); ok {
			go io.Copy(io.Discard, pr)
			return strings.Fields(a)[0]
		}
	}
	t.Fatal("serve printed no address")
	return ""
}

// TestConfiguredPrefixEverywhere: an incident prefix the configuration adds
// (PL: Planner in testdata/config.yaml, not a built-in one, here written
// "pl") is one
// vocabulary: inspect finds the ID, the ledger opens its claim, and the web
// app names its service.
func TestConfiguredPrefixEverywhere(t *testing.T) {
	dir := t.TempDir()
	config, _, _ := ledgerConfig(t, dir)
	// Written in lower case, as a user may: each place must read the
	// configuration as rules compiles it, not on its own.
	base, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	config = writeTemp(t, dir, "config.yaml", []byte(strings.Replace(string(base), "PL: Planner", "pl: Planner", 1)))
	mail := writeTemp(t, dir, "planner.eml", []byte("From: Jane Doe <jane@contoso.com>\r\nTo: claims@adatum-csp.com\r\n"+
		"Subject: Planner down since 9:00 (PL1234567)\r\nDate: Sun, 15 Feb 2026 09:00:00 +0000\r\nMessage-ID: <planner@contoso.com>\r\n\r\n"+
		"Our boards do not load. Please claim the credit.\r\n"))

	code, out, errOut := runCLI(t, "inspect", "--config", config, "--json", mail)
	var r inspectResult
	if code != exitOK || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("inspect = %d %q %q", code, out, errOut)
	}
	if r.Verdict != "accepted" || strings.Join(r.IncidentIDs, ",") != "PL1234567" {
		t.Errorf("inspect: %s %s %v, want accepted for PL1234567", r.Verdict, r.Reason, r.IncidentIDs)
	}

	if code, _, errOut := runCLI(t, "import", "--config", config, mail); code != exitOK {
		t.Fatalf("import: %d %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "claims", "--config", config, "list", "--json")
	if code != exitOK || !strings.Contains(out, `"incident_id":"PL1234567"`) {
		t.Fatalf("claims list after import = %d %q %q, want the PL1234567 claim", code, out, errOut)
	}

	if code, _, errOut := runUsersCLI(t, cliPassword, "users", "--config", config, "add", "anna", "--role", "analyst"); code != exitOK {
		t.Fatalf("users add: %s", errOut)
	}
	code, token, errOut := runUsersCLI(t, "", "users", "--config", config, "token", "anna")
	if code != exitOK {
		t.Fatalf("users token: %s", errOut)
	}
	addr := startServe(t, config)
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/claims", addr), nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Claims []struct {
			IncidentID string `json:"incident_id"`
			Service    string `json:"service"`
		} `json:"claims"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/claims = %d, %v", resp.StatusCode, err)
	}
	if len(list.Claims) != 1 || list.Claims[0].IncidentID != "PL1234567" || list.Claims[0].Service != "Planner" {
		t.Errorf("web claims = %+v, want PL1234567 named Planner", list.Claims)
	}
}
