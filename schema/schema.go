package schema

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

//go:embed cql/*.cql
var files embed.FS

// ErrChecksum reports that an applied migration's file has changed since.
var ErrChecksum = errors.New("schema: applied migration changed")

// Config says where and how the schema is applied.
type Config struct {
	// Keyspace to create and fill; default "mediaedge".
	Keyspace string
	// RF is the replication factor; default 1 (a dev node). Use 3 in production.
	RF int
	// Class is SimpleStrategy (default) or NetworkTopologyStrategy.
	Class string
	// DC names the data centre for NetworkTopologyStrategy.
	DC string
}

// DefaultConfig is a single-node development keyspace.
func DefaultConfig() Config {
	return Config{Keyspace: "mediaedge", RF: 1, Class: "SimpleStrategy"}
}

var (
	// identRe is what CQL accepts unquoted as a keyspace name (48 chars max).
	identRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,47}$`)
	// dcRe: data centre names go into a quoted replication map, so anything
	// without a quote will do; real names look like "dc1" or "us-east-1".
	dcRe = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)
)

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if !identRe.MatchString(c.Keyspace) {
		errs = append(errs, fmt.Errorf("keyspace %q: want a letter then up to 47 letters, digits or _", c.Keyspace))
	}
	if c.RF < 1 {
		errs = append(errs, fmt.Errorf("rf %d: want at least 1", c.RF))
	}
	switch c.Class {
	case "SimpleStrategy":
	case "NetworkTopologyStrategy":
		if !dcRe.MatchString(c.DC) {
			errs = append(errs, fmt.Errorf("dc %q: NetworkTopologyStrategy needs a data centre name", c.DC))
		}
	default:
		errs = append(errs, fmt.Errorf("class %q: want SimpleStrategy or NetworkTopologyStrategy", c.Class))
	}
	return errors.Join(errs...)
}

// Migration is one numbered .cql file.
type Migration struct {
	Version    int
	Name       string
	Statements []string
	Checksum   string
}

// Migrations returns the embedded migrations in order, for keyspace ks.
func Migrations(ks string) ([]Migration, error) {
	paths, err := fs.Glob(files, "cql/*.cql")
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []Migration
	for _, p := range paths {
		raw, err := files.ReadFile(p)
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(strings.TrimPrefix(p, "cql/"), ".cql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("schema: migration file %s: want NNNN_name.cql", p)
		}
		sum := sha256.Sum256(raw)
		out = append(out, Migration{
			Version:    v,
			Name:       name,
			Statements: splitStatements(strings.ReplaceAll(string(raw), "{{ks}}", ks)),
			Checksum:   hex.EncodeToString(sum[:]),
		})
	}
	return out, nil
}

// splitStatements splits CQL on ";" at line ends and drops "--" comment lines.
func splitStatements(cql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(cql, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

func keyspaceCQL(cfg Config) string {
	var repl string
	if cfg.Class == "NetworkTopologyStrategy" {
		repl = fmt.Sprintf("{'class': 'NetworkTopologyStrategy', '%s': %d}", cfg.DC, cfg.RF)
	} else {
		repl = fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", cfg.RF)
	}
	return fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s", cfg.Keyspace, repl)
}

func migrationsTableCQL(ks string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.schema_migrations (
    version int PRIMARY KEY,
    name text,
    checksum text,
    applied_at timestamp
)`, ks)
}

// Print returns the whole schema as CQL, for review or for applying by hand.
func Print(cfg Config) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	ms, err := Migrations(cfg.Keyspace)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(keyspaceCQL(cfg) + ";\n\n" + migrationsTableCQL(cfg.Keyspace) + ";\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "\n-- %04d %s\n", m.Version, m.Name)
		for _, s := range m.Statements {
			b.WriteString(s + ";\n\n")
		}
	}
	return b.String(), nil
}

// Apply creates the keyspace and runs the migrations not yet applied, returning
// the names of those it applied (empty when the schema was already current).
// The session must not be bound to the keyspace (it may not exist yet).
func Apply(ctx context.Context, s *gocql.Session, cfg Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ms, err := Migrations(cfg.Keyspace)
	if err != nil {
		return nil, err
	}
	for _, stmt := range []string{keyspaceCQL(cfg), migrationsTableCQL(cfg.Keyspace)} {
		if err := ddl(ctx, s, stmt); err != nil {
			return nil, err
		}
	}
	done := map[int]string{}
	iter := s.Query(fmt.Sprintf("SELECT version, checksum FROM %s.schema_migrations", cfg.Keyspace)).
		Consistency(gocql.Quorum).IterContext(ctx)
	var v int
	var sum string
	for iter.Scan(&v, &sum) {
		done[v] = sum
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("schema: read applied migrations: %w", err)
	}
	var applied []string
	for _, m := range ms {
		label := fmt.Sprintf("%04d_%s", m.Version, m.Name)
		if sum, ok := done[m.Version]; ok {
			if sum != m.Checksum {
				return applied, fmt.Errorf("schema: %s: %w", label, ErrChecksum)
			}
			continue
		}
		for i, stmt := range m.Statements {
			if err := ddl(ctx, s, stmt); err != nil {
				return applied, fmt.Errorf("schema: %s statement %d: %w", label, i+1, err)
			}
		}
		err := s.Query(fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)", cfg.Keyspace),
			m.Version, m.Name, m.Checksum, time.Now()).Consistency(gocql.Quorum).ExecContext(ctx)
		if err != nil {
			return applied, fmt.Errorf("schema: record %s: %w", label, err)
		}
		applied = append(applied, label)
	}
	return applied, nil
}

func ddl(ctx context.Context, s *gocql.Session, stmt string) error {
	if err := s.Query(stmt).ExecContext(ctx); err != nil {
		return fmt.Errorf("schema: %q: %w", firstLine(stmt), err)
	}
	if err := s.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("schema: await agreement: %w", err)
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Drop removes a keyspace; tests use it to clean up after themselves.
func Drop(ctx context.Context, s *gocql.Session, keyspace string) error {
	if !identRe.MatchString(keyspace) {
		return fmt.Errorf("schema: bad keyspace %q", keyspace)
	}
	return ddl(ctx, s, "DROP KEYSPACE IF EXISTS "+keyspace)
}
