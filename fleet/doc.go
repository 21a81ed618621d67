// Package fleet makes independent edges one cache: it keeps the list of live
// edges, names the owner of every cache key, and forwards a request that
// reached the wrong edge to the right one. The owner then answers through its
// own edge cache and single-flight, so a result is computed once and stored
// once fleet-wide, and the fleet's disks add up to one large cache instead of
// N copies of a small one.
//
// # API
//
//	cfg := fleet.DefaultConfig()
//	cfg.Bind, cfg.Peers = "10.0.0.5:7946", []string{"10.0.0.6:7946"} // --fleet-bind, --peers
//	cfg.HTTPAddr = "http://10.0.0.5:8080"
//	cfg.SecretKey = key // --fleet-key; required off loopback unless cfg.Insecure
//	cfg.Forwards = forwardsVec // mediaedge_fleet_forwards_total{result}
//	f, err := fleet.Join(ctx, cfg)
//	defer f.Close() // leaves gracefully
//
//	// On a request for cache key k:
//	if f.Inbound(r) { serve here } // a (signed) forward is never forwarded again; forged fleet headers are stripped
//	cands, owner, spilled := f.Candidates(k) // cands[0] is Route's target
//	resp, from, err := f.ForwardRanked(ctx, cands, r)
//	if errors.Is(err, fleet.ErrLocal) { done := f.Begin(); serve here; done() }
//
//	// Serving here (forwarded or local) on a cache miss for k:
//	if owner := f.Owner(k); !owner.Local {
//	        // a spill target, or a stale view: fill from the owner with a new
//	        // request (no HopHeader: Forward refuses a forwarded one and sets
//	        // it afresh, with FillHeader, so the owner serves it itself)
//	        resp, err := f.Forward(ctx, owner, fillRequest)
//	}
//
// An Observer (Config.Observer, `mediaedge fleet status`) joins without an
// HTTP address: it owns no key, is never forwarded to, and receives the
// members' load reports. LastJoin() is when a routable member last entered
// this edge's view: for a while after it, the edge asks a key's previous
// owner (the next in Rank) for a cached copy before computing a miss.
//
// Route(k) gives the same decision as (target, owner, spilled), Rank(k) the
// full ranking, Members() the fleet with loads and states (`mediaedge fleet
// status`), Stats() the forward counts.
//
// # Membership: memberlist (SWIM), not a table of our own
//
// hashicorp/memberlist runs SWIM: each edge probes one other every
// ProbeInterval, asks a few others to probe indirectly when a probe times
// out, and gossips suspicions and deaths, so failure detection costs O(1)
// messages per edge per period and a dead edge is declared within a few
// periods whatever the fleet size. A heartbeat table in Cassandra would cost a
// write per edge per second and detect death only at its own TTL; a static
// list cannot grow. Peers seed the join (any one live seed is enough) and are
// joined again every ReconnectInterval while they are not members, so that
// the sides of a healed partition find each other (memberlist forgets dead
// members, and each side would otherwise stay a fleet of its own); each
// edge's HTTP base URL rides in its memberlist metadata (JSON, under
// memberlist's 512 bytes), so forwarding needs no other lookup.
//
// Routing ranks alive and suspect members alike: a suspect usually refutes
// within a probe period, and dropping it would move its keys twice. A member
// that is really gone refuses connections, and ForwardRanked goes on to the
// next-ranked at once, until memberlist declares it dead (with the defaults,
// a few seconds; SuspicionMult x log10(n) x ProbeInterval at most, less when
// others confirm the suspicion).
//
// # Owners: rendezvous hashing, the ranking edgecache uses across disks
//
// A key's owner is the live member with the highest rendezvous score, the
// score being edgecache's (edgecache.Rank is called with each member's seed,
// the xxhash of its name, and weight 1: the same hash, the same -ln(u) form,
// one implementation). Every edge with the same membership computes the same
// order with no table and no coordination; when a member goes, only its keys
// move (to each key's second choice, spread evenly over the rest), and a new
// member takes about 1/n of the keys from every other member. A hash ring
// does the same with virtual nodes and a table to rebuild; rendezvous costs a
// hash, a logarithm and an insertion into a sorted list per member per lookup:
// about a microsecond for tens of edges, quadratic in members (fine to a
// hundred or so, then a partial sort would do).
// Edges are weighted alike: they are the same machines.
//
// # Bounded loads: c = 1.25
//
// A hot key sends all its traffic to one owner. Consistent hashing with
// bounded loads (Mirrokni, Thorup and Zadimoghaddam 2016; HAProxy's
// hash-balance-factor) gives a request to the first member in the key's
// ranking whose in-flight load is at most c times the mean (at least 1), so no
// edge carries much more than c times the mean, and with c = 1.25 (the
// paper's choice) the members tried per request stay few. When loads are
// balanced nothing spills: with equal loads L the threshold is 1.25 L. A spill
// target is the key's second (or later) choice, and it does not compute
// the result: it relays the request to the owner with a request of its own
// (the owner computes once under its single-flight, and answers Range and
// conditionals from its cache) and keeps no copy, so a hot key is computed
// once and stored once; the spill target spends the proxying.
//
// Each edge knows its own load exactly (Begin counts the requests it serves
// itself; forwarded-away ones cost it little and are not counted). Other
// edges' loads are gossiped as one small best-effort UDP datagram to every
// member each LoadInterval (250 ms), through memberlist's delegate user
// messages, not the node metadata: a metadata change bumps the node's
// incarnation and is gossiped and retransmitted like a membership change,
// too heavy four times a second. A remote load is therefore at most
// LoadInterval plus one datagram's flight old; one older than LoadTTL (the
// sender stopped, or its datagrams are lost) counts as 0, so an edge is never
// avoided on stale news. The price of staleness is a herd: for up to
// LoadInterval every edge keeps sending to a member that just became hot
// (or keeps avoiding one that just cooled). The cost is n-1 datagrams per
// edge per interval; past a few hundred edges, piggybacking loads on the
// gossip would scale better.
//
// # Forwarding
//
// Forward sends the request over a keep-alive pool (MaxIdleConnsPerHost per
// member, a short dial timeout, a response-header timeout that covers the
// owner computing a miss) with HopHeader set to this edge's name. A request
// that carries HopHeader is served where it lands and never forwarded again,
// so edges whose views briefly differ cannot bounce it. ForwardRanked walks
// the candidates when a member refuses or resets the connection (it died and
// the fleet has not noticed yet); any other failure, such as a timeout, is
// returned, since the member may be computing the result and asking the next
// one would compute it twice. The longest path is client, receiving edge,
// spill target, owner: the owner's fill request carries HopHeader, so it is
// served there whatever the owner's view.
//
// HopHeader and FillHeader change how an edge serves a request, so a client
// must not be able to set them: Forward signs them (HMAC-SHA256 over the
// method, URI, a timestamp and their values, under a key derived from the
// fleet key, or per-edge keys gossiped in a keyless fleet), and Inbound
// strips them from any request whose signature does not verify (auth.go).
// A fleet without a key lets anyone who can reach its gossip port join and
// answer for keys with its own bytes, so Config.Validate refuses one unless
// it binds loopback or Config.Insecure says so.
package fleet
