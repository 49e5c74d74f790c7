package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy"
)

// FunctionName is the migration function's: the Lambda function that AWS
// Step Functions' distributed map invokes for each line of a manifest
// (infra/stack/legacy.go), under functions/.
const FunctionName = "migrate-chat-image"

// Item is one line of a manifest as the state machine's distributed map
// hands it to the migration function (its ItemSelector).
type Item struct {
	// Index is the line's index among the manifest's records
	// ($$.Map.Item.Index), from 0.
	Index int `json:"index"`
	// Format is the manifest's: csv (its line is Index+2, after the
	// header) or jsonl (Index+1), when no record spans lines and no line
	// is blank.
	Format legacy.Format `json:"format"`
	// Record is the line ($$.Map.Item.Value): a CSV row's columns by header
	// name, every value a string, "" for an empty cell; or a JSON line's
	// object.
	Record json.RawMessage `json:"record"`
	// ClinicID is the clinic of the manifest's appointment ids (the
	// execution's input).
	ClinicID string `json:"clinic_id"`
	// Run is the run's id, the audit records' request id (the execution's
	// name).
	Run string `json:"run"`
	// DryRun checks the line and writes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// Line returns the item's line number in its manifest.
func (it Item) Line() int {
	if it.Format == legacy.CSV {
		return it.Index + 2
	}
	return it.Index + 1
}

// UnavailableError is the migration function's error for a line that
// failed with legacy.ReasonUnavailable: returned as an error, so that the
// state machine retries the item (and, past its retries, lists it among
// the failed items of the run's results).
type UnavailableError struct{ Result Result }

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("line %d: %s: %s", e.Result.Line, e.Result.Reason, e.Result.Message)
}

// HandleItem migrates one item with m (whose ClinicID, RunID and DryRun
// the item sets): the migration function's handler. A line that fails for
// a reason of its own is an answer, not an error (the run goes on and the
// results list it); one that is unavailable is an *UnavailableError.
func HandleItem(ctx context.Context, m Migrator, it Item) (Result, error) {
	number := it.Line()
	if it.Index < 0 || (it.Format != legacy.CSV && it.Format != legacy.JSONL) {
		return Result{}, fmt.Errorf("migration item: want an index from 0 and format csv or jsonl, not %d and %q", it.Index, it.Format)
	}
	if !core.ValidExternalID(it.ClinicID) {
		return Result{}, fmt.Errorf("migration item: clinic_id is malformed")
	}
	if it.Run == "" || len(it.Run) > 128 {
		return Result{}, fmt.Errorf("migration item: run must be 1 to 128 bytes")
	}
	m.ClinicID, m.RunID, m.DryRun = it.ClinicID, it.Run, it.DryRun
	fields, err := itemFields(it)
	var l legacy.Line
	if err == nil {
		l, err = legacy.ParseFields(number, fields)
	}
	if err != nil {
		r := Result{Line: number, Outcome: Failed, Reason: legacy.ReasonMalformed, Message: err.Error()}
		if le, ok := err.(*legacy.LineError); ok {
			r.Reason, r.Message = le.Reason, le.Message
		}
		return r, nil
	}
	r := m.One(ctx, l)
	if r.Reason == legacy.ReasonUnavailable {
		return r, &UnavailableError{Result: r}
	}
	return r, nil
}

// itemFields reads a record as the manifest's fields: strings, or for size
// a JSON number (a JSON line's) written in decimal; a CSV cell that is
// empty is a field left out.
func itemFields(it Item) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(it.Record))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, fmt.Errorf("the record is not a JSON object")
	}
	fields := map[string]string{}
	for name, v := range raw {
		switch v := v.(type) {
		case string:
			if v == "" && it.Format == legacy.CSV {
				continue
			}
			if v == "" {
				return nil, fmt.Errorf("%s is empty: leave it out instead", clip(name))
			}
			fields[name] = v
		case json.Number:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if name != legacy.FieldSize || it.Format != legacy.JSONL || err != nil {
				return nil, fmt.Errorf("%s must be a string (size: a whole number)", clip(name))
			}
			fields[name] = strconv.FormatInt(n, 10)
		default:
			return nil, fmt.Errorf("%s must be a string", clip(name))
		}
	}
	return fields, nil
}
