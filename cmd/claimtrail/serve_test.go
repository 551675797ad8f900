package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

func TestServe(t *testing.T) {
	config, db, objects := ledgerConfig(t, t.TempDir())

	code, _, errOut := runUsersCLI(t, "", "serve", "--config", config, "--listen", "127.0.0.1:0")
	if want := "claimtrail users --config " + config + " add NAME --role admin"; code != exitUsage || !strings.Contains(errOut, want) {
		t.Fatalf("serve without users = %d %q, want exit 2 telling to run %s", code, errOut, want)
	}
	if code, _, errOut := runUsersCLI(t, cliPassword, "users", "--config", config, "add", "boss", "--role", "admin"); code != exitOK {
		t.Fatalf("users add: %s", errOut)
	}

	addr := startServe(t, config)
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
	// The store is the one the archive: section names.
	if st, err := os.Stat(objects); err != nil || !st.IsDir() {
		t.Errorf("serve did not open the configured directory store %s: %v", objects, err)
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

func TestWebSection(t *testing.T) {
	tests := []struct {
		name    string
		web     string
		env     map[string]string
		wantErr string // substring; empty for success
		check   func(t *testing.T, c *Config)
	}{
		{name: "absent", check: func(t *testing.T, c *Config) {
			if got := c.Web.WithDefaults().Listen; got != "127.0.0.1:8080" {
				t.Errorf("default listen = %q", got)
			}
		}},
		{name: "set", web: "web:\n  listen: 0.0.0.0:8443\n  base_url: https://claims.adatum-csp.com\n  session_ttl: 8h\n",
			check: func(t *testing.T, c *Config) {
				if c.Web.Listen != "0.0.0.0:8443" || !c.Web.WithDefaults().SecureCookies {
					t.Errorf("web = %+v, want the listen address and secure cookies for an https base URL", c.Web)
				}
			}},
		{name: "from the environment", env: map[string]string{"CLAIMTRAIL_WEB_SECURE_COOKIES": "true"},
			check: func(t *testing.T, c *Config) {
				if !c.Web.SecureCookies {
					t.Errorf("CLAIMTRAIL_WEB_SECURE_COOKIES=true did not set web.secure_cookies")
				}
			}},
		{name: "bad ttl placed at its line", web: "web:\n  session_ttl: a day\n", wantErr: "config.yaml:9: web.session_ttl"},
		{name: "unknown key", web: "web:\n  port: 80\n", wantErr: `"port"`},
	}
	for _, tt := range tests {
		c, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant+tt.web), &loader{lookupEnv: fakeEnv(tt.env), readFile: fakeFS(nil)})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: parseConfig = %v, want an error containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: parseConfig: %v", tt.name, err)
			continue
		}
		tt.check(t, c)
	}
}
