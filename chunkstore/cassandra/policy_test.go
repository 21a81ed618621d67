package cassandra

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// The node-loss behaviour that needs no cluster: which errors go to the next
// host, how many attempts a statement gets, what a claim answers when its
// coordinator dies. The behaviour under a real node loss is tested end to end
// against three nodes in cmd/mediaedge (TestCassandraClusterNodeLoss).

// reqErr is a server error with a code, as the driver surfaces one.
type reqErr int

func (e reqErr) Code() int       { return int(e) }
func (e reqErr) Message() string { return fmt.Sprintf("code %#x", int(e)) }
func (e reqErr) Error() string   { return e.Message() }

func TestRetryGoesToNextHostUnlessTheStatementIsAtFault(t *testing.T) {
	p := DefaultConfig().retryPolicy()
	for _, tc := range []struct {
		err  error
		want gocql.RetryType
	}{
		{gocql.ErrTimeoutNoResponse, gocql.RetryNextHost}, // a hung coordinator
		{gocql.ErrConnectionClosed, gocql.RetryNextHost},  // a dead one
		{gocql.ErrNoConnections, gocql.RetryNextHost},
		{reqErr(gocql.ErrCodeUnavailable), gocql.RetryNextHost},
		{reqErr(gocql.ErrCodeReadTimeout), gocql.RetryNextHost},
		{reqErr(gocql.ErrCodeWriteTimeout), gocql.RetryNextHost},
		{reqErr(gocql.ErrCodeOverloaded), gocql.RetryNextHost},
		{reqErr(gocql.ErrCodeBootstrapping), gocql.RetryNextHost},
		{fmt.Errorf("wrapped: %w", reqErr(gocql.ErrCodeServer)), gocql.RetryNextHost},
		{reqErr(gocql.ErrCodeSyntax), gocql.Rethrow},
		{reqErr(gocql.ErrCodeInvalid), gocql.Rethrow},
		{reqErr(gocql.ErrCodeUnauthorized), gocql.Rethrow},
		{reqErr(gocql.ErrCodeAlreadyExists), gocql.Rethrow},
	} {
		if got := p.GetRetryType(tc.err); got != tc.want {
			t.Errorf("GetRetryType(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

type fakeQuery struct {
	attempts int
	ctx      context.Context
}

func (q *fakeQuery) Attempts() int                     { return q.attempts }
func (q *fakeQuery) SetConsistency(gocql.Consistency)  {}
func (q *fakeQuery) GetConsistency() gocql.Consistency { return gocql.Quorum }
func (q *fakeQuery) Context() context.Context          { return q.ctx }

func TestRetryAttempts(t *testing.T) {
	p := &nextHostRetry{NumRetries: 3, Min: time.Millisecond, Max: 2 * time.Millisecond}
	q := &fakeQuery{ctx: context.Background()}
	var granted int
	for q.attempts = 1; p.Attempt(q); q.attempts++ {
		granted++
	}
	if granted != 3 {
		t.Errorf("granted %d retries, want 3", granted)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if p.Attempt(&fakeQuery{attempts: 1, ctx: ctx}) {
		t.Error("retried a statement whose context is done")
	}
	// The first retry goes at once: the next replica is most likely fine.
	slow := &nextHostRetry{NumRetries: 3, Min: time.Hour, Max: time.Hour}
	start := time.Now()
	if !slow.Attempt(&fakeQuery{attempts: 1, ctx: context.Background()}) || time.Since(start) > time.Second {
		t.Error("the first retry waited")
	}
	for k := 1; k < 8; k++ {
		if d := p.backoff(k); d < 0 || d > 3*p.Max/2 {
			t.Errorf("backoff(%d) = %v, want within [0, 1.5*Max]", k, d)
		}
	}
}

func TestClusterConfigIsTunedForNodeLoss(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Hosts = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	cl, err := clusterConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rp, ok := cl.RetryPolicy.(*nextHostRetry); !ok || rp.NumRetries != 3 {
		t.Errorf("retry policy %#v, want nextHostRetry with 3 retries", cl.RetryPolicy)
	}
	if cl.PoolConfig.HostSelectionPolicy == nil {
		t.Error("no host selection policy (want token-aware)")
	}
	if cl.Timeout != 12*time.Second || cl.SerialConsistency != gocql.Serial || cl.ReconnectInterval != 10*time.Second {
		t.Errorf("timeout %v, serial %v, reconnect %v", cl.Timeout, cl.SerialConsistency, cl.ReconnectInterval)
	}
	if h := cfg.hedging(nil); h.extra != 2 || h.delay != 300*time.Millisecond {
		t.Errorf("hedging %+v, want 2 extra attempts after 300ms", h)
	}
	if h := cfg.writeHedging(nil); h.extra != 1 || h.delay != 3*time.Second {
		t.Errorf("write hedging %+v, want 1 extra attempt after 3s (past the server's 2 s write timeout)", h)
	}
	cfg.SpeculativeAttempts = 0
	if cfg.hedging(nil).extra != 0 {
		t.Error("SpeculativeAttempts 0 still hedges")
	}
	cfg.SpeculativeAttempts, cfg.SpeculativeDelay = 2, 20*time.Second
	if err := cfg.Validate(); err == nil {
		t.Error("a speculative delay above the timeout passed Validate")
	}
	cfg.SpeculativeDelay, cfg.WriteHedgeDelay = time.Second, 12*time.Second
	if err := cfg.Validate(); err == nil {
		t.Error("a write hedge delay at the timeout passed Validate")
	}
}

// fakeClaim is the record of one (source, variant) seen through a
// coordinator that can die: the first failInserts INSERTs fail, and the
// first of them may still have applied (appliedAnyway), as when a
// coordinator dies after the commit.
type fakeClaim struct {
	stored        string
	failInserts   int
	appliedAnyway bool
	readErrs      int // serial reads that fail before one answers
	inserts       int
	reads         int
}

var errCoordinatorDied = fmt.Errorf("claim: %w", gocql.ErrTimeoutNoResponse)

func (f *fakeClaim) insert(_ context.Context, _, _, fileID string) (bool, string, error) {
	f.inserts++
	if f.inserts <= f.failInserts {
		if f.appliedAnyway && f.stored == "" {
			f.stored = fileID
		}
		return false, "", errCoordinatorDied
	}
	if f.stored == "" {
		f.stored = fileID
		return true, "", nil
	}
	return false, f.stored, nil
}

func (f *fakeClaim) readSerial(context.Context, string, string) (string, bool, error) {
	f.reads++
	if f.reads <= f.readErrs {
		return "", false, gocql.ErrTimeoutNoResponse
	}
	return f.stored, f.stored != "", nil
}

func TestClaimDerivedWhenTheCoordinatorDies(t *testing.T) {
	for _, tc := range []struct {
		name        string
		f           fakeClaim
		wantID      string
		wantWon     bool
		wantErr     bool
		wantInserts int
	}{
		{"free: applied", fakeClaim{}, "mine", true, false, 1},
		{"taken: lost to the stored id", fakeClaim{stored: "theirs"}, "theirs", false, false, 1},
		{"died after commit: the serial read finds ours", fakeClaim{failInserts: 1, appliedAnyway: true}, "mine", true, false, 1},
		{"died before propose: nothing stored, claim again", fakeClaim{failInserts: 1}, "mine", true, false, 2},
		{"died, another edge won meanwhile", fakeClaim{stored: "theirs", failInserts: 1}, "theirs", false, false, 1},
		{"serial read fails too: the retried insert sees our own claim", fakeClaim{failInserts: 1, appliedAnyway: true, readErrs: 1}, "mine", true, false, 2},
		{"every attempt fails", fakeClaim{failInserts: 99, readErrs: 99}, "", false, true, claimAttempts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			id, won, err := claimDerived(context.Background(), &f, "src", "v", "mine")
			if id != tc.wantID || won != tc.wantWon || (err != nil) != tc.wantErr || f.inserts != tc.wantInserts {
				t.Fatalf("claim = %q, %v, %v after %d inserts; want %q, %v, error %v after %d",
					id, won, err, f.inserts, tc.wantID, tc.wantWon, tc.wantErr, tc.wantInserts)
			}
			if err != nil && !errors.Is(err, gocql.ErrTimeoutNoResponse) {
				t.Errorf("error %v does not wrap the driver's", err)
			}
		})
	}
	t.Run("context done: no serial read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f := fakeClaim{failInserts: 99}
		if _, _, err := claimDerived(ctx, &f, "src", "v", "mine"); err == nil || f.reads != 0 || f.inserts != 1 {
			t.Fatalf("err %v after %d inserts and %d reads; want an error after 1 insert, no read", err, f.inserts, f.reads)
		}
	})
}

// replica is one attempt's fate in the hedged tests: how long it takes and
// what it answers.
type replica struct {
	after time.Duration
	v     string
	err   error
}

func TestHedgedReads(t *testing.T) {
	const d = 20 * time.Millisecond
	hung := replica{after: time.Hour, err: gocql.ErrTimeoutNoResponse}
	for _, tc := range []struct {
		name         string
		attempts     []replica // the i-th launched attempt's fate
		want         string
		wantErr      error
		wantLaunched int
	}{
		{"fast answer: no second attempt", []replica{{v: "a"}}, "a", nil, 1},
		{"hung first: the second answers", []replica{hung, {v: "b"}}, "b", nil, 2},
		{"two hung: the third answers", []replica{hung, hung, {v: "c"}}, "c", nil, 3},
		{"not found is an answer", []replica{{err: gocql.ErrNotFound}}, "", gocql.ErrNotFound, 1},
		{"a failure is not: next attempt at once", []replica{{err: gocql.ErrConnectionClosed}, {v: "b"}}, "b", nil, 2},
		{"every attempt fails: the last error", []replica{{err: gocql.ErrConnectionClosed}, {err: gocql.ErrConnectionClosed},
			{err: gocql.ErrTimeoutNoResponse}}, "", gocql.ErrTimeoutNoResponse, 3},
		{"a slow answer still wins over later failures", []replica{{after: 5 * d, v: "a"}, {err: gocql.ErrNoConnections},
			{err: gocql.ErrNoConnections}}, "a", nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var launched atomic.Int32
			start := time.Now()
			v, err := hedged(context.Background(), hedging{delay: d, extra: 2}, func(ctx context.Context) (string, error) {
				r := tc.attempts[launched.Add(1)-1]
				select {
				case <-time.After(r.after):
					return r.v, r.err
				case <-ctx.Done():
					return "", ctx.Err()
				}
			})
			if v != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || int(launched.Load()) != tc.wantLaunched {
				t.Fatalf("got %q, %v after %d attempts; want %q, %v after %d", v, err, launched.Load(), tc.want, tc.wantErr, tc.wantLaunched)
			}
			if time.Since(start) > time.Minute {
				t.Fatal("waited for a hung attempt")
			}
		})
	}
	t.Run("not worth it (one node): no hedge on the timer", func(t *testing.T) {
		var n atomic.Int32
		v, err := hedged(context.Background(), hedging{delay: d, extra: 2, worth: func() bool { return false }},
			func(context.Context) (string, error) {
				n.Add(1)
				time.Sleep(5 * d)
				return "slow", nil
			})
		if v != "slow" || err != nil || n.Load() != 1 {
			t.Fatalf("got %q, %v after %d attempts; want the one slow answer", v, err, n.Load())
		}
	})
	t.Run("disabled: one attempt", func(t *testing.T) {
		var n int
		_, err := hedged(context.Background(), hedging{}, func(context.Context) (string, error) { n++; return "", gocql.ErrConnectionClosed })
		if n != 1 || err == nil {
			t.Fatalf("%d attempts, %v", n, err)
		}
	})
}

func TestLoggedBatchGivesUpAtOnceWhenTheBatchlogTimesOut(t *testing.T) {
	p := batchlogRethrow{DefaultConfig().retryPolicy()}
	if got := p.GetRetryType(fmt.Errorf("put file: %w", &gocql.RequestErrWriteTimeout{WriteType: "BATCH_LOG"})); got != gocql.Rethrow {
		t.Errorf("batchlog timeout: %v, want Rethrow (execBatch sends the statements one by one)", got)
	}
	if got := p.GetRetryType(&gocql.RequestErrWriteTimeout{WriteType: "BATCH"}); got != gocql.RetryNextHost {
		t.Errorf("batch timeout: %v, want RetryNextHost", got)
	}
	if !batchlogTimedOut(&gocql.RequestErrWriteTimeout{WriteType: "BATCH_LOG"}) || batchlogTimedOut(gocql.ErrTimeoutNoResponse) {
		t.Error("batchlogTimedOut misreads")
	}
}
