package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
)

// ReplicaConfig is the replica section: how the replicas of claimtrail run
// that share one ledger and one store split the mailbox folders and the
// once-per-installation jobs (reminders, anchoring: jobs.go) between them.
// Each is polled or run by the replica holding its lease in the ledger;
// when that replica dies, another takes over within lease_ttl +
// lease_retry. Replicas need clocks kept in step (NTP).
type ReplicaConfig struct {
	// ID names this replica in the leases, the logs and the audit trail;
	// default host name, process ID and a random suffix. A fixed ID per
	// replica lets a restarted one take its leases back at once instead
	// of waiting for them to expire; two running replicas must never
	// share one.
	ID string `yaml:"id"`
	// LeaseTTL is how long a folder's or a job's lease lasts unless
	// renewed (every third of it); default 20s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// LeaseRetry is how often a replica tries the leases of the folders
	// and jobs another one holds; default 5s.
	LeaseRetry time.Duration `yaml:"lease_retry"`
}

// WithDefaults fills in the defaults, except ID (see replicaID).
func (r ReplicaConfig) WithDefaults() ReplicaConfig {
	if r.LeaseTTL == 0 {
		r.LeaseTTL = ingest.DefaultLeaseTTL
	}
	if r.LeaseRetry == 0 {
		r.LeaseRetry = ingest.DefaultLeaseRetry
	}
	return r
}

// validate reports the section's bad keys through bad.
func (r ReplicaConfig) validate(bad func(key, format string, args ...any)) {
	if r.ID != "" && (strings.TrimSpace(r.ID) != r.ID || strings.ContainsAny(r.ID, "\r\n\x00") || len(r.ID) > 200) {
		bad("replica.id", "%q: give a name without surrounding blanks or line breaks, up to 200 bytes (e.g. the host name), or leave it out for host-pid-random", r.ID)
	}
	r = r.WithDefaults()
	if r.LeaseTTL < time.Second {
		bad("replica.lease_ttl", "%s: give at least 1s (default %s)", r.LeaseTTL, ingest.DefaultLeaseTTL)
	}
	if r.LeaseRetry <= 0 {
		bad("replica.lease_retry", "%s: give a positive duration (default %s)", r.LeaseRetry, ingest.DefaultLeaseRetry)
	}
}

// replicaID is id, or when empty this process's own: host name, process
// ID and a random suffix, so that a restart on the same host (same PID in
// a container) is a new replica.
func replicaID(id string) string {
	if id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "claimtrail"
	}
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
