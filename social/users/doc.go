// Package users is the social tier's accounts service: sign-up, sessions,
// profiles and the follow graph, served as JSON under /v1 (Register mounts
// the routes on the edge's mux; Authenticate lets the edge accept a user's
// session token for uploads).
//
// # Model
//
// A user has a 64-bit time-ordered id (social/ids, a string in JSON), a
// username and a profile (display name, bio, avatar media id). Usernames
// are 3 to 30 characters of a-z, 0-9 and _, case-insensitive: stored and
// shown lower case. A username is unique through a compare-and-set on a
// claim keyed by the name (Cassandra: INSERT ... IF NOT EXISTS into
// usernames; Pebble: a read-then-write under a mutex in the one process
// that owns the database), never a read-then-write across processes. The
// claim is taken before the user is written; see cassandrastore for how a
// claim whose create died is given back or taken over, so no failure
// burns a name.
//
// Every write that changes something adds its event (social/events) to the
// outbox in the same batch as its data (one *pebble.Batch, one LOGGED
// batch), so the event exists if and only if the write does: user.created,
// profile.updated, follow (told to the followee: Event.To), unfollow,
// block, unblock; the graph events carry {"user_id": target}. A block
// removes the follows between the two both ways in its batch, and its one
// event stands for that (consumers drop both edges on "block"). A write
// that changes nothing (following a followed user, unblocking a stranger)
// writes and emits nothing. Sessions are not social data: they emit none.
//
// The graph is stored twice, by follower (following) and by followee
// (followers), so either list is one partition read in follower-id order
// with an opaque cursor (the last id). Counts are exact and computed by
// counting those partitions, never kept in a counter: a Cassandra counter
// double-counts on a retry, and a count kept beside the rows cannot join
// their batch atomically (only an LWT could, and an LWT batch may not span
// partitions). The cost of a count grows with the list; the CQL file says
// which bound that accepts and what changes beyond it. Graph writes of one
// pair of users are serialised (a short LWT lock on Cassandra, a striped
// mutex on Pebble), so "does the follow exist" and the batch are one step:
// racing duplicate follows write one event.
//
// # Passwords
//
// Passwords are 8 to 1024 bytes, hashed with argon2id
// (github.com/alexedwards/argon2id). The defaults (DefaultArgon2Params)
// are RFC 9106's second recommended option, 64 MiB, 3 passes, 4 lanes,
// stronger than the library's DefaultParams (64 MiB, 1 pass, a lane per
// CPU): the same memory, which is what makes GPU and ASIC guessing
// expensive, with three passes, so every guess of a stolen hash costs
// three times the work; and a fixed lane count, so a hash costs the same
// whichever edge made it (the lane count is part of the hash). The price
// is paid once per login: on this project's 2 shared, busy cores a default
// hash took 0.35-0.66 s (DefaultParams 0.1-0.77 s on the same box); a
// dedicated core does it in a fraction of that. Each hash records its
// parameters, so changing them later keeps old hashes verifiable. At 64
// MiB a hash is also a memory hazard: at most HashConcurrency run at once
// (others wait HashWait, then 503 busy).
//
// An unknown username and a wrong password get the same 401, after the
// same work: the unknown user's password is checked against a real hash of
// a random password made at start-up.
//
// # Sessions
//
// A session token is 32 random bytes (base64url, 43 characters) that the
// server never stores: it keeps the SHA-256 of the token, so a leaked table
// or backup holds no usable token (a fast hash suffices: the token has 256
// bits of entropy, nothing to guess). Sessions expire SessionTTL after login
// (30 days; not sliding) and live in a TTL'd table of their own on
// Cassandra (an expiry index and a sweeper, RunSweeper, on Pebble). Logout
// deletes the row, read and written at LOCAL_QUORUM: the token stops
// working at once on every edge. The clock that checks expiry is the
// handler's (Config.Now), so tests move it.
//
// A session table keyed by token hash alone cannot answer "which sessions
// does this user have", so a stolen token lived until its own logout or
// its 30 days. Each session is therefore also indexed by user (Cassandra:
// user_sessions_by_user, same TTL; Pebble: u/suser/), written in the
// session's batch and deleted with it (on logout, on revocation, by the
// Pebble sweeper), and Sessions.DeleteUserSessions revokes a user's
// sessions through it. DELETE /v1/sessions?all=1 logs out everywhere, the
// request's own token included. PUT /v1/users/{id}/password
// {current_password, new_password} (by the user themself: "me") checks
// the current password under the login limits (the same buckets, so a
// stolen session guesses no faster than a login; a wrong one is 401
// invalid_credentials naming current_password), validates the new one as
// sign-up does, stores its hash (no event: not social data) and revokes
// every other session; the requesting one stays. Sessions made before the
// index existed are not in it: they end by logout or expiry only.
//
// Every logout then closes live sockets on every edge (Config.Sockets, the
// push gateway's Closer): a socket outlives the session that opened it, so
// without this a stolen token's socket would keep receiving the user's
// updates. A socket ticket carries a tag of the session it was issued to
// (AuthenticateSession), so a single logout closes that session's sockets
// only, a password change all but the requester's, a log-out-everywhere
// all; tickets of an ended session not yet used are refused too. A
// failure to close is logged; the answer stays 204, since the sessions are
// revoked.
//
// # Abuse
//
// Argon2 is the denial-of-service vector: 1000 logins a second would be
// 1000 × 64 MiB hashes. So every login is checked against three token
// buckets before anything costs (reading the store, hashing): one per
// client address (an IPv6 address by its /64), which sign-ups spend too;
// one per account name as typed and client address (10, then one per
// 30 s); and one per account name from every address (ten times looser).
// The account buckets count names whether they exist or not (a limit only
// on real accounts would tell which exist), and count failures only: a
// login takes an attempt from both and gives it back when the password
// was right. A single per-account bucket, the first design, let anyone
// lock any user out with one wrong password every 30 s from one address;
// keyed by address too, one address's failures lock that address out of
// that account and no one else, while the account-wide bucket still
// bounds a guesser spread over many addresses (OWASP: throttle per account
// and source, no lockout an attacker can trigger). Over a limit the answer
// is 429 with Retry-After. The buckets live in bounded expirable LRUs, so
// a flood of addresses costs bounded memory; an entry lapses only after a
// full refill time without use, when a fresh bucket would be the same.
//
// # API rules
//
// Bodies are JSON objects of at most MaxBody bytes (413 beyond); unknown
// fields are refused naming the field (400 unknown_field), malformed JSON
// is 400 invalid_json, a bad value 400 invalid_parameter naming it. Errors
// are the media API's {"error":{code,message,param}} through httperr, one
// table for every route (errors from the store that match no sentinel are
// 503 with Retry-After, never echoed). Idempotency-Key on POST /v1/users is
// kept (hashed) in the username claim: a retry with the same key returns
// the same user (201, Idempotent-Replayed: true) without a second write;
// the same key with another username is another request.
package users
