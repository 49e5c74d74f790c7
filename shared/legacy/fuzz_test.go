package legacy

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// FuzzManifest reads any bytes as a manifest, in CSV or JSON Lines, and
// holds the reader to its rules: it never panics and always ends; a line
// error is a *LineError of a known reason at a line of the file; line
// numbers grow; every line it returns is valid as the migration needs it
// (ids of the external shape, a normalized URL, a UTC time, a size and
// digest of the right shape, a chat image type); and writing the valid
// lines again with Writer and reading them back gives the same lines.
// The seed corpus (testdata/fuzz/FuzzManifest) holds a chat export of each
// format and the malformed lines of the unit tests.
func FuzzManifest(f *testing.F) {
	f.Add([]byte("message_id,appointment_id,sender_id,url,sent_at\nm1,a1,p1,https://old.example.com/chat/a.jpg,2023-01-02T03:04:05Z\n"), false)
	f.Add([]byte("url,sent_at,sender_id,message_id,appointment_id,size,sha256,content_type\n"+
		"https://old.example.com/a%20b.png,2023-01-02T03:04:05+01:00,p1,m1,a1,10,"+
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824,image/png\n"+
		"\"https://old.example.com/\"\"q\"\".png\",2023-01-02T03:04:05Z,p1,m2,a1,,,\n"), false)
	f.Add([]byte(`{"message_id":"m1","appointment_id":"a1","sender_id":"p1","url":"https://old.example.com/a.jpg","sent_at":"2023-01-02T03:04:05Z","size":5,"sha256":"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}`+"\n"), true)
	f.Add([]byte(`{"message_id":"m1","message_id":"m1"}`+"\n\n"+`{"url":"ftp://x/y"}`), true)
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		format := CSV
		if jsonl {
			format = JSONL
		}
		r, err := NewReader(bytes.NewReader(data), format)
		if err != nil {
			if format == JSONL {
				t.Fatalf("NewReader of JSON Lines failed: %v", err)
			}
			return // a CSV header that is not one
		}
		physical := bytes.Count(data, []byte("\n")) + 1
		var lines []Line
		last := 0
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("the reader returned more records than the input has bytes")
			}
			l, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var le *LineError
			if errors.As(err, &le) {
				if !slices.Contains(Reasons, le.Reason) || le.Line <= last || le.Line > physical {
					t.Fatalf("line error %v: unknown reason or line out of place (last %d, %d lines)", le, last, physical)
				}
				last = le.Line
				continue
			}
			if err != nil {
				return // a read that cannot go on: a line too long
			}
			if l.Number <= last || l.Number > physical {
				t.Fatalf("line number %d after %d, of %d lines", l.Number, last, physical)
			}
			last = l.Number
			checkLine(t, l)
			lines = append(lines, l)
		}
		if len(lines) == 0 {
			return
		}
		again, vs := readAll(t, written(t, lines, format), format)
		for i := range lines {
			lines[i].Number = 0
		}
		for i := range again {
			again[i].Number = 0
		}
		if diff := cmp.Diff(lines, again); diff != "" {
			t.Fatalf("lines written and read back differ (-first +again):\n%s\nverdicts %v", diff, vs)
		}
	})
}

// checkLine fails t unless l is a line the migration may take as it is.
func checkLine(t *testing.T, l Line) {
	t.Helper()
	for _, id := range []string{l.MessageID, l.AppointmentID, l.SenderID} {
		if !core.ValidExternalID(id) {
			t.Fatalf("line %d: id %q is not of the external shape", l.Number, id)
		}
	}
	if core.ReservedID(l.SenderID) {
		t.Fatalf("line %d: reserved sender %q", l.Number, l.SenderID)
	}
	if n, err := NormalizeURL(l.URL); err != nil || n != l.URL {
		t.Fatalf("line %d: url %q is not normalized (%q, %v)", l.Number, l.URL, n, err)
	}
	if l.SentAt.Location() != l.SentAt.UTC().Location() || l.SentAt.Year() < 1970 {
		t.Fatalf("line %d: sent_at %v", l.Number, l.SentAt)
	}
	if l.Size != -1 && (l.Size < 1 || l.Size > MaxSize) {
		t.Fatalf("line %d: size %d", l.Number, l.Size)
	}
	if l.SHA256 != nil && len(l.SHA256) != 32 {
		t.Fatalf("line %d: sha256 of %d bytes", l.Number, len(l.SHA256))
	}
	if l.ContentType != "" && !slices.Contains(core.ChatContentTypes, l.ContentType) {
		t.Fatalf("line %d: content type %q", l.Number, l.ContentType)
	}
}
