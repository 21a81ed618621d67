package edge

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediaedge/mediaedge/edgecache"
)

// CacheStats is the optional capability of a Cache that describes its
// disks: the server's own view (states, entries, hits), which the
// `mediaedge cache stats --server` command and /metrics show, so an
// operator sees the disk the server took offline as offline.
type CacheStats interface {
	Stats() []edgecache.DiskStats
}

// cacheStats is the cache's capability, or nil.
func (s *Server) cacheStats() CacheStats {
	cs, _ := s.deps.Cache.(CacheStats)
	return cs
}

// adminCache answers GET /admin/cache on the metrics listener (never on the
// public one when a metrics listener is set): the disks as the server sees
// them, as JSON.
func (s *Server) adminCache(w http.ResponseWriter, r *http.Request) {
	cs := s.cacheStats()
	if cs == nil {
		s.fail(w, r, errNoCache)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		Disks []edgecache.DiskStats `json:"disks"`
	}{cs.Stats()})
}

// cacheCollector exports the cache's disks on every scrape, read from the
// same Stats the admin endpoint serves.
type cacheCollector struct {
	cs                                        CacheStats
	hot                                       *hotCache
	ramBytes, ramEntries, ramFirst, ramLoop   *prometheus.Desc
	state, bytes, budget, entries, reqs, errs *prometheus.Desc
	evictions, evicted                        *prometheus.Desc
}

func newCacheCollector(cs CacheStats, hot *hotCache) *cacheCollector {
	return &cacheCollector{
		cs:         cs,
		hot:        hot,
		ramBytes:   prometheus.NewDesc("mediaedge_cache_ram_bytes", "Bytes of the entries held in memory (the hot tier, --cache-ram).", nil, nil),
		ramEntries: prometheus.NewDesc("mediaedge_cache_ram_entries", "Entries held in memory (the hot tier).", nil, nil),
		ramFirst:   prometheus.NewDesc("mediaedge_cache_ram_first_total", "Hot-tier hits answered before the routes, for a request URI answered from memory before (a share of the ram hits).", nil, nil),
		ramLoop:    prometheus.NewDesc("mediaedge_cache_ram_loop_total", "Hot-tier hits answered by the connection loop before net/http (a share of ram_first).", nil, nil),
		state:      prometheus.NewDesc("mediaedge_cache_disk_state", "1 for the cache disk's current state (online, failing, offline), 0 for the others.", []string{"disk", "state"}, nil),
		bytes:      prometheus.NewDesc("mediaedge_cache_disk_bytes", "Bytes of entries on the cache disk.", []string{"disk"}, nil),
		budget:     prometheus.NewDesc("mediaedge_cache_disk_budget_bytes", "The cache disk's byte budget.", []string{"disk"}, nil),
		entries:    prometheus.NewDesc("mediaedge_cache_disk_entries", "Entries on the cache disk.", []string{"disk"}, nil),
		reqs:       prometheus.NewDesc("mediaedge_cache_requests_total", "Cache lookups by result (hit or miss), per disk; kept across restarts in each disk's stats file.", []string{"disk", "result"}, nil),
		errs:       prometheus.NewDesc("mediaedge_cache_disk_errors_total", "I/O errors on the cache disk since start.", []string{"disk"}, nil),
		evictions:  prometheus.NewDesc("mediaedge_cache_evictions_total", "Entries evicted from the cache disk to keep it within its budget, since start.", []string{"disk"}, nil),
		evicted:    prometheus.NewDesc("mediaedge_cache_evicted_bytes_total", "Bytes of the entries evicted from the cache disk, since start.", []string{"disk"}, nil),
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.bytes, c.budget, c.entries, c.reqs, c.errs, c.evictions, c.evicted, c.ramBytes, c.ramEntries, c.ramFirst, c.ramLoop} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	if c.hot != nil {
		// A hit in memory never reaches a disk, so it counts once, under
		// disk="ram"; its misses are the disks' lookups.
		ch <- prometheus.MustNewConstMetric(c.reqs, prometheus.CounterValue, float64(c.hot.hits.Load()), "ram", "hit")
		ch <- prometheus.MustNewConstMetric(c.ramBytes, prometheus.GaugeValue, float64(c.hot.bytes.Load()))
		ch <- prometheus.MustNewConstMetric(c.ramEntries, prometheus.GaugeValue, float64(c.hot.entries.Len()))
		ch <- prometheus.MustNewConstMetric(c.ramFirst, prometheus.CounterValue, float64(c.hot.first.Load()))
		ch <- prometheus.MustNewConstMetric(c.ramLoop, prometheus.CounterValue, float64(c.hot.loop.Load()))
	}
	for _, d := range c.cs.Stats() {
		for _, st := range []edgecache.DiskState{edgecache.Online, edgecache.Failing, edgecache.Offline} {
			v := 0.0
			if d.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, d.Path, st.String())
		}
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(d.Bytes), d.Path)
		ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(d.Budget), d.Path)
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(d.Entries), d.Path)
		ch <- prometheus.MustNewConstMetric(c.reqs, prometheus.CounterValue, float64(d.Hits), d.Path, "hit")
		ch <- prometheus.MustNewConstMetric(c.reqs, prometheus.CounterValue, float64(d.Misses), d.Path, "miss")
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(d.Errors), d.Path)
		ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(d.Evictions), d.Path)
		ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(d.EvictedBytes), d.Path)
	}
}
