package testmedia

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
)

// GIFSecret is the text AnimatedGIFWithMetadata hides in its comment and
// XMP: a rendition that contains it leaked the source's metadata.
const GIFSecret = "mediaedge-secret GPS 15 50 7.99 S 48 0 56.85 W"

// AnimatedGIFWithMetadata is a 4-frame 60x40 animated GIF (delays 100, 200,
// 300 and 400 ms, a different colour per frame) that carries metadata the
// way editors write it: a comment extension and an XMP application
// extension ("XMP DataXMP"), both holding GIFSecret, before the first frame.
func AnimatedGIFWithMetadata() []byte {
	pal := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	g := &gif.GIF{}
	for i, d := range []int{10, 20, 30, 40} {
		fr := image.NewPaletted(image.Rect(0, 0, 60, 40), pal)
		for p := range fr.Pix {
			fr.Pix[p] = uint8(i%3 + 1)
		}
		g.Image = append(g.Image, fr)
		g.Delay = append(g.Delay, d)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		panic(err) // in-memory encoding of valid frames cannot fail
	}
	src := b.Bytes()
	// Header (6) and logical screen descriptor (7), then the global colour
	// table if the packed field says there is one.
	at := 13
	if packed := src[10]; packed&0x80 != 0 {
		at += 3 << ((packed & 7) + 1)
	}
	xmp := `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">` +
		`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/"` +
		` exif:GPSLatitude="15,50.133S" exif:GPSLongitude="48,0.9475W" exif:UserComment="` + GIFSecret + `"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`
	var ext bytes.Buffer
	ext.Write([]byte{0x21, 0xfe}) // comment extension
	subBlocks(&ext, []byte(GIFSecret))
	ext.Write([]byte{0x21, 0xff, 11}) // application extension
	ext.WriteString("XMP DataXMP")
	subBlocks(&ext, []byte(xmp))
	out := append([]byte{}, src[:at]...)
	out = append(out, ext.Bytes()...)
	return append(out, src[at:]...)
}

// subBlocks writes data as GIF data sub-blocks and the block terminator.
func subBlocks(w *bytes.Buffer, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 255)
		w.WriteByte(byte(n))
		w.Write(data[:n])
		data = data[n:]
	}
	w.WriteByte(0)
}
