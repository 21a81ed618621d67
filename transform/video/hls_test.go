package video

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// packetHashes lists the MD5 of every video packet, copied without
// decoding: equal lists mean the bytes were not re-encoded.
func packetHashes(t *testing.T, input ...string) []string {
	t.Helper()
	args := append([]string{"-v", "error", "-protocol_whitelist", "file"}, input...)
	out, err := exec.Command("ffmpeg", append(args, "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "pipe:1")...).Output()
	if err != nil {
		t.Fatalf("framemd5 %v: %v", input, err)
	}
	var hashes []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ","); len(f) == 6 && !strings.HasPrefix(line, "#") {
			hashes = append(hashes, strings.TrimSpace(f[5]))
		}
	}
	return hashes
}

// segmentLengths reads the #EXTINF durations of a media playlist and checks
// its VOD framing.
func segmentLengths(t *testing.T, playlist []byte) []float64 {
	t.Helper()
	pl := string(playlist)
	for _, want := range []string{"#EXTM3U", "#EXT-X-PLAYLIST-TYPE:VOD", `#EXT-X-MAP:URI="init.mp4"`, "#EXT-X-ENDLIST", "#EXT-X-INDEPENDENT-SEGMENTS"} {
		if !strings.Contains(pl, want) {
			t.Fatalf("playlist lacks %s:\n%s", want, pl)
		}
	}
	var ds []float64
	lines := strings.Split(pl, "\n")
	for i, line := range lines {
		if d, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(d, ","), 64)
			ds = append(ds, v)
			if i+1 >= len(lines) || strings.Contains(lines[i+1], "/") || !strings.HasSuffix(lines[i+1], ".m4s") {
				t.Fatalf("segment URI after EXTINF is %q: want a name relative to the playlist", lines[i+1])
			}
		}
	}
	return ds
}

func TestHLS(t *testing.T) {
	c := newConv(t)
	// A phone-like clip: 1080p H.264 with a keyframe every 2 s, AAC audio.
	phone := makeVideo(t, "phone.mp4", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=9", "-f", "lavfi", "-i", "sine=duration=9",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "600k", "-pix_fmt", "yuv420p", "-g", "60", "-c:a", "aac", "-shortest", "-movflags", "+faststart")
	// An old codec (MPEG-4 part 2) with MP3 audio: transcoded.
	mpeg4 := makeVideo(t, "old.avi", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=9", "-f", "lavfi", "-i", "sine=duration=9",
		"-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest")
	// H.264 with Opus in Matroska: video copied, audio made AAC.
	opus := makeVideo(t, "talk.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=9", "-f", "lavfi", "-i", "sine=duration=9",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-shortest")
	for _, tc := range []struct {
		name, path, ct string
		remuxed        bool
		w, h           int
	}{
		{"h264/aac phone video", phone, "video/mp4", true, 1920, 1080},
		{"mpeg4/mp3 avi", mpeg4, "video/x-msvideo", false, 320, 240},
		{"h264/opus mkv", opus, "video/x-matroska", true, 320, 240},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			res, err := c.PackageHLS(context.Background(), tc.path, tc.ct, out, 4)
			if err != nil {
				t.Fatal(err)
			}
			if res.Remuxed != tc.remuxed {
				t.Errorf("remuxed %v, want %v", res.Remuxed, tc.remuxed)
			}
			pl, err := os.ReadFile(filepath.Join(out, res.Playlist))
			if err != nil {
				t.Fatal(err)
			}
			ds := segmentLengths(t, pl)
			if len(ds) != len(res.Segments) || len(ds) < 2 {
				t.Fatalf("%d EXTINF, segments %v", len(ds), res.Segments)
			}
			total := 0.0
			for i, d := range ds {
				total += d
				if d > 6.05 || (i < len(ds)-1 && d < 3.95) {
					t.Errorf("segment %d lasts %.3f s, want 4-6 s (the last may be shorter)", i, d)
				}
			}
			if total < 8.8 || total > 9.2 {
				t.Errorf("segments add up to %.3f s, want 9", total)
			}
			// ffprobe reads the package as a player would: H.264 + AAC.
			info, err := c.Probe(context.Background(), filepath.Join(out, res.Init), "video/mp4")
			if err != nil || info.VideoCodec != "h264" || info.AudioCodec != "aac" || info.Width != tc.w || info.Height != tc.h {
				t.Fatalf("init segment: %+v %v", info, err)
			}
			got, err := exec.Command("ffprobe", "-v", "error", "-protocol_whitelist", "file", "-show_entries", "stream=codec_name,pix_fmt",
				"-of", "csv=p=0", filepath.Join(out, res.Playlist)).Output()
			if err != nil || !bytes.HasPrefix(got, []byte("h264,yuv420p\naac")) {
				t.Fatalf("ffprobe of the playlist: %q %v", got, err)
			}
			// A remux copies every video packet bit for bit.
			src, hls := packetHashes(t, "-i", tc.path), packetHashes(t, "-i", filepath.Join(out, res.Playlist))
			same := len(src) == len(hls)
			for i := 0; same && i < len(src); i++ {
				same = src[i] == hls[i]
			}
			if same != tc.remuxed {
				t.Errorf("packets identical to the source: %v (%d vs %d packets), want %v", same, len(src), len(hls), tc.remuxed)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"index.m3u8": "application/vnd.apple.mpegurl", "init.mp4": "video/mp4", "seg_00001.m4s": "video/mp4",
		"seg_00001.ts": "video/mp2t", "x.bin": "application/octet-stream",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}
