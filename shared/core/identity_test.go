package core_test

import (
	"testing"

	"github.com/medshare/medshare/shared/core"
)

// TestReservedID: the whole medshare- prefix, in any case, is the
// service's; every system actor is in it, and nothing else is.
func TestReservedID(t *testing.T) {
	for _, id := range core.SystemIDs {
		if !core.ReservedID(id) {
			t.Errorf("system actor %q is not reserved", id)
		}
	}
	for _, c := range []struct {
		id   string
		want bool
	}{
		{"medshare-detector", true},
		{"medshare-", true},
		{"MEDSHARE-ops", true},
		{"MedShare-anything", true},
		{"medshare", false},
		{"medsharex-1", false},
		{"pro-medshare-1", false},
		{"medshar", false},
		{"", false},
	} {
		if got := core.ReservedID(c.id); got != c.want {
			t.Errorf("ReservedID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}

// TestSystemCallersRefused: the service itself refuses a caller that claims
// to be a system actor, whatever the edge let through: a reserved subject in
// any role is unauthorized, and the system role is never a caller's role.
func TestSystemCallersRefused(t *testing.T) {
	if core.RoleSystem.Valid() {
		t.Fatal("RoleSystem validates as a caller role")
	}
	svc := core.NewService(core.Config{}, core.Deps{})
	ctx := t.Context()
	for _, c := range []struct {
		name   string
		caller core.Caller
	}{
		{"detector as professional", core.Caller{ID: core.DetectorID, Role: core.RoleProfessional}},
		{"cleanup as patient", core.Caller{ID: core.CleanupID, Role: core.RolePatient}},
		{"ops as clinic", core.Caller{ID: core.ReportRecipient, Role: core.RoleClinic}},
		{"reserved, other case", core.Caller{ID: "Medshare-Detector", Role: core.RolePatient}},
		{"detector as system", core.Caller{ID: core.DetectorID, Role: core.RoleSystem}},
		{"user as system", core.Caller{ID: "pat-1", Role: core.RoleSystem}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := svc.AccessHistory(ctx, c.caller, core.Page{}); core.KindOf(err) != core.KindUnauthorized {
				t.Errorf("access history: %v, want unauthorized", err)
			}
			if _, err := svc.VerifyAudit(ctx, c.caller); core.KindOf(err) != core.KindUnauthorized {
				t.Errorf("verify audit: %v, want unauthorized", err)
			}
			if _, _, err := svc.Inbox(ctx, c.caller, core.Page{}); core.KindOf(err) != core.KindUnauthorized {
				t.Errorf("inbox: %v, want unauthorized", err)
			}
		})
	}
}
