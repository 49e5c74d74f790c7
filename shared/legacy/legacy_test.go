package legacy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// verdict is what the reader said of one line: valid, or its reason.
type verdict struct {
	Line   int
	Reason string // "" for a valid line
}

// readAll reads a manifest and returns its valid lines and every line's
// verdict, in order.
func readAll(t *testing.T, text string, format Format) ([]Line, []verdict) {
	t.Helper()
	r, err := NewReader(strings.NewReader(text), format)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var lines []Line
	var vs []verdict
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			return lines, vs
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			vs = append(vs, verdict{le.Line, le.Reason})
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			lines = append(lines, l)
			vs = append(vs, verdict{l.Number, ""})
		}
	}
}

func digest(s string) []byte { sum := sha256.Sum256([]byte(s)); return sum[:] }

var sentAt = time.Date(2023, 4, 5, 6, 7, 9, 0, time.UTC)

func TestReadCSV(t *testing.T) {
	sum := digest("one")
	// The header names the columns in another order than Fields.
	header := "sender_id,url,message_id,appointment_id,sent_at,size,sha256,content_type"
	rows := []struct {
		row    string
		reason string // "" when valid
	}{
		{"pat-1,https://Old.Example.com:443/chat/a%20b.jpg?x=1#f,m1,appt-1,2023-04-05T08:07:09+02:00,3," + hex.EncodeToString(sum) + ",IMAGE/JPEG", ""},
		{"pro-1,http://old.example.com/chat/c.png,m2,appt-1,2023-04-05T06:07:09Z,,,", ""},
		{"pro-1,https://old.example.com/chat/d.png,m3,appt-1,2023-04-05T06:07:09Z", ReasonMalformed}, // 5 fields where the header names 8
		{"pro-1,https://old.example.com/chat/e.png,m4,appt-1,not-a-time,,,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/f.png,m5,appt 1,2023-04-05T06:07:09Z,,,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/g.png,m6,appt-1,2023-04-05T06:07:09Z,,,text/plain", ReasonUnsupportedType},
		{"pro-1,https://old.example.com/chat/h.png,m7,appt-1,2023-04-05T06:07:09Z,0,,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/i.png,m8,appt-1,2023-04-05T06:07:09Z,+3,,", ReasonMalformed},
		{"pro-1,ftp://old.example.com/chat/j.png,m9,appt-1,2023-04-05T06:07:09Z,,,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/k.png,m10,appt-1,2023-04-05T06:07:09Z,,abcd,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/l\"m.png,m11,appt-1,2023-04-05T06:07:09Z,,,", ReasonMalformed}, // a bare quote
		{"medshare-migration,https://old.example.com/chat/n.png,m12,appt-1,2023-04-05T06:07:09Z,,,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/../o.png,m13,appt-1,2023-04-05T06:07:09Z,,,", ReasonMalformed},
		{"pro-1, https://old.example.com/chat/p.png,m14,appt-1,2023-04-05T06:07:09Z,,,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/q.png,m15,appt-1,2023-04-05T06:07:09Z,12,\"" + base64.StdEncoding.EncodeToString(sum) + "\",", ""},
		{"pro-1,https://old.example.com/chat/r.png,m16,appt-1,2023-04-05T06:07:09Z,,,,", ReasonMalformed}, // 9 fields
		{"pro-1,\"https://old.example.com/chat/two\nlines.png\",m17,appt-1,2023-04-05T06:07:09Z,,,", ReasonMalformed},
		{"pro-1,https://old.example.com/chat/s.png,m18,appt-1,2023-04-05T06:07:09Z,,,", ""},
	}
	var b strings.Builder
	b.WriteString("\uFEFF" + header + "\n\n") // a byte order mark, and a blank line, which is skipped
	var want []verdict
	line := 3
	for _, r := range rows {
		b.WriteString(r.row + "\r\n")
		want = append(want, verdict{line, r.reason})
		line += 1 + strings.Count(r.row, "\n")
	}
	lines, got := readAll(t, b.String(), CSV)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	wantLines := []Line{
		{Number: 3, MessageID: "m1", AppointmentID: "appt-1", SenderID: "pat-1", URL: "https://old.example.com/chat/a%20b.jpg",
			SentAt: sentAt, ContentType: "image/jpeg", Size: 3, SHA256: sum},
		{Number: 4, MessageID: "m2", AppointmentID: "appt-1", SenderID: "pro-1", URL: "https://old.example.com/chat/c.png",
			SentAt: sentAt, Size: -1},
		{Number: 17, MessageID: "m15", AppointmentID: "appt-1", SenderID: "pro-1", URL: "https://old.example.com/chat/q.png",
			SentAt: sentAt, Size: 12, SHA256: sum},
		{Number: 21, MessageID: "m18", AppointmentID: "appt-1", SenderID: "pro-1", URL: "https://old.example.com/chat/s.png",
			SentAt: sentAt, Size: -1},
	}
	if diff := cmp.Diff(wantLines, lines); diff != "" {
		t.Errorf("valid lines (-want +got):\n%s", diff)
	}
}

func TestCSVHeaderRefused(t *testing.T) {
	for _, tc := range []struct {
		name, text string
	}{
		{"empty file", ""},
		{"unknown column", "message_id,appointment_id,sender_id,url,sent_at,caption\n"},
		{"column twice", "message_id,appointment_id,sender_id,url,sent_at,url\n"},
		{"required column missing", "message_id,appointment_id,url,sent_at\n"},
		{"case differs", "Message_ID,appointment_id,sender_id,url,sent_at\n"},
		{"header not CSV", "message_id,\"appointment_id\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewReader(strings.NewReader(tc.text), CSV); err == nil {
				t.Fatal("NewReader accepted the header")
			}
		})
	}
}

func TestReadJSONL(t *testing.T) {
	sum := digest("two")
	rows := []struct {
		row    string
		reason string
	}{
		{`{"message_id":"m1","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/a.jpg","sent_at":"2023-04-05T06:07:09Z","size":3,"sha256":"` + base64.StdEncoding.EncodeToString(sum) + `","content_type":"image/webp"}`, ""},
		{`{"message_id":"m2","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/b.jpg","sent_at":"2023-04-05T06:07:09Z","caption":"hi"}`, ReasonMalformed},
		{`{"message_id":"m3","message_id":"m3","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/c.jpg","sent_at":"2023-04-05T06:07:09Z"}`, ReasonMalformed},
		{`{"message_id":"m4","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/d.jpg","sent_at":"2023-04-05T06:07:09Z","size":"3"}`, ReasonMalformed},
		{`{"message_id":"m5","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/e.jpg","sent_at":"2023-04-05T06:07:09Z","size":1.5}`, ReasonMalformed},
		{`{"message_id":"m6","appointment_id":"appt-1","url":"https://old.example.com/chat/f.jpg","sent_at":"2023-04-05T06:07:09Z"}`, ReasonMalformed},
		{`["m7"]`, ReasonMalformed},
		{`null`, ReasonMalformed},
		{`{"message_id":"m9","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/g.jpg","sent_at":"2023-04-05T06:07:09Z"} {}`, ReasonMalformed},
		{"{\"message_id\":\"m10\",\"appointment_id\":\"appt-1\",\"sender_id\":\"pat-1\",\"url\":\"https://old.example.com/chat/\xff.jpg\",\"sent_at\":\"2023-04-05T06:07:09Z\"}", ReasonMalformed},
		{`{"message_id":"m11","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/h.jpg","sent_at":"2023-04-05T06:07:09Z","content_type":""}`, ReasonMalformed},
		{`{"message_id":"m12","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/i.jpg","sent_at":"2023-04-05T06:07:09Z","content_type":"image/svg+xml"}`, ReasonUnsupportedType},
		{`{"Message_id":"m13","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/j.jpg","sent_at":"2023-04-05T06:07:09Z"}`, ReasonMalformed},
		{`{"message_id":"m14","appointment_id":"appt-1","sender_id":"pat-1","url":"https://old.example.com/chat/k.jpg","sent_at":"2023-04-05T06:07:09Z"}`, ""},
	}
	var b strings.Builder
	var want []verdict
	for i, r := range rows {
		if i == 3 {
			b.WriteString("   \n") // a blank line is skipped but counted
		}
		b.WriteString(r.row + "\n")
		n := i + 1
		if i >= 3 {
			n++
		}
		want = append(want, verdict{n, r.reason})
	}
	lines, got := readAll(t, b.String(), JSONL)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	wantLines := []Line{
		{Number: 1, MessageID: "m1", AppointmentID: "appt-1", SenderID: "pat-1", URL: "https://old.example.com/chat/a.jpg",
			SentAt: sentAt, ContentType: "image/webp", Size: 3, SHA256: sum},
		{Number: 15, MessageID: "m14", AppointmentID: "appt-1", SenderID: "pat-1", URL: "https://old.example.com/chat/k.jpg",
			SentAt: sentAt, Size: -1},
	}
	if diff := cmp.Diff(wantLines, lines); diff != "" {
		t.Errorf("valid lines (-want +got):\n%s", diff)
	}
}

func TestLongLineStopsTheRead(t *testing.T) {
	for _, format := range []Format{CSV, JSONL} {
		t.Run(string(format), func(t *testing.T) {
			text := strings.Join(Fields, ",") + "\n" + strings.Repeat("x", MaxPhysicalLine+1) + "\n"
			if format == JSONL {
				text = strings.Repeat("x", MaxPhysicalLine+1) + "\n"
			}
			r, err := NewReader(strings.NewReader(text), format)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Next()
			var le *LineError
			if err == nil || errors.Is(err, io.EOF) || errors.As(err, &le) {
				t.Fatalf("Next = %v, want an error that stops the read", err)
			}
		})
	}
}

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" when refused
	}{
		{"https://old.example.com/chat/a.jpg", "https://old.example.com/chat/a.jpg"},
		{"HTTPS://OLD.Example.COM:443/chat/A.jpg", "https://old.example.com/chat/A.jpg"},
		{"http://old.example.com:80/chat/a.jpg", "https://old.example.com/chat/a.jpg"},
		{"http://old.example.com:8080/chat/a.jpg", "https://old.example.com:8080/chat/a.jpg"},
		{"https://old.example.com/chat/a.jpg?X-Amz-Signature=abc#top", "https://old.example.com/chat/a.jpg"},
		{"https://old.example.com/chat/%61%2Cb%20c.jpg", "https://old.example.com/chat/a,b%20c.jpg"},
		{"https://old.example.com/chat/%C3%A9t%C3%A9.jpg", "https://old.example.com/chat/%C3%A9t%C3%A9.jpg"},
		{"https://[::1]:8443/chat/a.jpg", "https://[::1]:8443/chat/a.jpg"},
		{"https://old.example.com/chat/a%2Fb.jpg", "https://old.example.com/chat/a/b.jpg"},
		{"ftp://old.example.com/a.jpg", ""},
		{"https://user:pw@old.example.com/a.jpg", ""},
		{"https://old.example.com", ""},
		{"https://old.example.com/", ""},
		{"https:///a.jpg", ""},
		{"https://old.example.com/a/../b.jpg", ""},
		{"https://old.example.com/a/%2E%2E/b.jpg", ""},
		{"https://old.example.com/a%00.jpg", ""},
		{"https://old.example.com/a%ff.jpg", ""},
		{"https://old.example.com/a b.jpg", ""},
		{"https://old.example.com/a%zz.jpg", ""},
		{"/chat/a.jpg", ""},
		{"mailto:someone@example.com", ""},
	} {
		got, err := NormalizeURL(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("NormalizeURL(%q) = %q, want an error", tc.in, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err == nil {
			if again, err := NormalizeURL(got); err != nil || again != got {
				t.Errorf("NormalizeURL is not idempotent on %q: %q, %v", got, again, err)
			}
		}
	}
}

func TestOriginKeys(t *testing.T) {
	o, err := NewOrigin("HTTPS://Old-Chat.nyc3.digitaloceanspaces.com/images", "chat/")
	if err != nil {
		t.Fatal(err)
	}
	if o.URLPrefix != "https://old-chat.nyc3.digitaloceanspaces.com/images/" {
		t.Errorf("URLPrefix = %q", o.URLPrefix)
	}
	for _, tc := range []struct {
		url, key string // key "" when refused
	}{
		{"https://old-chat.nyc3.digitaloceanspaces.com/images/2023/a%20b.jpg", "chat/2023/a b.jpg"},
		{"https://old-chat.nyc3.digitaloceanspaces.com/images/%C3%A9.png", "chat/é.png"},
		{"https://old-chat.nyc3.digitaloceanspaces.com/imagesX/a.jpg", ""},
		{"https://other.example.com/images/a.jpg", ""},
		{"https://old-chat.nyc3.digitaloceanspaces.com/images/", ""},
		{"https://old-chat.nyc3.digitaloceanspaces.com/images/" + strings.Repeat("k", MaxKeyBytes), ""},
	} {
		key, err := o.Key(tc.url)
		switch {
		case tc.key == "" && err == nil:
			t.Errorf("Key(%q) = %q, want an error", tc.url, key)
		case tc.key != "" && (err != nil || key != tc.key):
			t.Errorf("Key(%q) = %q, %v; want %q", tc.url, key, err, tc.key)
		}
		if err == nil {
			back, err := o.URL(key)
			if err != nil || back != tc.url {
				t.Errorf("URL(%q) = %q, %v; want %q", key, back, err, tc.url)
			}
		}
	}
	for _, bad := range [][2]string{{"", ""}, {"ftp://x/", ""}, {"https://x/", "nolastslash"}, {"https://x/", "/abs/"}} {
		if _, err := NewOrigin(bad[0], bad[1]); err == nil {
			t.Errorf("NewOrigin(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestParseSHA256(t *testing.T) {
	sum := digest("x")
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{hex.EncodeToString(sum), true},
		{strings.ToUpper(hex.EncodeToString(sum)), true},
		{base64.StdEncoding.EncodeToString(sum), true},
		{base64.RawStdEncoding.EncodeToString(sum), false},
		{base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), false},
		{hex.EncodeToString(sum[:31]), false},
		{"", false},
	} {
		got, err := ParseSHA256(tc.in)
		if tc.ok != (err == nil) || (tc.ok && !bytes.Equal(got, sum)) {
			t.Errorf("ParseSHA256(%q) = %x, %v", tc.in, got, err)
		}
	}
}

// written is what a Writer writes of lines in format.
func written(t *testing.T, lines []Line, format Format) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if err := w.Write(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestWriterRoundTrip: what Writer writes, Reader reads back, in both
// formats, optional fields present or not.
func TestWriterRoundTrip(t *testing.T) {
	lines := []Line{
		{MessageID: "m1", AppointmentID: "a", SenderID: "s", URL: "https://h.example/a%20b,c.jpg", SentAt: sentAt, Size: -1},
		{MessageID: "m2", AppointmentID: "a", SenderID: "s", URL: "https://h.example/x.png", SentAt: sentAt.Add(time.Nanosecond),
			ContentType: "image/png", Size: 42, SHA256: digest("y")},
	}
	for _, format := range []Format{CSV, JSONL} {
		t.Run(string(format), func(t *testing.T) {
			got, vs := readAll(t, written(t, lines, format), format)
			for i := range got {
				got[i].Number = 0
			}
			if diff := cmp.Diff(lines, got); diff != "" {
				t.Errorf("read back (-want +got):\n%s\nverdicts %v", diff, vs)
			}
		})
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]Format{"export.csv": CSV, "EXPORT.CSV": CSV, "a.jsonl": JSONL, "b.ndjson": JSONL, "c.json": ""} {
		got, err := FormatOf(name)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("FormatOf(%q) = %q, %v", name, got, err)
		}
	}
}
