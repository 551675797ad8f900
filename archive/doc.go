// Package archive keeps claimtrail's durable state: evidence bundles in an
// object store (a local directory or MinIO, both write-once), the ledger of
// messages and claims (SQLite, or PostgreSQL), and the hash-chained audit
// trail.
//
// What a claim means (its lifecycle, checklist, deadline, late evidence)
// is package claims'; archive stores and loads claims and asks claims
// before every change it writes.
package archive
