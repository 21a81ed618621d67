// Package bench holds mediaedge's whole-system benchmarks. Every workload
// reports a ratio against a reference measured in the same run on the same
// machine (nginx for cache hits, tusd for uploads, imaginary/imgproxy for
// transforms, a raw gocql loop for chunk I/O), because absolute numbers from a
// shared 2-core machine mean little on their own. `mediaedge bench WORKLOAD`
// runs them; scripts/bench.sh installs the references first. Timings are
// reported, never asserted: the tests here only check that a report is made.
package bench
