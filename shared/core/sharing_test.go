package core

import (
	"encoding/hex"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// frozenShareInputFields are the fields ShareInput had when stored shares
// began to keep requestHash; their encoding in the hash may never change.
var frozenShareInputFields = []string{
	"ProfessionalID", "PhotoIDs", "Angles", "ExpiresIn", "MaxViews",
	"AccessWindow", "MaxDevices", "ScreenshotPolicy", "Purpose", "IdempotencyKey",
}

// TestRequestHashIsFrozen: the hash of a create request is stored with its
// share and compared when the request is retried, possibly by a newer
// deploy, so the same body must keep hashing the same. The idempotency key
// itself is not part of it.
func TestRequestHashIsFrozen(t *testing.T) {
	in := ShareInput{
		ProfessionalID:   "pro-1",
		PhotoIDs:         []string{"photo-1", "photo-2"},
		ExpiresIn:        2 * time.Hour,
		MaxViews:         5,
		ScreenshotPolicy: ScreenshotPolicy("warn"),
		Purpose:          "second opinion",
		IdempotencyKey:   "key-1",
	}
	const want = "198927a6c75e3968e2dec00a26abd02bf2e96d541f0870af24d277963ebb00c7" // the hash before issue 12 moved ShareInput
	if got := hex.EncodeToString(in.requestHash()); got != want {
		t.Errorf("requestHash = %s, want %s: a retry across this change would be refused as a conflict", got, want)
	}
	other := in
	other.IdempotencyKey = "key-2"
	if hex.EncodeToString(other.requestHash()) != hex.EncodeToString(in.requestHash()) {
		t.Error("requestHash depends on the idempotency key")
	}
	other = in
	other.MaxViews = 6
	if hex.EncodeToString(other.requestHash()) == hex.EncodeToString(in.requestHash()) {
		t.Error("requestHash does not depend on max_views")
	}
}

// TestNewShareInputFieldsOmitEmpty: a field added to ShareInput after the
// frozen ones must be left out of the hash when it is not set.
func TestNewShareInputFieldsOmitEmpty(t *testing.T) {
	typ := reflect.TypeFor[ShareInput]()
	for f := range typ.Fields() {
		if slices.Contains(frozenShareInputFields, f.Name) {
			if f.Tag.Get("json") != "" {
				t.Errorf("frozen field %s gained a json tag: its hash would change", f.Name)
			}
			continue
		}
		if tag := f.Tag.Get("json"); !strings.HasSuffix(tag, ",omitempty") && !strings.Contains(tag, ",omitempty,") {
			t.Errorf("ShareInput.%s has json tag %q: a field added after the frozen ones needs omitempty (requestHash)", f.Name, tag)
		}
	}
	for _, name := range frozenShareInputFields {
		if _, ok := typ.FieldByName(name); !ok {
			t.Errorf("frozen field %s is gone: requests that set it would hash differently", name)
		}
	}
}
