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
