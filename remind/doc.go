// Package remind reminds analysts of claims whose deadline comes near: at
// each threshold (7 and 2 days before it by default) a claim that can
// still be filed and is eligible is announced once on each configured
// channel, a JSON webhook, a Microsoft Teams card or an email, and the
// ledger records it, so that a restart sends nothing twice.
//
// The loop (Loop) runs beside the poller, never in a message's path: a
// channel that fails is retried with backoff a few times, then left for
// the next round; its failures are counted (Observer) and the first of
// each reminder is audited. The claims package decides which claims are
// due (claims.ReminderThreshold); archive finds and records them.
package remind
