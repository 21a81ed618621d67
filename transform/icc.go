package transform

import (
	"encoding/binary"
	"math"
)

// Most photos and screenshots that carry a colour profile carry an sRGB one
// (cameras, phones, Photoshop's "sRGB IEC61966-2.1", the compact profiles
// browsers and image tools embed). Converting sRGB to sRGB is an identity,
// but libvips does not know it: with export_profile it builds an lcms
// transform for every image, and measured that was 29% of the CPU of a PNG
// -> JPEG rendition (cmsReverseToneCurveEx inverting the 1024-point curves).
// imgproxy skips the step for one byte-exact profile (HP's, by its header
// fields); here any profile whose colorimetry is sRGB's is recognised: a
// matrix/TRC RGB profile whose primaries are sRGB's (D50-adapted, as the
// ICC stores them) and whose three tone curves follow sRGB's within a
// 1/1000 of full scale, with no LUT tags that lcms would prefer to the
// matrix. Anything else (wide gamut, CMYK, grey, LUT-based, a profile we
// cannot parse or one larger than iccReadMax) takes the conversion, so a
// miss costs only time, never colour.

// iccReadMax bounds the profile bytes the header copies out for this check;
// matrix/TRC sRGB profiles are 0.5-7 KiB (lcms' 1024-point curves are 2 KiB
// each), while big ones are LUT-based, which never qualify.
const iccReadMax = 16 << 10

// sRGB's primaries adapted to D50 (Bradford), the rXYZ/gXYZ/bXYZ tags of an
// sRGB profile; profiles round them differently in the fourth decimal.
var srgbPrimaries = [3][3]float64{
	{0.4361, 0.2225, 0.0139}, // red
	{0.3851, 0.7169, 0.0971}, // green
	{0.1431, 0.0606, 0.7141}, // blue
}

const (
	primaryTolerance = 0.0025
	curveTolerance   = 0.001 // linear light, full scale 1
)

// isSRGBProfile reports whether an ICC profile describes sRGB, so that
// converting to sRGB would change nothing.
func isSRGBProfile(p []byte) bool {
	if len(p) < 132 || int(be32(p)) > len(p) || string(p[16:20]) != "RGB " || string(p[20:24]) != "XYZ " {
		return false
	}
	tags := map[string][]byte{}
	n := int(be32(p[128:]))
	if n > 100 || 132+12*n > len(p) {
		return false
	}
	for i := range n {
		e := p[132+12*i:]
		off, size := int(be32(e[4:])), int(be32(e[8:]))
		if off < 0 || size < 0 || off+size > len(p) || off+size < off {
			return false
		}
		tags[string(e[:4])] = p[off : off+size]
	}
	// LUT tags win over the matrix in lcms for most intents: such a profile
	// may render differently from its primaries, so it is not trusted.
	for _, t := range []string{"A2B0", "A2B1", "A2B2", "B2A0", "B2A1", "B2A2", "D2B0", "B2D0"} {
		if _, ok := tags[t]; ok {
			return false
		}
	}
	for i, t := range []string{"rXYZ", "gXYZ", "bXYZ"} {
		xyz, ok := readXYZ(tags[t])
		if !ok {
			return false
		}
		for k := range 3 {
			if math.Abs(xyz[k]-srgbPrimaries[i][k]) > primaryTolerance {
				return false
			}
		}
	}
	for _, t := range []string{"rTRC", "gTRC", "bTRC"} {
		curve, ok := toneCurve(tags[t])
		if !ok {
			return false
		}
		for i := 0; i <= 64; i++ {
			v := float64(i) / 64
			if math.Abs(curve(v)-srgbToLinear(v)) > curveTolerance {
				return false
			}
		}
	}
	return true
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// s15f16 is the ICC's signed 15.16 fixed point number.
func s15f16(b []byte) float64 { return float64(int32(be32(b))) / 65536 }

// readXYZ reads an XYZType tag's first value.
func readXYZ(t []byte) ([3]float64, bool) {
	if len(t) < 20 || string(t[:4]) != "XYZ " {
		return [3]float64{}, false
	}
	return [3]float64{s15f16(t[8:]), s15f16(t[12:]), s15f16(t[16:])}, true
}

// toneCurve reads a curveType or parametricCurveType tag as a function from
// the encoded value to linear light, both in [0, 1].
func toneCurve(t []byte) (func(float64) float64, bool) {
	if len(t) < 12 {
		return nil, false
	}
	switch string(t[:4]) {
	case "curv":
		n := int(be32(t[8:]))
		if n < 2 || len(t) < 12+2*n {
			// 0 entries is the identity, 1 a pure gamma: neither is sRGB.
			return nil, false
		}
		table := t[12 : 12+2*n]
		return func(v float64) float64 {
			x := v * float64(n-1)
			i := min(int(x), n-2)
			f := x - float64(i)
			a := float64(binary.BigEndian.Uint16(table[2*i:])) / 65535
			b := float64(binary.BigEndian.Uint16(table[2*i+2:])) / 65535
			return a + f*(b-a)
		}, true
	case "para":
		fn := binary.BigEndian.Uint16(t[8:])
		counts := map[uint16]int{0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
		k, ok := counts[fn]
		if !ok || len(t) < 12+4*k {
			return nil, false
		}
		var g [7]float64
		for i := range k {
			g[i] = s15f16(t[12+4*i:])
		}
		gamma, a, b, c, d, e, f := g[0], g[1], g[2], g[3], g[4], g[5], g[6]
		pow := func(x float64) float64 {
			if x <= 0 {
				return 0
			}
			return math.Pow(x, gamma)
		}
		return func(x float64) float64 {
			switch fn {
			case 0:
				return pow(x)
			case 1:
				if x >= -b/a {
					return pow(a*x + b)
				}
				return 0
			case 2:
				if x >= -b/a {
					return pow(a*x+b) + c
				}
				return c
			case 3:
				if x >= d {
					return pow(a*x + b)
				}
				return c * x
			default:
				if x >= d {
					return pow(a*x+b) + e
				}
				return c*x + f
			}
		}, true
	}
	return nil, false
}

// srgbToLinear is sRGB's transfer function (IEC 61966-2-1).
func srgbToLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}
