// Package jsonapi is the social API's (/v1) shared HTTP layer: what every
// social service (users, posts, feed, stories, chat, notifications) does
// alike at its HTTP edge, so they answer alike.
//
// Bodies: one JSON object per request, at most a size, with only known
// fields (an unknown one is refused, naming it), and JSON answers that no
// shared cache keeps (ReadBody, Fields, Write). Ids are JSON strings, a
// list of them too (IDs, Fields.IDs).
//
// Routes: a route is a function that returns an error. Route's handlers
// authenticate the caller first (Authenticator), Handle's serve public
// routes, and both map a returned error through the service's own
// httperr.Table and write it: the one place where a social route's error
// becomes an answer. Each service keeps its own table, since its messages
// are its own.
//
// Store faults: a store error that matches no sentinel is the database
// unreachable or overloaded, a 503 to retry rather than a 500. A service
// marks such errors with StoreFault and answers ErrStore in its table
// (after its sentinels, which a fault keeps matching).
//
// Parameters: PathID, QueryInt, Limit and CheckIdempotencyKey read path,
// query and header values and answer 400 invalid_parameter naming the bad
// one; EncodeCursor and DecodeCursor are the opaque page cursors.
// ValidatePage checks a service's page-size configuration.
package jsonapi
