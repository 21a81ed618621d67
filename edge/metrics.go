package edge

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// Metrics are the edge's Prometheus collectors, registered on the registry
// handed to New (never the global one, so tests and several servers in one
// process do not collide).
type Metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	uploads     *prometheus.CounterVec
	uploadBytes prometheus.Counter
	storeOps    *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	transforms  *prometheus.CounterVec
	peerFills   *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg. The
// composition root makes them before the server when another component (the
// tus handler) reports to them; otherwise New makes them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediaedge_http_request_duration_seconds", Help: "Time to the end of the response, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"route"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediaedge_http_bytes_received_total", Help: "Request body bytes read.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediaedge_http_bytes_sent_total", Help: "Response body bytes written.",
		}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_uploads_total", Help: "Uploads by event: started, finished, expired.",
		}, []string{"event"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediaedge_upload_bytes_total", Help: "Upload bytes made durable (tus PATCH and creation-with-upload, POST /upload).",
		}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediaedge_store_operation_duration_seconds", Help: "Chunk store operation latency.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 3, 12),
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_store_errors_total", Help: "Chunk store operations that failed (not found excluded).",
		}, []string{"op"}),
		transforms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_transforms_total", Help: "Renditions computed (transforms, MP4s, posters) by output format; cache hits and fills from other edges are not counted.",
		}, []string{"format"}),
		peerFills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_fleet_fills_total", Help: "Cache misses filled from another edge instead of computed: from the key's owner (this edge is a spill target) or its previous owner (after a join).",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.bytesIn, m.bytesOut, m.uploads, m.uploadBytes, m.storeOps, m.storeErrors, m.transforms, m.peerFills} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, e := range []string{"started", "finished", "expired"} {
		m.uploads.WithLabelValues(e)
	}
	for _, src := range []string{fillOwner, fillPrevious} {
		m.peerFills.WithLabelValues(src)
	}
	return m, nil
}

// The upload hooks. *Metrics satisfies tus.Metrics (UploadStarted,
// UploadFinished) and its optional tus.BytesCounter (BytesReceived), so the
// composition root hands it to tus.Config.Metrics; the sweeper reports
// expired uploads through UploadsExpired. The interfaces live with their user
// (package tus), so edge does not import tus.

// UploadStarted counts a new upload (a tus creation or a POST /upload).
func (m *Metrics) UploadStarted() { m.uploads.WithLabelValues("started").Inc() }

// UploadFinished counts an upload that became a file.
func (m *Metrics) UploadFinished() { m.uploads.WithLabelValues("finished").Inc() }

// UploadsExpired counts unfinished uploads the sweeper removed.
func (m *Metrics) UploadsExpired(n int) { m.uploads.WithLabelValues("expired").Add(float64(n)) }

// BytesReceived counts upload bytes made durable.
func (m *Metrics) BytesReceived(n int64) { m.uploadBytes.Add(float64(n)) }
func (m *Metrics) observe(op string, start time.Time, err error) {
	m.storeOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !isNotFound(err) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

type countingBody struct {
	io.ReadCloser
	n    prometheus.Counter
	read int64 // bytes read by the handler
	eof  bool  // the handler read to the end
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(float64(n))
	b.read += int64(n)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// consumed reports whether the handler read the whole body: to EOF, or all
// of a declared Content-Length (a reader that stops at exactly the length
// never asks for the EOF).
func (b *countingBody) consumed(contentLength int64) bool {
	return b.eof || (contentLength >= 0 && b.read >= contentLength)
}

// observedStore times every store operation the edge makes.
type observedStore struct {
	Store
	m *Metrics
}

func (s observedStore) Stat(ctx context.Context, id string) (chunkstore.FileInfo, error) {
	start := time.Now()
	f, err := s.Store.Stat(ctx, id)
	s.m.observe("stat", start, err)
	return f, err
}

func (s observedStore) Open(ctx context.Context, id string) (*chunkstore.Reader, error) {
	start := time.Now()
	f, err := s.Store.Open(ctx, id)
	s.m.observe("open", start, err)
	return f, err
}

func (s observedStore) Put(ctx context.Context, r io.Reader, opt chunkstore.PutOptions) (chunkstore.FileInfo, error) {
	start := time.Now()
	f, err := s.Store.Put(ctx, r, opt)
	s.m.observe("put", start, err)
	return f, err
}

func (s observedStore) Delete(ctx context.Context, id string) error {
	start := time.Now()
	err := s.Store.Delete(ctx, id)
	s.m.observe("delete", start, err)
	return err
}

func (s observedStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.Store.Ping(ctx)
	s.m.observe("ping", start, err)
	return err
}
