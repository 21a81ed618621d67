package edge

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
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
	// Renditions computed here: time, in progress, refused or failed.
	transformTime     *prometheus.HistogramVec
	transformInFlight prometheus.Gauge
	transformRejects  *prometheus.CounterVec
	// ffmpeg jobs (MP4, posters, HLS packaging, probes), told by the
	// converter (video.Observer).
	videoJobs      *prometheus.CounterVec
	videoTime      *prometheus.HistogramVec
	ffmpegFailures *prometheus.CounterVec
}

// Label values that are set up at start, so every series exists (at 0)
// before its first event: rate() and alerts see 0, not an absent series.
var (
	rejectReasons  = []string{rejectBusy, rejectTimeout, "too_many_pixels", "too_many_frames", "source_too_large", "unsupported", "corrupt", "failed"}
	videoKinds     = []string{"mp4", "poster", "hls", "probe"}
	videoResults   = []string{"ok", "failed", "timeout", "busy", "canceled"}
	ffmpegFailures = []string{"exit", "timeout", "start"}
)

const (
	rejectBusy    = "busy"
	rejectTimeout = "timeout"
)

// NewMetrics creates the collectors and registers them on reg. The
// composition root makes them before the server when another component (the
// tus handler) reports to them; otherwise New makes them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
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
		transformTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediaedge_transform_duration_seconds", Help: "Time to compute a rendition (reading the source, waiting for a worker, libvips or ffmpeg), by output format; renditions computed here only.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2.5, 12),
		}, []string{"format"}),
		transformInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediaedge_transforms_in_flight", Help: "Renditions this edge is computing now, those waiting for a worker included.",
		}),
		transformRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_transform_rejections_total", Help: "Renditions refused or failed, by reason: busy (queue full), timeout, too_many_pixels (decompression bombs), too_many_frames, source_too_large, unsupported, corrupt, failed (libvips or ffmpeg error).",
		}, []string{"reason"}),
		videoJobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_video_jobs_total", Help: "ffmpeg jobs by kind (mp4, poster, hls, probe) and result (ok, failed, timeout, busy, canceled).",
		}, []string{"kind", "result"}),
		videoTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediaedge_video_job_duration_seconds", Help: "Time ffmpeg jobs ran, from their slot to their end, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 10),
		}, []string{"kind"}),
		ffmpegFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediaedge_ffmpeg_failures_total", Help: "ffmpeg or ffprobe processes that failed, by job kind and reason: exit (non-zero exit status), timeout (killed at the job's deadline), start (could not be started).",
		}, []string{"kind", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.bytesIn, m.bytesOut, m.uploads, m.uploadBytes, m.storeOps, m.storeErrors, m.transforms, m.peerFills,
		m.transformTime, m.transformInFlight, m.transformRejects, m.videoJobs, m.videoTime, m.ffmpegFailures} {
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
	for _, op := range []string{"stat", "open", "put", "delete", "ping"} {
		m.storeErrors.WithLabelValues(op)
	}
	for _, r := range rejectReasons {
		m.transformRejects.WithLabelValues(r)
	}
	for _, k := range videoKinds {
		m.videoTime.WithLabelValues(k)
		for _, r := range videoResults {
			m.videoJobs.WithLabelValues(k, r)
		}
		for _, r := range ffmpegFailures {
			m.ffmpegFailures.WithLabelValues(k, r)
		}
	}
	return m, nil
}

// transformStarted counts a rendition in progress; the func it returns
// records how it ended (format is the output format of a success).
func (m *Metrics) transformStarted() (done func(format string, err error)) {
	start := time.Now()
	m.transformInFlight.Inc()
	return func(format string, err error) {
		m.transformInFlight.Dec()
		if err == nil {
			m.transformTime.WithLabelValues(format).Observe(time.Since(start).Seconds())
			return
		}
		if reason, ok := rejectReason(err); ok {
			m.transformRejects.WithLabelValues(reason).Inc()
		}
	}
}

// rejected counts a rendition refused before any work started.
func (m *Metrics) rejected(reason string) { m.transformRejects.WithLabelValues(reason).Inc() }

// rejectReason names why a rendition failed, one of rejectReasons; ok=false
// for failures that are not the transform's: a store or fleet fault (counted
// by their own series), a client that went away.
func rejectReason(err error) (reason string, ok bool) {
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
	switch {
	case is(context.Canceled, errStore, errPeer, errPeerLost, errNotCached):
		return "", false
	case is(transform.ErrBusy, video.ErrBusy):
		return rejectBusy, true
	case is(transform.ErrTimeout, video.ErrTimeout, context.DeadlineExceeded):
		return rejectTimeout, true
	case is(transform.ErrTooManyPixels):
		return "too_many_pixels", true
	case is(transform.ErrTooManyFrames):
		return "too_many_frames", true
	case is(transform.ErrUnsupported, errSVG, transform.ErrNotAnimated, transform.ErrAnimatedOp, video.ErrAlreadyVideo, errVideoOff):
		return "unsupported", true
	case is(transform.ErrCorruptImage, video.ErrCorrupt):
		return "corrupt", true
	}
	return "failed", true
}

// VideoJob implements video.Observer: New hands the metrics to a converter
// that takes an observer (*video.Converter), so every ffmpeg job it runs,
// HLS packaging included when the HLS packager shares the converter (as
// the composition root builds it), is counted.
func (m *Metrics) VideoJob(j video.Job) {
	result := "failed"
	switch {
	case j.Err == nil:
		result = "ok"
	case errors.Is(j.Err, video.ErrBusy):
		result = "busy"
	case errors.Is(j.Err, video.ErrTimeout):
		result = "timeout"
	case errors.Is(j.Err, context.Canceled):
		result = "canceled"
	}
	m.videoJobs.WithLabelValues(j.Kind, result).Inc()
	if !j.Ran {
		return
	}
	m.videoTime.WithLabelValues(j.Kind).Observe(j.Duration.Seconds())
	switch {
	case j.Err == nil || errors.Is(j.Err, context.Canceled):
	case errors.Is(j.Err, video.ErrTimeout):
		m.ffmpegFailures.WithLabelValues(j.Kind, "timeout").Inc()
	case errors.Is(j.Err, video.ErrCorrupt):
		m.ffmpegFailures.WithLabelValues(j.Kind, "exit").Inc()
	default:
		m.ffmpegFailures.WithLabelValues(j.Kind, "start").Inc()
	}
}

// videoObservable is the optional capability of a Video (or HLS) that
// reports its jobs; *video.Converter is one.
type videoObservable interface {
	SetObserver(video.Observer)
}

// TransformLoad is the optional capability of a Transformer that reports
// its worker pool; *transform.Processor is one. With it /metrics has the
// transform queue gauges.
type TransformLoad interface {
	Load() (running, waiting int)
}

// registerTransformLoad exports the worker pool of tf: busy workers and the
// queue, beside their limits (so queue saturation is depth / capacity).
func registerTransformLoad(reg prometheus.Registerer, tf Transformer, tl TransformLoad) error {
	cfg := tf.Config()
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mediaedge_transform_workers_busy", Help: "Transform workers running a transform now."},
			func() float64 { r, _ := tl.Load(); return float64(r) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mediaedge_transform_queue_depth", Help: "Transforms waiting for a worker; beyond mediaedge_transform_queue_capacity they are refused (503)."},
			func() float64 { _, w := tl.Load(); return float64(w) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mediaedge_transform_workers", Help: "Transform workers (transform-workers)."},
			func() float64 { return float64(cfg.Workers) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mediaedge_transform_queue_capacity", Help: "Transforms that may wait for a worker (transform-queue)."},
			func() float64 { return float64(cfg.QueueLen) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
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
