package archive

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// DefaultLedgerPath is where the ledger lives when LedgerConfig.Path is empty.
const DefaultLedgerPath = "./data/claimtrail.db"

// LedgerConfig is the ledger section of claimtrail's configuration.
type LedgerConfig struct {
	// Driver is the database engine: DriverSQLite ("sqlite", the default)
	// or DriverPostgres ("postgres").
	Driver string `yaml:"driver,omitempty"`
	// Path is the SQLite database file; DefaultLedgerPath when empty. Its
	// directory is created when missing. Only for driver sqlite.
	Path string `yaml:"path,omitempty"`
	// DSN is the PostgreSQL database's URL or key=value list, for driver
	// postgres; the configuration may read it from a file (dsn_file).
	DSN string `yaml:"dsn,omitempty"`
	// Log, when set, hears of schema upgrades as they start and end: on a
	// ledger of years of mail one can take a minute.
	Log *slog.Logger `yaml:"-"`
}

// busyTimeout is how long a write waits for another process's transaction
// before giving up with ErrUnavailable. Transactions here are short (one
// message, one claim), so seconds of waiting mean something is stuck.
const busyTimeout = 10 * time.Second

// walAutocheckpointPages is the WAL's size, in pages, that makes a commit
// copy it into the database (SQLite's default is 1,000).
const walAutocheckpointPages = 10000

// Ledger is claimtrail's database, SQLite or PostgreSQL: tenants, messages
// and the state of the work on each, claims, checkpoints and the audit
// trail.
//
// A Ledger is safe for concurrent use, and several processes may open the
// same database: on SQLite writes take the database's write lock at BEGIN
// (IMMEDIATE), so they serialise instead of failing halfway, and wait up to
// busyTimeout; on PostgreSQL they take one advisory lock first, to the same
// end.
type Ledger struct {
	path string
	eng  *engine
	log  *slog.Logger // LedgerConfig.Log; may be nil
	// w runs every write transaction on a single connection: in-process
	// writers queue in Go rather than spinning on SQLite's busy handler.
	w *sql.DB
	// r serves reads; WAL lets them run beside the writer.
	r     *readDB
	now   func() time.Time
	stmts stmtCache
	// reads serves the reader pool's hot queries from prepared statements.
	reads readCache
	group writeGroup
	head  auditHead // of the write transaction in progress
}

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migration is one versioned schema change from migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
// loadMigrations is migrations; tests add one to see an upgrade.
var loadMigrations = migrations

func migrations() ([]migration, error) { return migrationsIn("migrations/sqlite") }

// migrationsIn returns the migrations in dir, in version order. Their
// versions run on without gaps from the first, which need not be 1: an
// engine added later starts at the version it was added in, with the whole
// schema of that version, so that both engines report the same version.
func migrationsIn(dir string) ([]migration, error) {
	names, err := fs.Glob(migrationFS, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := strings.TrimSuffix(filepath.Base(name), ".sql")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	for i, m := range ms {
		if m.version != ms[0].version+i {
			return nil, fmt.Errorf("migration %s: expected version %d; versions must run on without gaps", m.name, ms[0].version+i)
		}
	}
	return ms, nil
}

// OpenLedger opens (creating when missing) the ledger cfg names and brings
// its schema up to date. It refuses a database written by a newer claimtrail.
func OpenLedger(ctx context.Context, cfg LedgerConfig) (*Ledger, error) {
	eng, ok := engines[cfg.Driver]
	if !ok {
		return nil, fmt.Errorf("archive: open ledger: ledger.%w", cfg.Validate())
	}
	w, r, where, err := eng.open(cfg)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns) // database/sql keeps 2 by default, and closes the others after use
	l := &Ledger{path: where, eng: eng, w: w, r: &readDB{DB: r}, now: time.Now, reads: readCache{db: r}, log: cfg.Log}
	// Processes opening a new SQLite file at once (replicas started
	// together, a command beside a starting run) race to turn it into a
	// WAL database, and the loser gets SQLITE_BUSY at once, without the
	// busy timeout: the migration, one transaction, is tried again.
	deadline := time.Now().Add(busyTimeout)
	for {
		err := l.migrate(ctx)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) || ctx.Err() != nil {
			l.Close()
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Path returns the database file the ledger was opened on, or on
// PostgreSQL its DSN with the password redacted.
func (l *Ledger) Path() string { return l.path }

// Close closes the database. Pending work is not lost: every step commits
// before it returns.
func (l *Ledger) Close() error {
	return errors.Join(l.stmts.close(), l.reads.close(), l.w.Close(), l.r.Close())
}

// Sync makes every step committed so far durable on disk.
//
// Steps commit in WAL mode with synchronous=NORMAL: a killed process loses
// nothing, but a power cut or an OS crash can lose the last commits. Call
// Sync before an irreversible action outside the ledger that depends on
// them, above all before moving mail out of the polled folder, so that a
// power cut cannot leave a moved mail the ledger has forgotten. One Sync
// covers the earlier commits of every goroutine and costs one fsync. On
// PostgreSQL a commit is durable when it returns, and Sync does nothing.
func (l *Ledger) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("archive: sync ledger: %w", err)
	}
	if l.eng.sync == nil {
		return nil // PostgreSQL: a commit is durable when it returns
	}
	return l.eng.sync(ctx, l)
}

// SchemaVersion returns the highest migration applied to the database.
func (l *Ledger) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := l.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return 0, dbErr("schema version", err)
	}
	return v, nil
}

func (l *Ledger) migrate(ctx context.Context) (err error) {
	ms, err := l.eng.migrations()
	if err != nil {
		return fmt.Errorf("archive: ledger migrations: %w", err)
	}
	start, upgrading := time.Now(), false
	defer func() {
		if upgrading && err == nil {
			l.log.Info("ledger schema upgraded", "path", l.path, "took", time.Since(start).Round(time.Millisecond))
		}
	}()
	return l.write(ctx, "migrate "+l.path, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
			return err
		}
		first, last := ms[0].version, ms[len(ms)-1].version
		if have > last {
			return fmt.Errorf("database is at schema version %d but this claimtrail knows only up to %d: "+
				"run the newer claimtrail that wrote it, or restore a backup made before the upgrade", have, last)
		}
		if have == last {
			return nil
		}
		if have > 0 && have < first-1 {
			return fmt.Errorf("database is at schema version %d, older than any this claimtrail can upgrade on %s (%d)", have, l.eng.name, first-1)
		}
		if have > 0 && l.log != nil {
			l.log.Info("upgrading the ledger's schema; on a big ledger this takes a minute or more, let it finish",
				"path", l.path, "from", ms[have-first].name, "to", ms[len(ms)-1].name)
			upgrading = true
		}
		for _, m := range ms[max(have-first+1, 0):] {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, fmtTime(l.now())); err != nil {
				return err
			}
		}
		return nil
	})
}

// write runs fn in a write transaction and commits it. op names the
// operation in the returned error.
//
// Writes that arrive while another one runs share the next transaction
// (group commit): a commit costs about as much as the work of a small
// step, and four workers each had one or two per mail. Each write runs in
// a savepoint of its own, so a failing one is undone alone; the others
// commit together, and write returns once its own work is committed.
func (l *Ledger) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	r := &writeReq{ctx: ctx, op: op, fn: fn, done: make(chan bool, 1)}
	g := &l.group
	g.mu.Lock()
	g.queue = append(g.queue, r)
	follow := g.leading
	g.leading = true
	g.mu.Unlock()
	// A follower waits until a leader has run its write, or hands it the
	// lead; either way a leader is first in the queue.
	if follow && !<-r.done {
		return r.err
	}
	if !follow {
		// A write that found the ledger idle lets the goroutines ready to
		// run go first: a worker about to write joins this transaction
		// instead of waiting for the next.
		runtime.Gosched()
	}
	if d := g.delay.Load(); d > 0 {
		// Under load, transactions start at most d apart: the writes
		// that arrive meanwhile share the next one.
		if wait := time.Duration(g.lastStart.Load() + d - time.Now().UnixNano()); wait > 0 {
			time.Sleep(wait)
		}
		g.lastStart.Store(time.Now().UnixNano())
	}
	g.mu.Lock()
	n := min(len(g.queue), maxGroupWrites)
	batch := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()

	l.writeGroup(batch)
	for _, o := range batch[1:] {
		o.done <- false
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		g.mu.Unlock()
		next.done <- true
	} else {
		g.leading = false
		g.mu.Unlock()
	}
	return r.err
}

// readConns is the size of the reader pool.
const readConns = 4

// maxGroupWrites bounds the writes one transaction takes, and so the
// wait of the last of them.
const maxGroupWrites = 32

// writeReq is one write waiting for its transaction.
type writeReq struct {
	ctx  context.Context
	op   string
	fn   func(tx *sql.Tx) error
	err  error     // the outcome, set before done
	done chan bool // true: lead the next group; false: err is set
}

// writeGroup is the state of the group commit: the writes waiting, and
// whether one of the callers is running transactions.
type writeGroup struct {
	mu        sync.Mutex
	queue     []*writeReq
	leading   bool
	shared    atomic.Int64 // writes that shared a transaction, for tests
	delay     atomic.Int64 // SetCommitDelay's, in nanoseconds
	lastStart atomic.Int64 // when the last transaction started, in Unix nanoseconds
}

// SetCommitDelay makes write transactions start at least d apart: a
// write that comes less than d after the last transaction started waits
// for the rest of d, and the writes that arrive meanwhile share its
// transaction. 0, the default, never waits; a write after a quiet spell
// of d does not either. A commit writes every page the transaction
// changed, and concurrent mails change many of the same pages: the
// ledger's CPU time per mail falls by a quarter from one write per
// transaction to eight. Worth it where writers do not wait for their
// commits one by one (claimtrail run's workers hand them on).
func (l *Ledger) SetCommitDelay(d time.Duration) {
	l.group.delay.Store(int64(max(d, 0)))
}

// writeGroup runs batch in one transaction, each write in a savepoint,
// and sets each one's err.
func (l *Ledger) writeGroup(batch []*writeReq) {
	if len(batch) == 1 {
		r := batch[0]
		r.err = l.writeOne(r.ctx, r.op, r.fn)
		return
	}
	// The transaction is no one caller's: a caller that gives up fails
	// its own write only.
	tx, err := l.begin(context.Background())
	if err != nil {
		for _, r := range batch {
			r.err = dbErr(r.op, err)
		}
		return
	}
	l.group.shared.Add(int64(len(batch)))
	var ok []*writeReq
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = dbErr(r.op, err)
			continue
		}
		head := l.head
		ferr, broken := runSavepoint(tx, r.fn)
		if ferr == nil {
			ok = append(ok, r)
			continue
		}
		l.head = head // the savepoint undid the write's entries
		r.err = dbErr(r.op, ferr)
		if broken != nil {
			// SQLite rolled the whole transaction back (an interrupted
			// statement, a full disk): what ran in it is lost, and the
			// writes not yet run get transactions of their own.
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				broken = errors.Join(broken, rbErr)
			}
			for _, o := range ok {
				o.err = dbErr(o.op, fmt.Errorf("%w: the transaction it shared with %s failed: %w", ErrUnavailable, r.op, broken))
			}
			for _, o := range batch[i+1:] {
				o.err = l.writeOne(o.ctx, o.op, o.fn)
			}
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range ok {
			r.err = dbErr(r.op, err)
		}
		return
	}
	l.stmts.prepareWanted(context.Background(), l.w)
}

// runSavepoint runs fn in a savepoint of tx and undoes it when fn fails.
// broken is set when the savepoint itself failed: the transaction is gone.
func runSavepoint(tx *sql.Tx, fn func(tx *sql.Tx) error) (err, broken error) {
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, `SAVEPOINT write`); err != nil {
		return err, err
	}
	if err := fn(tx); err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO write`); rerr != nil {
			return err, rerr
		}
		if _, rerr := tx.ExecContext(ctx, `RELEASE write`); rerr != nil {
			return err, rerr
		}
		return err, nil
	}
	if _, err := tx.ExecContext(ctx, `RELEASE write`); err != nil {
		return err, err
	}
	return nil, nil
}

// begin starts a write transaction. The audit head of the last one is
// forgotten: another process may have written since.
func (l *Ledger) begin(ctx context.Context) (*sql.Tx, error) {
	l.head = auditHead{}
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil || l.eng.beginWrite == "" {
		return tx, err
	}
	if _, err := tx.ExecContext(ctx, l.eng.beginWrite); err != nil {
		return nil, errors.Join(err, tx.Rollback())
	}
	return tx, nil
}

// writeOne runs fn in a transaction of its own.
func (l *Ledger) writeOne(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := l.begin(ctx)
	if err != nil {
		return dbErr(op, err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			err = errors.Join(err, rbErr)
		}
		return dbErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return dbErr(op, err)
	}
	l.stmts.prepareWanted(ctx, l.w)
	return nil
}

// dbtx is what both *sql.Tx and cachedTx offer.
type dbtx interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// maxCachedStmts bounds the statement cache; the ledger's own queries are
// a few dozen.
const maxCachedStmts = 200

// stmtCache holds statements prepared on the writer pool, by SQL text.
// Parsing SQL was a quarter of the CPU time of the work on a message.
//
// A statement cannot be prepared on the pool inside a write transaction
// (the transaction holds its only connection), so a query first seen in a
// transaction runs unprepared and is prepared after the commit.
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
}

func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.stmts[query]
	if !ok && len(c.stmts)+len(c.wanted) < maxCachedStmts {
		if c.wanted == nil {
			c.wanted = map[string]bool{}
		}
		c.wanted[query] = true
	}
	return s
}

func (c *stmtCache) prepareWanted(ctx context.Context, db *sql.DB) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for q := range wanted {
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared, as before
		}
		c.mu.Lock()
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		if _, dup := c.stmts[q]; dup {
			s.Close()
		} else {
			c.stmts[q] = s
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.Close())
	}
	c.stmts = nil
	return errors.Join(errs...)
}

// readDB is the reader pool. Its queries can be watched: the query-plan
// test checks the plan of every read the pages make.
type readDB struct {
	*sql.DB
	// observe, when set (by tests, before any read), is called with each
	// query's SQL.
	observe func(query string)
}

func (r *readDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if r.observe != nil {
		r.observe(query)
	}
	return r.DB.QueryContext(ctx, query, args...)
}

func (r *readDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if r.observe != nil {
		r.observe(query)
	}
	return r.DB.QueryRowContext(ctx, query, args...)
}

// readCache runs the reader pool's queries on statements prepared once:
// parsing the SQL was half the time of the per-message look-ups.
// database/sql prepares each statement again on every pooled connection
// that runs it, and keeps it there. Unlike the writer's, the pool is free
// at any time, so a statement is prepared when first asked for.
type readCache struct {
	db *sql.DB
	stmtCache
	// observe is readDB's, for the statements run from the cache.
	observe func(query string)
}

// stmt returns query's prepared statement, or nil when it cannot be
// prepared or the cache is full: the query then runs unprepared, and shows
// its error there.
func (c *readCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = s
	return s
}

func (c *readCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if c.observe != nil {
		c.observe(query)
	}
	if s := c.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *readCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if c.observe != nil {
		c.observe(query)
	}
	if s := c.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

// cachedTx runs a write transaction's statements through the cache.
type cachedTx struct {
	l  *Ledger
	tx *sql.Tx
}

func (l *Ledger) cached(tx *sql.Tx) cachedTx { return cachedTx{l, tx} }

func (c cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := c.l.stmts.get(query); s != nil {
		return c.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return c.tx.ExecContext(ctx, query, args...)
}

func (c cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := c.l.stmts.get(query); s != nil {
		return c.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return c.tx.QueryContext(ctx, query, args...)
}

func (c cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := c.l.stmts.get(query); s != nil {
		return c.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return c.tx.QueryRowContext(ctx, query, args...)
}

// dbErr wraps err with the operation, marking the errors a retry may cure
// (a locked or unreachable database) with ErrUnavailable. Errors already
// wrapped by this package keep their text.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("archive: %s: %w: %w", op, ErrUnavailable, err)
	}
	if strings.HasPrefix(err.Error(), "archive: ") {
		return err
	}
	return fmt.Errorf("archive: %s: %w", op, err)
}

// timeLayout is RFC 3339 with fixed-width nanoseconds, so that stored times
// sort as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

// storedTime is t as the ledger reads it back: at the stored precision,
// in UTC; the zero time stays zero (NULL).
func storedTime(t time.Time) time.Time {
	st, _ := parseTime(sql.NullString{String: fmtTime(t), Valid: !t.IsZero()})
	return st
}

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s.String, err)
	}
	return t, nil
}
