// Package legacy reads the export of the chat system that kept its images in
// a public bucket (ARCHITECTURE §9): the manifest, one image a line, in CSV
// or JSON Lines, strictly validated and numbered by line; the public URLs of
// that bucket, normalized so that one object has one URL; and the mapping
// from such a URL to the object's key in the legacy source.
//
// It imports no AWS package and no store: the migration engine (package
// migrate), the migration function and `medshare migrate` all read lines
// through it.
package legacy

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi/strictjson"
)

// Format is the syntax of a manifest.
type Format string

// The formats of a manifest.
const (
	// CSV is RFC 4180 CSV (encoding/csv) with a header row naming the
	// columns, in any order.
	CSV Format = "csv"
	// JSONL is JSON Lines: one JSON object a line.
	JSONL Format = "jsonl"
)

// FormatOf returns the format a manifest's file name says: .csv is CSV,
// .jsonl and .ndjson are JSON Lines; anything else is an error.
func FormatOf(name string) (Format, error) {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return CSV, nil
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".ndjson"):
		return JSONL, nil
	}
	return "", fmt.Errorf("manifest %s: name it .csv, .jsonl or .ndjson, or give its format", name)
}

// The columns (CSV) and members (JSON Lines) of a manifest line. The first
// five are required, the last three optional.
const (
	FieldMessageID     = "message_id"
	FieldAppointmentID = "appointment_id"
	FieldSenderID      = "sender_id"
	FieldURL           = "url"
	FieldSentAt        = "sent_at"
	FieldContentType   = "content_type"
	FieldSize          = "size"
	FieldSHA256        = "sha256"
)

// Fields lists every field, required ones first.
var Fields = []string{FieldMessageID, FieldAppointmentID, FieldSenderID, FieldURL, FieldSentAt, FieldContentType, FieldSize, FieldSHA256}

// requiredFields is how many of Fields, from the first, a line must have.
const requiredFields = 5

// Limits of a manifest.
const (
	// MaxPhysicalLine is the longest line of the file, in bytes: a longer one
	// stops the whole read (it is not a chat export).
	MaxPhysicalLine = 1 << 20
	// MaxURLBytes is the longest URL a line may give.
	MaxURLBytes = 2048
	// MaxSize is the largest image a line may declare: S3's single copy.
	MaxSize = core.MaxBlobSize
)

// Line is one valid line of a manifest: one image of the legacy chat.
type Line struct {
	// Number is the line of the file where the record starts (1-based; a
	// CSV header is line 1).
	Number        int
	MessageID     string
	AppointmentID string
	SenderID      string
	// URL is the image's public URL in normalized form (NormalizeURL).
	URL    string
	SentAt time.Time // UTC
	// ContentType is "" when the line does not give it.
	ContentType string
	// Size is -1 when the line does not give it.
	Size int64
	// SHA256 is nil when the line does not give it.
	SHA256 []byte
}

// LineError is a line that is not a valid image line: its number, a reason
// (ReasonMalformed) and what is wrong, which never quotes the line.
type LineError struct {
	Line    int
	Reason  string
	Message string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Reason, e.Message)
}

func malformed(line int, format string, args ...any) *LineError {
	return &LineError{Line: line, Reason: ReasonMalformed, Message: fmt.Sprintf(format, args...)}
}

// Reader reads a manifest one line at a time. Next returns each valid line,
// a *LineError for each invalid one (the reading goes on after it), io.EOF
// at the end, and any other error when the manifest cannot be read further
// (a CSV header that is not valid, a line longer than MaxPhysicalLine, the
// file failing).
type Reader struct {
	format Format
	lr     *lineLimiter
	// CSV
	csv     *csv.Reader
	columns []string // the header, by position
	// JSON Lines
	scan *bufio.Scanner
	line int
}

// NewReader returns a reader of a manifest in format. A CSV manifest's
// header is read now: a header that names a column twice, a column that is
// not one of Fields, or lacks a required one, is an error.
func NewReader(r io.Reader, format Format) (*Reader, error) {
	lr := &lineLimiter{r: r, line: 1}
	m := &Reader{format: format, lr: lr}
	switch format {
	case CSV:
		m.csv = csv.NewReader(lr)
		m.csv.FieldsPerRecord = -1 // each record is checked against the header here
		header, err := m.csv.Read()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("manifest: empty file: the first line must name the columns")
		}
		if err != nil {
			return nil, fmt.Errorf("manifest: header: %w", err)
		}
		if len(header) > 0 {
			header[0] = strings.TrimPrefix(header[0], "\uFEFF") // a UTF-8 byte order mark
		}
		for i, name := range header {
			switch {
			case !slices.Contains(Fields, name):
				return nil, fmt.Errorf("manifest: header: column %d is %q, not one of %s", i+1, clip(name), strings.Join(Fields, ", "))
			case slices.Contains(header[:i], name):
				return nil, fmt.Errorf("manifest: header: column %s is named twice", name)
			}
		}
		for _, name := range Fields[:requiredFields] {
			if !slices.Contains(header, name) {
				return nil, fmt.Errorf("manifest: header: the required column %s is missing", name)
			}
		}
		m.columns = header
	case JSONL:
		m.scan = bufio.NewScanner(lr)
		m.scan.Buffer(make([]byte, 0, 64<<10), MaxPhysicalLine+1)
	default:
		return nil, fmt.Errorf("manifest: unknown format %q (csv or jsonl)", format)
	}
	return m, nil
}

// Next returns the next line; see Reader.
func (m *Reader) Next() (Line, error) {
	if m.format == CSV {
		return m.nextCSV()
	}
	return m.nextJSONL()
}

func (m *Reader) nextCSV() (Line, error) {
	rec, err := m.csv.Read()
	if m.lr.err != nil {
		return Line{}, m.lr.err
	}
	var pe *csv.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return Line{}, io.EOF
	case errors.As(err, &pe) && !errors.Is(err, csv.ErrFieldCount):
		return Line{}, malformed(pe.StartLine, "not valid CSV: %v", pe.Err)
	case err != nil:
		return Line{}, fmt.Errorf("manifest: %w", err)
	}
	number, _ := m.csv.FieldPos(0)
	if len(rec) != len(m.columns) {
		return Line{}, malformed(number, "%d fields where the header names %d", len(rec), len(m.columns))
	}
	fields := make(map[string]string, len(rec))
	for i, v := range rec {
		if v != "" {
			fields[m.columns[i]] = v
		}
	}
	return parseFields(number, fields, nil)
}

// jsonLine is one JSON Lines record. Every member is optional here so that
// a missing one is told by name; Size is a number, the rest strings.
type jsonLine struct {
	MessageID     *string `json:"message_id"`
	AppointmentID *string `json:"appointment_id"`
	SenderID      *string `json:"sender_id"`
	URL           *string `json:"url"`
	SentAt        *string `json:"sent_at"`
	ContentType   *string `json:"content_type"`
	Size          *int64  `json:"size"`
	SHA256        *string `json:"sha256"`
}

func (m *Reader) nextJSONL() (Line, error) {
	for {
		if !m.scan.Scan() {
			if m.lr.err != nil {
				return Line{}, m.lr.err
			}
			if err := m.scan.Err(); err != nil {
				return Line{}, fmt.Errorf("manifest: %w", err)
			}
			return Line{}, io.EOF
		}
		if m.lr.err != nil {
			return Line{}, m.lr.err // the scanner hands out what it read before the error
		}
		m.line++
		raw := bytes.TrimSuffix(m.scan.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(raw)) == 0 {
			continue // blank lines separate nothing; they are skipped, as CSV's are
		}
		return ParseJSONLine(m.line, raw)
	}
}

// ParseJSONLine parses one JSON Lines record, the line numbered number: a
// JSON object with the members of Fields and no other, each at most once,
// in valid UTF-8 (strictjson's rules, the API's). Size is a JSON number,
// the other members strings.
func ParseJSONLine(number int, raw []byte) (Line, error) {
	if t := bytes.TrimLeft(raw, " \t"); len(t) == 0 || t[0] != '{' {
		return Line{}, malformed(number, "a line must be a JSON object")
	}
	var j jsonLine
	if err := strictjson.Unmarshal(raw, &j); err != nil {
		return Line{}, malformed(number, "not a valid JSON object of the manifest: %s", jsonProblem(err))
	}
	fields := map[string]string{}
	for _, f := range []struct {
		name string
		v    *string
	}{
		{FieldMessageID, j.MessageID}, {FieldAppointmentID, j.AppointmentID}, {FieldSenderID, j.SenderID},
		{FieldURL, j.URL}, {FieldSentAt, j.SentAt}, {FieldContentType, j.ContentType}, {FieldSHA256, j.SHA256},
	} {
		if f.v != nil {
			if *f.v == "" {
				return Line{}, malformed(number, "%s is empty: leave it out instead", f.name)
			}
			fields[f.name] = *f.v
		}
	}
	return parseFields(number, fields, j.Size)
}

// jsonProblem says what strictjson refused, naming the member and never
// quoting a value.
func jsonProblem(err error) string {
	var refused *strictjson.Error
	if errors.As(err, &refused) {
		return clip(refused.Error())
	}
	return "malformed JSON"
}

// ParseFields validates one line given as named fields (absent optional
// fields are absent from the map, never empty), as a CSV record or a Step
// Functions item carries it, size included as decimal text. Every error is
// a *LineError.
func ParseFields(number int, fields map[string]string) (Line, error) {
	return parseFields(number, fields, nil)
}

func parseFields(number int, fields map[string]string, size *int64) (Line, error) {
	for name := range fields {
		if !slices.Contains(Fields, name) {
			return Line{}, malformed(number, "%q is not a field of the manifest", clip(name))
		}
	}
	for _, name := range Fields[:requiredFields] {
		if fields[name] == "" {
			return Line{}, malformed(number, "%s is missing", name)
		}
	}
	for _, name := range Fields {
		v := fields[name]
		switch {
		case !utf8.ValidString(v):
			return Line{}, malformed(number, "%s is not valid UTF-8", name)
		case strings.TrimSpace(v) != v:
			return Line{}, malformed(number, "%s has spaces around it", name)
		}
	}
	l := Line{Number: number, Size: -1}
	for _, f := range []struct {
		name string
		out  *string
	}{
		{FieldMessageID, &l.MessageID}, {FieldAppointmentID, &l.AppointmentID}, {FieldSenderID, &l.SenderID},
	} {
		v := fields[f.name]
		if !core.ValidExternalID(v) {
			return Line{}, malformed(number, "%s must be 1-128 characters of letters, digits and ._:@-", f.name)
		}
		*f.out = v
	}
	if core.ReservedID(l.SenderID) {
		return Line{}, malformed(number, "sender_id is reserved for the service")
	}
	raw := fields[FieldURL]
	if len(raw) > MaxURLBytes {
		return Line{}, malformed(number, "url is longer than %d bytes", MaxURLBytes)
	}
	u, err := NormalizeURL(raw)
	if err != nil {
		return Line{}, malformed(number, "url: %v", err)
	}
	l.URL = u
	at, err := time.Parse(time.RFC3339Nano, fields[FieldSentAt])
	if err != nil {
		return Line{}, malformed(number, "sent_at is not an RFC 3339 time")
	}
	if at.Year() < 1970 || at.Year() > 9999 {
		return Line{}, malformed(number, "sent_at must be between 1970 and 9999")
	}
	l.SentAt = at.UTC()
	if ct := fields[FieldContentType]; ct != "" {
		ct = strings.ToLower(ct)
		if !slices.Contains(core.ChatContentTypes, ct) {
			return Line{}, &LineError{Line: number, Reason: ReasonUnsupportedType,
				Message: "content_type must be one of " + strings.Join(core.ChatContentTypes, ", ")}
		}
		l.ContentType = ct
	}
	switch {
	case size != nil:
		l.Size = *size
	case fields[FieldSize] != "":
		v := fields[FieldSize]
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != v {
			return Line{}, malformed(number, "size is not a whole number of bytes written in decimal")
		}
		l.Size = n
	}
	if l.Size != -1 && (l.Size < 1 || l.Size > MaxSize) {
		return Line{}, malformed(number, "size must be between 1 and %d bytes", int64(MaxSize))
	}
	if v := fields[FieldSHA256]; v != "" {
		sum, err := ParseSHA256(v)
		if err != nil {
			return Line{}, malformed(number, "sha256: %v", err)
		}
		l.SHA256 = sum
	}
	return l, nil
}

// ParseSHA256 reads a SHA-256 written as 64 hexadecimal digits (as
// sha256sum writes it) or as the standard base64 of its 32 bytes, with
// padding (as the API writes it). The two cannot be confused: 64 characters
// of base64 are 48 bytes.
func ParseSHA256(v string) ([]byte, error) {
	if len(v) == 64 {
		b, err := hex.DecodeString(v)
		if err != nil {
			return nil, errors.New("64 characters, but not hexadecimal")
		}
		return b, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != 32 {
		return nil, errors.New("neither 64 hexadecimal digits nor the standard base64 of 32 bytes")
	}
	return b, nil
}

// clip quotes at most 64 bytes of s in messages.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// lineLimiter passes a reader through and fails once a line (bytes between
// newlines) is longer than MaxPhysicalLine, so that a file that is not a
// manifest cannot make the reader buffer it whole. It counts the lines it
// has passed.
type lineLimiter struct {
	r    io.Reader
	run  int // bytes since the last newline
	line int
	err  error
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
			l.line++
			continue
		}
		l.run++
		if l.run > MaxPhysicalLine {
			l.err = fmt.Errorf("manifest: line %d is longer than %d bytes: not a chat export", l.line, MaxPhysicalLine)
			return 0, l.err
		}
	}
	return n, err
}
