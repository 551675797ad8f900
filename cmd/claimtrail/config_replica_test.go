package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReplicaConfig(t *testing.T) {
	tests := []struct {
		name    string
		section string
		env     map[string]string
		want    ReplicaConfig // after WithDefaults
		wantErr string
	}{
		{name: "absent: the defaults", want: ReplicaConfig{LeaseTTL: 20 * time.Second, LeaseRetry: 5 * time.Second}},
		{name: "set", section: "replica:\n  id: claims-1\n  lease_ttl: 30s\n  lease_retry: 2s\n",
			want: ReplicaConfig{ID: "claims-1", LeaseTTL: 30 * time.Second, LeaseRetry: 2 * time.Second}},
		{name: "from the environment", env: map[string]string{"CLAIMTRAIL_REPLICA_ID": "claims-2", "CLAIMTRAIL_REPLICA_LEASE_TTL": "1m"},
			want: ReplicaConfig{ID: "claims-2", LeaseTTL: time.Minute, LeaseRetry: 5 * time.Second}},
		{name: "ttl too short", section: "replica:\n  lease_ttl: 500ms\n",
			wantErr: "cfg/config.yaml:9: replica.lease_ttl: 500ms: give at least 1s (default 20s)"},
		{name: "negative retry", section: "replica:\n  lease_retry: -1s\n",
			wantErr: "cfg/config.yaml:9: replica.lease_retry: -1s: give a positive duration (default 5s)"},
		{name: "id with blanks", section: "replica:\n  id: ' claims-1'\n",
			wantErr: `cfg/config.yaml:9: replica.id: " claims-1": give a name without surrounding blanks`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant+tt.section), &loader{lookupEnv: fakeEnv(tt.env), readFile: fakeFS(nil)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Replica.WithDefaults(); got != tt.want {
				t.Errorf("replica = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReplicaID(t *testing.T) {
	if got := replicaID("claims-1"); got != "claims-1" {
		t.Errorf("replicaID(claims-1) = %q, want it kept", got)
	}
	host, _ := os.Hostname()
	a, b := replicaID(""), replicaID("")
	if a == b || !strings.HasPrefix(a, host+"-") || !strings.Contains(a, "-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("replicaID(\"\") = %q, then %q; want host-pid-random, different each time", a, b)
	}
}
