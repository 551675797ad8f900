package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/web"
)

const usersUsage = `usage: claimtrail users --config FILE COMMAND ...

Manages the web app's local users, in the ledger the configuration's
ledger: section names.

commands:
  add NAME --role viewer|analyst|admin [--password-file FILE]
  passwd NAME [--password-file FILE] [--keep-tokens]
                                         set a new password; ends the user's sessions
                                         and revokes their API tokens unless --keep-tokens
  role NAME viewer|analyst|admin         change a user's role
  remove NAME                            remove a user, their sessions and tokens
  list                                   list users and their API tokens (scope,
                                         expiry, last use)
  token NAME [--label TEXT] [--read-only] [--ttl 90d]
                                         make an API token; it is shown once. It
                                         expires after --ttl, else web.token_ttl
                                         (90 days by default); --read-only may
                                         read but not change anything
  revoke ID                              revoke an API token

Passwords are never taken from the command line, where other users of the
machine could see them: they are read from --password-file, else from
standard input when it is not a terminal (one line), else prompted for
twice without echo. Roles: a viewer reads and downloads, an analyst also
edits claims and works the triage queue, an admin also manages tenants.

flags:
`

// Where users reads passwords from; tests replace them.
var (
	usersStdin    io.Reader = os.Stdin
	stdinTerminal           = func() (int, bool) { fd := int(os.Stdin.Fd()); return fd, term.IsTerminal(fd) }
)

func runUsers(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "users", usersUsage)
	configPath := fs.String("config", "", "the configuration `file`, whose ledger: section is used")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	sfs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	sfs.SetOutput(e.stderr)
	sfs.StringVar(configPath, "config", *configPath, "the configuration `file`, whose ledger: section is used")
	var role, passwordFile, label, ttl *string
	var keepTokens, readOnly *bool
	nargs := 1
	switch sub {
	case "add":
		role = sfs.String("role", "", "the user's `role`: viewer, analyst or admin")
		passwordFile = sfs.String("password-file", "", "read the password from the first line of `file`")
	case "passwd":
		passwordFile = sfs.String("password-file", "", "read the password from the first line of `file`")
		keepTokens = sfs.Bool("keep-tokens", false, "keep the user's API tokens working (by default they are revoked)")
	case "token":
		label = sfs.String("label", "", "what the token is for, e.g. 'nightly export'")
		readOnly = sfs.Bool("read-only", false, "the token may read (GET) but change nothing")
		ttl = sfs.String("ttl", "", "how long the token works, e.g. 30d or 12h (default: web.token_ttl, else 90d)")
	case "role":
		nargs = 2
	case "list":
		nargs = 0
	case "remove", "revoke":
	default:
		e.errorf("users: unknown command %q; see claimtrail users -h", sub)
		return exitUsage
	}
	pos, code, done := parseArgs(sfs, rest)
	if done {
		return code
	}
	if len(pos) != nargs {
		e.errorf("users %s: want %d argument(s), got %d; see claimtrail users -h", sub, nargs, len(pos))
		return exitUsage
	}
	var newRole archive.Role
	var err error
	if role != nil || sub == "role" {
		r := pos[len(pos)-1]
		if role != nil {
			if r = *role; r == "" {
				e.errorf("users add: --role is missing: viewer, analyst or admin")
				return exitUsage
			}
		}
		if newRole, err = archive.ParseRole(r); err != nil {
			e.errorf("users %s: %v", sub, err)
			return exitUsage
		}
	}

	if *configPath == "" {
		e.errorf("users: --config is missing; name the configuration file whose ledger holds the users, e.g. claimtrail users --config /etc/claimtrail/config.yaml %s ...", sub)
		return exitUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	ledger, err := archive.OpenLedger(ctx, cfg.Ledger)
	if err != nil {
		e.errorf("users: %v", err)
		return exitFail
	}
	defer ledger.Close()
	act := cliActor()

	switch sub {
	case "add", "passwd":
		name, err := archive.NormalizeUserName(pos[0])
		if err != nil {
			e.errorf("users %s: %v", sub, err)
			return exitUsage
		}
		if sub == "passwd" {
			// Fail before asking for a password nobody can use.
			if _, err := ledger.User(ctx, name); err != nil {
				e.errorf("users passwd: %v", err)
				return exitFail
			}
		}
		hash, err := readPassword(e, *passwordFile)
		if err != nil {
			e.errorf("users %s: %v", sub, err)
			return exitUsage
		}
		if sub == "add" {
			if _, err = ledger.AddUser(ctx, name, newRole, hash, act); err != nil {
				e.errorf("users add: %v", err)
				return exitFail
			}
			fmt.Fprintf(e.stdout, "%s added as %s\n", name, newRole)
			break
		}
		pc, err := ledger.SetPassword(ctx, name, hash, act, archive.PasswordOptions{KeepTokens: *keepTokens})
		if err != nil {
			e.errorf("users passwd: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%s has a new password; %s ended", name, plural(int(pc.SessionsEnded), "session"))
		switch {
		case *keepTokens:
			fmt.Fprintf(e.stdout, "; %s kept working (--keep-tokens)\n", plural(pc.TokensKept, "API token"))
		case len(pc.TokensRevoked) > 0:
			fmt.Fprintf(e.stdout, "; %s revoked (%s); make new ones with claimtrail users token %s, or give --keep-tokens next time to keep them\n",
				plural(len(pc.TokensRevoked), "API token"), joinIDs(pc.TokensRevoked), name)
		default:
			fmt.Fprintf(e.stdout, "; no API tokens to revoke\n")
		}
	case "role":
		if err := ledger.SetRole(ctx, pos[0], newRole, act); err != nil {
			e.errorf("users role: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%s is now %s\n", strings.ToLower(pos[0]), newRole)
	case "remove":
		if err := ledger.RemoveUser(ctx, pos[0], act); err != nil {
			e.errorf("users remove: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%s removed\n", strings.ToLower(pos[0]))
	case "list":
		return listUsers(ctx, e, ledger)
	case "token":
		opts := archive.APITokenOptions{TTL: cfg.Web.APITokenTTL(), ReadOnly: *readOnly}
		if *ttl != "" {
			if opts.TTL, err = web.ParseTokenTTL(*ttl); err != nil {
				e.errorf("users token: --ttl: %v", err)
				return exitUsage
			}
		}
		token, t, err := ledger.CreateAPIToken(ctx, pos[0], *label, act, opts)
		if err != nil {
			e.errorf("users token: %v", err)
			return exitFail
		}
		scope := "with " + t.User + "'s role"
		if t.ReadOnly {
			scope = "read-only"
		}
		fmt.Fprintf(e.stderr, "API token %d for %s, %s, expires %s; it is shown once, store it now. Use it as 'Authorization: Bearer <token>'.\n",
			t.ID, t.User, scope, fmtUTC(t.ExpiresAt))
		fmt.Fprintln(e.stdout, token)
	case "revoke":
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			e.errorf("users revoke: %q is not a token ID; see claimtrail users list", pos[0])
			return exitUsage
		}
		if err := ledger.RevokeAPIToken(ctx, id, act); err != nil {
			e.errorf("users revoke: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "API token %d revoked\n", id)
	}
	return exitOK
}

func listUsers(ctx context.Context, e *env, ledger *archive.Ledger) int {
	users, err := ledger.Users(ctx)
	if err != nil {
		e.errorf("users list: %v", err)
		return exitFail
	}
	tokens, err := ledger.APITokens(ctx, "")
	if err != nil {
		e.errorf("users list: %v", err)
		return exitFail
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLE\tCREATED\tCHANGED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, fmtUTC(u.CreatedAt), fmtUTC(u.UpdatedAt))
	}
	if len(tokens) > 0 {
		now := time.Now()
		fmt.Fprintln(tw, "\nTOKEN ID\tUSER\tLABEL\tSCOPE\tCREATED\tEXPIRES\tLAST USED")
		for _, t := range tokens {
			last := "never"
			if !t.LastUsedAt.IsZero() {
				last = fmtUTC(t.LastUsedAt)
			}
			scope := "full"
			if t.ReadOnly {
				scope = "read-only"
			}
			expires := fmtUTC(t.ExpiresAt)
			switch {
			case t.ExpiresAt.IsZero():
				expires = "never (made before expiry; replace it)"
			case t.Expired(now):
				expires = "EXPIRED " + expires
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Label, scope, fmtUTC(t.CreatedAt), expires, last)
		}
	}
	if err := tw.Flush(); err != nil {
		e.errorf("users list: %v", err)
		return exitFail
	}
	return exitOK
}

// fmtUTC formats a time as everywhere in claimtrail: 2026-11-21 05:27 UTC.
func fmtUTC(t time.Time) string { return claims.FormatTime(t) }

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return "IDs " + strings.Join(s, ", ")
}

// cliActor names the person at the terminal in the audit trail: every
// command that changes the ledger records its changes under it. A
// variable so that tests can name someone.
var cliActor = func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// readPassword reads a new password as usersUsage describes and hashes it.
func readPassword(e *env, file string) (archive.PasswordHash, error) {
	var pw string
	switch fd, tty := stdinTerminal(); {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		if pw, err = firstLine(f); err != nil {
			return "", fmt.Errorf("--password-file %s: %w", file, err)
		}
	case !tty:
		var err error
		if pw, err = firstLine(usersStdin); err != nil {
			return "", fmt.Errorf("standard input: %w", err)
		}
	default:
		fmt.Fprint(e.stderr, "New password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ; try again")
		}
		pw = string(a)
	}
	return archive.HashPassword(pw)
}

// firstLine reads one line (without its line end) of at most a few KB.
func firstLine(r io.Reader) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 4096))
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", errors.New("no password: it is empty")
	}
	return strings.TrimRight(sc.Text(), "\r"), nil
}
