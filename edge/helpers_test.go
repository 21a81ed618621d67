package edge_test

import (
	"os"

	"github.com/mediaedge/mediaedge/internal/testmedia"
)

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

// pngBombBytes is a tiny PNG whose header declares 30000 x 30000 pixels.
func pngBombBytes() []byte { return testmedia.PNGBomb(30000, 30000) }
