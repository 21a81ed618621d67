package exifstrip

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

const rdfHead = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">`
const rdfTail = `</rdf:RDF></x:xmpmeta>`

func TestBlankXMP(t *testing.T) {
	tests := []struct {
		name, in string
		keep     []string // must still be there
	}{
		{
			name: "elements",
			in: `<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">` +
				`<exif:GPSLatitude>15,50.13316667S</exif:GPSLatitude>` +
				`<dc:title><rdf:Alt><rdf:li xml:lang="x-default">GPS walk</rdf:li></rdf:Alt></dc:title>` +
				`<exif:GPSLongitude>48,0.9475W</exif:GPSLongitude></rdf:Description>`,
			keep: []string{`<rdf:li xml:lang="x-default">GPS walk</rdf:li>`, `xmlns:exif=`},
		},
		{
			name: "attributes",
			in: `<rdf:Description rdf:about='' xmlns:exif='http://ns.adobe.com/exif/1.0/' exif:GPSLatitude='15,50.13316667S'` +
				"\n\texif:GPSLongitude=\"48,0.9475W\" exif:ExposureTime='1/60' exif:GPSVersionID=\"2.3.0.0\"/>",
			keep: []string{`exif:ExposureTime='1/60'`, `rdf:about=''`},
		},
		{
			name: "nested structure and qualifiers",
			in: `<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:exif="http://ns.adobe.com/exif/1.0/">` +
				`<Iptc4xmpExt:LocationCreated><rdf:Bag><rdf:li rdf:parseType="Resource">` +
				`<Iptc4xmpExt:City>Brasília</Iptc4xmpExt:City>` +
				`<exif:GPSLatitude>15,50.13316667S</exif:GPSLatitude>` +
				`</rdf:li></rdf:Bag></Iptc4xmpExt:LocationCreated></rdf:Description>`,
			keep: []string{`<Iptc4xmpExt:City>Brasília</Iptc4xmpExt:City>`},
		},
		{
			name: "GPS element with children, self-closing, other vendors",
			in: `<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" xmlns:gps="urn:x-gps" xmlns:exif="http://ns.adobe.com/exif/1.0/">` +
				`<exif:GPSAreaInformation><rdf:Alt><rdf:li xml:lang="x-default">x</rdf:li></rdf:Alt></exif:GPSAreaInformation>` +
				`<exif:GPSDOP/><drone-dji:GpsLatitude>-15.835553</drone-dji:GpsLatitude>` +
				`<gps:note>a gps-prefixed element that is not a GPS property</gps:note></rdf:Description>`,
			keep: []string{`xmlns:gps="urn:x-gps"`, `<gps:note>`},
		},
		{
			name: "nothing to do",
			in:   `<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/jpeg"/>`,
			keep: []string{`dc:format="image/jpeg"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>" + rdfHead + tc.in + rdfTail +
				strings.Repeat(" ", 40) + "<?xpacket end='w'?>\x00\x00"
			p := []byte(in)
			if err := blankXMP(p); err != nil {
				t.Fatal(err)
			}
			if len(p) != len(in) {
				t.Fatal("length changed")
			}
			for i := range p {
				if p[i] != in[i] && p[i] != ' ' {
					t.Fatalf("byte %d became %q, not a space", i, p[i])
				}
			}
			if n := gpsNames(t, p); n != 0 {
				t.Errorf("%d GPS names left in\n%s", n, p)
			}
			for _, k := range tc.keep {
				if !bytes.Contains(p, []byte(k)) {
					t.Errorf("lost %q:\n%s", k, p)
				}
			}
		})
	}
}

// gpsNames parses p (which must be well-formed) and counts the elements
// and attributes whose local name starts with GPS.
func gpsNames(t *testing.T, p []byte) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimRight(p, "\x00")))
	n := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("not well-formed after blanking: %v\n%s", err, p)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if isGPSName(se.Name.Local) {
				n++
			}
			for _, a := range se.Attr {
				if isGPSName(a.Name.Local) && a.Name.Space != "xmlns" {
					n++
				}
			}
		}
	}
}

func TestBlankXMPMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"unclosed":        rdfHead + `<rdf:Description><exif:GPSLatitude>1`,
		"mismatched":      rdfHead + `<a></b>` + rdfTail,
		"unknown entity":  rdfHead + `<a>&secret;</a>` + rdfTail,
		"UTF-16 declared": `<?xml version="1.0" encoding="UTF-16"?>` + rdfHead + rdfTail,
		"NUL inside":      rdfHead + "\x00" + rdfTail,
	} {
		p := []byte(in)
		if err := blankXMP(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
		if string(p) != in {
			t.Errorf("%s: input changed on error", name)
		}
	}
}
