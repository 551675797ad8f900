// Package claims is the SLA-credit claim as Partner Center knows it: its
// lifecycle and the status changes it allows, the checklist of what a claim
// must carry and when it is ready, whether it can earn credit at all
// (Eligibility), which date its deadline counts from and how many days are
// left, which evidence came late, Microsoft's Service Health record of the
// incident, and the text for Partner Center's Details box.
//
// Like rules, it does no I/O and imports nothing of ours but rules: archive
// stores and loads claims, web and the CLI show them, and all of them ask
// this package what a claim means.
package claims
