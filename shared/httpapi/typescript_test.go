package httpapi

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/httpapi/wire"
)

// TestTypeScriptTypesMatchGoTypes: the TypeScript client's interfaces
// (web/client/src/types.ts, the one hand edit a new field needs on the
// client side) have the JSON fields of the Go bodies they stand for, and
// an answer's field that the server may leave out (omitempty) is optional
// there. (An interface may also mark optional a field the server always
// writes: AuditRecord's, for records of version 1.)
func TestTypeScriptTypesMatchGoTypes(t *testing.T) {
	src, err := os.ReadFile("../../web/client/src/types.ts")
	if err != nil {
		t.Fatal(err)
	}
	ifaces := tsInterfaces(string(src))
	for _, c := range []struct {
		ts      string
		typ     reflect.Type
		request bool
	}{
		{"Upload", reflect.TypeFor[wire.Upload](), false},
		{"Photo", reflect.TypeFor[wire.Photo](), false},
		{"Appointment", reflect.TypeFor[appointmentView](), false},
		{"ListedChatImage", reflect.TypeFor[chatImageView](), false},
		{"ShareRequest", reflect.TypeFor[wire.ShareRequest](), true},
		{"SharedPhoto", reflect.TypeFor[wire.SharedPhoto](), false},
		{"Share", reflect.TypeFor[wire.Share](), false},
		{"Access", reflect.TypeFor[wire.Access](), false},
		{"IssuedKey", reflect.TypeFor[wire.IssuedKey](), false},
		{"OwnerKey", reflect.TypeFor[wire.OwnerKey](), false},
		{"ActivityEvent", reflect.TypeFor[activityEvent](), true},
		{"ActivityResult", reflect.TypeFor[activityView](), false},
		{"Notification", reflect.TypeFor[notificationView](), false},
		{"AuditRecord", reflect.TypeFor[auditView](), false},
		{"AuditVerification", reflect.TypeFor[auditVerificationView](), false},
	} {
		t.Run(c.ts, func(t *testing.T) {
			got, ok := ifaces[c.ts]
			if !ok {
				t.Fatalf("types.ts has no interface %s", c.ts)
			}
			want := map[string]bool{}
			for _, f := range jsonFields(c.typ) {
				want[f.name] = f.omitempty
				if f.omitempty && !c.request && !got[f.name] {
					t.Errorf("types.ts %s.%s is not optional, but %v omits it when empty", c.ts, f.name, c.typ)
				}
			}
			if diff := cmp.Diff(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))); diff != "" {
				t.Errorf("types.ts %s has other fields than %v (-Go +TypeScript):\n%s", c.ts, c.typ, diff)
			}
		})
	}
}

var (
	tsInterface = regexp.MustCompile(`(?m)^export interface (\w+)[^{]*\{\n((?:.*\n)*?)\}`)
	tsField     = regexp.MustCompile(`^  (\w+)(\?)?:`)
)

// tsInterfaces maps each exported interface of a TypeScript source to its
// own fields (not inherited ones), each to whether it is optional.
func tsInterfaces(src string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, m := range tsInterface.FindAllStringSubmatch(src, -1) {
		fields := map[string]bool{}
		for line := range strings.SplitSeq(m[2], "\n") {
			if f := tsField.FindStringSubmatch(line); f != nil && !slices.Contains([]string{"", "*"}, f[1]) {
				fields[f[1]] = f[2] == "?"
			}
		}
		out[m[1]] = fields
	}
	return out
}
