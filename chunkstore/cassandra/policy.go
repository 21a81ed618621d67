package cassandra

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Node loss, as the driver sees it, comes in two shapes:
//
//   - A dead node (kill -9, a crash, a reboot): its connections reset, so a
//     statement in flight fails at once with a connection error, and the
//     driver stops choosing the node when the survivors' gossip reports it
//     DOWN. An idempotent statement is simply sent to the next replica
//     (nextHostRetry).
//   - A hung node (a long GC pause, SIGSTOP, a stuck disk): its sockets stay
//     open and nothing answers, so a statement sent to it waits for the client
//     timeout. An idempotent read is therefore sent again when the first
//     attempt has not answered after SpeculativeDelay, and the first answer
//     wins (hedged). A chunk write is hedged too, but only past the server's
//     write timeout (WriteHedgeDelay): each is a 1 MiB chunk, and doubling
//     the write traffic whenever a replica is slow would make a slow cluster
//     slower, while a live coordinator always answers within its timeout, so
//     only a hung coordinator's writes are sent twice.
//
// With token-aware routing whose replicas are shuffled, "the next replica" is
// another owner of the partition, so a retry or a hedged read skips a
// coordinator hop as the first attempt did, and load spreads over the
// replicas instead of always hitting the first one in ring order.
//
// Statements that are not idempotent (the lightweight transactions) are never
// retried by the driver; the Backend resolves their unknown outcome itself
// by a read at SERIAL (see resolveClaim and UpdateUpload).

// nextHostRetry retries an idempotent statement on the next host of the query
// plan: the first retry at once (the next replica is most likely healthy),
// later ones after an exponential backoff with jitter, up to Max. Errors that
// every node would return the same way are not retried.
type nextHostRetry struct {
	NumRetries int
	Min, Max   time.Duration
}

var _ gocql.RetryPolicy = (*nextHostRetry)(nil)

// Attempt reports whether the statement gets another attempt (Attempts counts
// those already made), sleeping before the second and later retries.
func (p *nextHostRetry) Attempt(q gocql.RetryableQuery) bool {
	n := q.Attempts()
	if n > p.NumRetries {
		return false
	}
	if ctx := q.Context(); ctx != nil && ctx.Err() != nil {
		return false
	}
	if n >= 2 {
		time.Sleep(p.backoff(n - 1))
	}
	return true
}

// backoff is Min*2^(k-1) with +-50% jitter, capped at Max.
func (p *nextHostRetry) backoff(k int) time.Duration {
	d := p.Min << (k - 1)
	if d <= 0 || d > p.Max {
		d = p.Max
	}
	return d/2 + rand.N(d)
}

// GetRetryType sends every retry to the next host, except for errors that
// describe the statement rather than the node, which no other node would
// answer differently.
func (p *nextHostRetry) GetRetryType(err error) gocql.RetryType {
	var rerr gocql.RequestError
	if errors.As(err, &rerr) {
		switch rerr.Code() {
		case gocql.ErrCodeSyntax, gocql.ErrCodeInvalid, gocql.ErrCodeUnauthorized,
			gocql.ErrCodeConfig, gocql.ErrCodeAlreadyExists, gocql.ErrCodeCredentials,
			gocql.ErrCodeProtocol, gocql.ErrCodeFunctionFailure:
			return gocql.Rethrow
		}
	}
	return gocql.RetryNextHost
}

// hedging says when an idempotent read is sent again: after delay without
// an answer, up to extra more times.
// worth, when set, is asked before a hedge that a timer (not a failure)
// launches: false skips it.
type hedging struct {
	delay time.Duration
	extra int
	worth func() bool
}

func (c Config) hedging(worth func() bool) hedging {
	if c.SpeculativeAttempts <= 0 || c.SpeculativeDelay <= 0 {
		return hedging{}
	}
	return hedging{delay: c.SpeculativeDelay, extra: c.SpeculativeAttempts, worth: worth}
}

// writeHedging sends a chunk write on no answer after WriteHedgeDelay to one
// more replica. Chunk writes are idempotent (the same bytes under the same
// key), so two landing is harmless; past the server's write timeout only a
// hung coordinator is still silent, so healthy traffic is never doubled.
func (c Config) writeHedging(worth func() bool) hedging {
	if c.WriteHedgeDelay <= 0 {
		return hedging{}
	}
	return hedging{delay: c.WriteHedgeDelay, extra: 1, worth: worth}
}

// hedged runs read, and runs it again each time h.delay passes with no
// answer, or at once when an attempt fails, up to h.extra more times. The
// first definite answer (a row, or gocql.ErrNotFound) wins and the other
// attempts are cancelled; an error is returned only when every attempt
// failed, and it is the last one's. Each attempt is a statement of its own,
// so token-aware routing with shuffled replicas most often sends it to
// another replica than the slow one.
//
// Why not the driver's own speculative execution: its extra executions share
// the first's query plan, and one that finds the plan used up (a single
// node, a node down, a retry that took the next host) answers "no hosts
// available" at once, and that answer wins the race against the execution
// still running. Here only a success ends the race early.
func hedged[T any](ctx context.Context, h hedging, read func(context.Context) (T, error)) (T, error) {
	if h.extra <= 0 {
		return read(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	results := make(chan result, h.extra+1) // never blocks an attempt that lost
	launched, finished := 0, 0
	launch := func() {
		launched++
		go func() {
			v, err := read(ctx)
			results <- result{v, err}
		}()
	}
	launch()
	timer := time.NewTimer(h.delay)
	defer timer.Stop()
	for {
		select {
		case r := <-results:
			finished++
			if r.err == nil || errors.Is(r.err, gocql.ErrNotFound) || finished == h.extra+1 {
				return r.v, r.err
			}
			if ctx.Err() != nil {
				if finished == launched {
					return r.v, r.err
				}
				continue
			}
			if launched < h.extra+1 {
				launch()
				timer.Reset(h.delay)
			} else if finished == launched {
				return r.v, r.err
			}
		case <-timer.C:
			if launched < h.extra+1 && ctx.Err() == nil && (h.worth == nil || h.worth()) {
				launch()
				timer.Reset(h.delay)
			}
		}
	}
}

// batchlogRethrow is a logged batch's retry policy: the session's, except
// that a batchlog write timeout is returned at once, for execBatch to send
// the statements one by one (another coordinator would pick the same lost
// node).
type batchlogRethrow struct{ gocql.RetryPolicy }

func (p batchlogRethrow) GetRetryType(err error) gocql.RetryType {
	if batchlogTimedOut(err) {
		return gocql.Rethrow
	}
	return p.RetryPolicy.GetRetryType(err)
}

// batchlogTimedOut reports a logged batch that timed out writing its
// batchlog: none of its statements was applied.
func batchlogTimedOut(err error) bool {
	var wt *gocql.RequestErrWriteTimeout
	return errors.As(err, &wt) && wt.WriteType == "BATCH_LOG"
}

// retryPolicy is the session's policy for idempotent statements.
func (c Config) retryPolicy() *nextHostRetry {
	n := c.Retries
	if n < 0 {
		n = 0
	}
	return &nextHostRetry{NumRetries: n, Min: 50 * time.Millisecond, Max: time.Second}
}
