package transform

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/internal/testenv"
)

// TestNoBindingLibraries: the image and video code (and the benchmark that
// ships in the binary) must not link bimg, whose package init starts
// libvips in every command that imports it, nor ffmpeg-go. Tests may use
// bimg as an independent reader; `go list -deps` without -test leaves test
// imports out, and -e keeps a package someone is editing from failing it.
func TestNoBindingLibraries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin := testenv.Tool(t, "go")
	out, err := exec.Command(goBin, "list", "-e", "-deps",
		"github.com/mediaedge/mediaedge/transform",
		"github.com/mediaedge/mediaedge/transform/video",
		"github.com/mediaedge/mediaedge/bench").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/h2non/bimg") || strings.HasPrefix(dep, "github.com/u2takey/ffmpeg-go") {
			t.Errorf("linked: %s", dep)
		}
	}
}
