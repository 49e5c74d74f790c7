package legacy

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Writer writes lines as a manifest that Reader reads back: a CSV header of
// every field, or one JSON object a line. Optional fields a line does not
// have are left empty (CSV) or out (JSON Lines). Tests and tools make
// manifests with it; the chat system's export needs nothing of it.
type Writer struct {
	format Format
	w      io.Writer
	csv    *csv.Writer
}

// NewWriter returns a writer of a manifest in format; a CSV header is
// written with the first line.
func NewWriter(w io.Writer, format Format) (*Writer, error) {
	switch format {
	case CSV:
		c := csv.NewWriter(w)
		if err := c.Write(Fields); err != nil {
			return nil, err
		}
		return &Writer{format: format, w: w, csv: c}, nil
	case JSONL:
		return &Writer{format: format, w: w}, nil
	}
	return nil, fmt.Errorf("manifest: unknown format %q", format)
}

// Record returns the line's fields as the manifest writes them.
func (l Line) Record() map[string]string {
	out := map[string]string{
		FieldMessageID: l.MessageID, FieldAppointmentID: l.AppointmentID, FieldSenderID: l.SenderID,
		FieldURL: l.URL, FieldSentAt: l.SentAt.UTC().Format(time.RFC3339Nano),
	}
	if l.ContentType != "" {
		out[FieldContentType] = l.ContentType
	}
	if l.Size >= 0 {
		out[FieldSize] = strconv.FormatInt(l.Size, 10)
	}
	if l.SHA256 != nil {
		out[FieldSHA256] = base64.StdEncoding.EncodeToString(l.SHA256)
	}
	return out
}

// Write writes one line; its Number is not written.
func (w *Writer) Write(l Line) error {
	rec := l.Record()
	if w.format == CSV {
		row := make([]string, len(Fields))
		for i, f := range Fields {
			row[i] = rec[f]
		}
		return w.csv.Write(row)
	}
	obj := map[string]any{}
	for k, v := range rec {
		obj[k] = v
	}
	if l.Size >= 0 {
		obj[FieldSize] = l.Size
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = w.w.Write(append(b, '\n'))
	return err
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	if w.csv != nil {
		w.csv.Flush()
		return w.csv.Error()
	}
	return nil
}
