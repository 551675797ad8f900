// Package ingest brings mail in: IMAP mailboxes and local files (.eml,
// Maildir, mbox), per-folder checkpoints, and the poll loop that hands each
// raw message to the evidence pipeline exactly once.
package ingest
