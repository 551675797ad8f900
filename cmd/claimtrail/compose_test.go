package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// docker-compose.yml cannot be run here (no Docker engine), so this checks
// what can be: that the configuration it mounts loads, and that every file
// it names exists.
func TestComposeConfigLoads(t *testing.T) {
	t.Setenv("CLAIMTRAIL_ARCHIVE_SECRET_KEY", "from-the-environment")
	cfg, err := loadConfig("compose/claimtrail.yaml")
	if err != nil {
		t.Fatalf("loadConfig(compose/claimtrail.yaml): %v", err)
	}
	if got := cfg.Archive.SecretKey; string(got) != "from-the-environment" {
		t.Errorf("archive.secret_key = %q, want it from $CLAIMTRAIL_ARCHIVE_SECRET_KEY", got)
	}
	if _, err := cfg.Policy(); err != nil {
		t.Errorf("compose configuration's policy: %v", err)
	}
	if len(cfg.Mailboxes) != 1 || cfg.Mailboxes[0].Host != "mail" {
		t.Errorf("mailboxes = %+v, want the compose file's mail service", cfg.Mailboxes)
	}

	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"minio", "mail", "claimtrail", "claimtrail-init"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no %s service", name)
		}
	}
	for name, svc := range compose.Services {
		if b := svc.Build; b != nil {
			if _, err := os.Stat(filepath.Join("../..", b.Context, b.Dockerfile)); err != nil {
				t.Errorf("service %s builds from a missing Dockerfile: %v", name, err)
			}
		}
		for _, v := range svc.Volumes {
			if src, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("../..", src)); err != nil {
					t.Errorf("service %s mounts a missing path: %v", name, err)
				}
			}
		}
	}
}

// TestComposeHAProfile checks the "ha" profile as far as can be done
// without Docker: its replicas' configuration loads with the ledger's DSN
// from the environment, and the profile has PostgreSQL and two replicas
// with IDs of their own on ports of their own.
func TestComposeHAProfile(t *testing.T) {
	t.Setenv("CLAIMTRAIL_ARCHIVE_SECRET_KEY", "from-the-environment")
	t.Setenv("CLAIMTRAIL_LEDGER_DSN", "postgres://claimtrail:pw@postgres:5432/claimtrail?sslmode=disable")
	cfg, err := loadConfig("compose/claimtrail-ha.yaml")
	if err != nil {
		t.Fatalf("loadConfig(compose/claimtrail-ha.yaml): %v", err)
	}
	if cfg.Ledger.Driver != "postgres" || cfg.Ledger.DSN == "" || cfg.Ledger.Path != "" {
		t.Errorf("ha ledger = %v, want postgres from $CLAIMTRAIL_LEDGER_DSN", cfg.Ledger)
	}
	single, err := loadConfig("compose/claimtrail.yaml")
	if err == nil {
		// The HA pair must not compete with the single service for mail or
		// share its bucket.
		if cfg.Mailboxes[0].Username == single.Mailboxes[0].Username || cfg.Archive.Bucket == single.Archive.Bucket {
			t.Errorf("the ha replicas poll %s into %s, as the single service does", cfg.Mailboxes[0].Username, cfg.Archive.Bucket)
		}
	}

	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Profiles    []string          `yaml:"profiles"`
			Command     yaml.Node         `yaml:"command"` // a string or a list
			Ports       []string          `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	ids, ports := map[string]bool{}, map[string]bool{}
	for _, name := range []string{"postgres", "replica-init", "replica-a", "replica-b"} {
		svc, ok := compose.Services[name]
		if !ok || len(svc.Profiles) != 1 || svc.Profiles[0] != "ha" {
			t.Errorf("service %s: %+v; want it in the ha profile alone", name, svc)
			continue
		}
		if !strings.HasPrefix(name, "replica-") || name == "replica-init" {
			continue
		}
		var args []string
		if err := svc.Command.Decode(&args); err != nil {
			t.Errorf("service %s: command: %v", name, err)
		}
		cmd := strings.Join(args, " ")
		if !strings.Contains(cmd, "claimtrail-ha.yaml") || !strings.Contains(cmd, "--replica-id "+name) {
			t.Errorf("service %s runs %q; want the ha configuration and --replica-id %s", name, cmd, name)
		}
		if !strings.Contains(svc.Environment["CLAIMTRAIL_LEDGER_DSN"], "@postgres:5432/") {
			t.Errorf("service %s has ledger DSN %q; want the postgres service", name, svc.Environment["CLAIMTRAIL_LEDGER_DSN"])
		}
		ids[name] = true
		for _, p := range svc.Ports {
			if ports[p] {
				t.Errorf("two replicas publish port %s", p)
			}
			ports[p] = true
		}
	}
	if len(ids) != 2 {
		t.Errorf("the ha profile has replicas %v, want replica-a and replica-b", ids)
	}
}
