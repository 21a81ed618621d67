package edge

import (
	"context"
	"io"
	"net/http"
	"strconv"
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
	storeOps    *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*Metrics, error) {
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
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediaedge_store_operation_duration_seconds", Help: "Chunk store operation latency.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 3, 12),
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_store_errors_total", Help: "Chunk store operations that failed (not found excluded).",
		}, []string{"op"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.bytesIn, m.bytesOut, m.uploads, m.storeOps, m.storeErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, e := range []string{"started", "finished", "expired"} {
		m.uploads.WithLabelValues(e)
	}
	return m, nil
}

// UploadStarted, UploadFinished and UploadsExpired are the hooks the tus
// handler and the sweeper call.
func (m *Metrics) UploadStarted()       { m.uploads.WithLabelValues("started").Inc() }
func (m *Metrics) UploadFinished()      { m.uploads.WithLabelValues("finished").Inc() }
func (m *Metrics) UploadsExpired(n int) { m.uploads.WithLabelValues("expired").Add(float64(n)) }
func (m *Metrics) observe(op string, start time.Time, err error) {
	m.storeOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !isNotFound(err) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// instrument wraps a handler to count requests, latency and bytes. The route
// label is the ServeMux pattern, so ids never explode the label space.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &countingWriter{ResponseWriter: w, code: http.StatusOK}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingBody{ReadCloser: r.Body, n: m.bytesIn}
		}
		next.ServeHTTP(cw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(cw.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.bytesOut.Add(float64(cw.n))
	})
}

// countingWriter records the status and body bytes. It forwards ReadFrom so
// that io.Copy from an *os.File still reaches the connection's sendfile path,
// and Unwrap so http.ResponseController finds Flush and deadlines.
type countingWriter struct {
	http.ResponseWriter
	code        int
	n           int64
	wroteHeader bool
}

func (w *countingWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	w.wroteHeader = true
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type countingBody struct {
	io.ReadCloser
	n prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(float64(n))
	return n, err
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
