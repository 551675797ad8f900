// Package archive keeps claimtrail's durable state: evidence bundles in an
// object store (a local directory or MinIO, both write-once), the SQLite
// ledger of messages and claims, and the hash-chained audit trail.
package archive
