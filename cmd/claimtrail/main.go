// Command claimtrail collects and keeps the evidence for Microsoft CSP
// SLA-credit claims: it polls a partner mailbox, judges each customer email,
// stores it as a write-once evidence bundle and tracks each claim.
//
// Usage:
//
//	claimtrail <command> [flags] [args]
//
// Run "claimtrail help" for the list of commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/claimtrail/claimtrail/evidence"
)

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1 // the work could not be done (a file unreadable, a store down)
	exitUsage = 2 // bad flags, arguments or configuration
)

// command is one subcommand: it parses its own flags from args and returns
// the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) int
}

// env is what every subcommand gets from main: its streams.
type env struct {
	stdout io.Writer
	stderr io.Writer
	// parse tunes inspect's parse; nil means the defaults. Tests lift the
	// time budget, to judge what the structural bounds read whatever the
	// machine's load.
	parse *evidence.ParseOptions
}

func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "claimtrail: "+format+"\n", args...)
}

// commands is the table of subcommands; each lives in its own file.
var commands = map[string]command{
	"version":   {"print the version of claimtrail and its rules", runVersion},
	"inspect":   {"judge .eml files and print the verdicts", runInspect},
	"bundle":    {"verify, extract or fetch an evidence bundle", runBundle},
	"serve":     {"serve the analysts' web app and JSON API", runServe},
	"users":     {"manage the web app's users and API tokens", runUsers},
	"claims":    {"list, inspect, complete and package SLA-credit claims", runClaims},
	"tenants":   {"import Partner Center's customer list; list the tenants", runTenants},
	"audit":     {"verify, export or anchor the audit trail", runAudit},
	"demo":      {"try claimtrail end to end: a seeded mailbox, the poller and the web app", runDemo},
	"run":       {"poll the mailboxes, judge and store the evidence, serve the web app", runRun},
	"import":    {"judge and store mail from .eml files, mboxes and Maildirs", runImport},
	"incidents": {"import, sync, list and show Service Health incidents", runIncidents},
	"reprocess": {"judge stored mail again after the tenant registry changed", runReprocess},
	"ledger":    {"copy a ledger into a new one (another file or engine)", runLedger},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		e.errorf("unknown command %q; run \"claimtrail help\" for the list", args[0])
		return exitUsage
	}
	return cmd.run(ctx, e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: claimtrail <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun \"claimtrail <command> -h\" for a command's flags.")
}
