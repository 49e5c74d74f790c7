package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// TestRefusals pins the refusal rules of a share and a key: the order of
// the reasons, the kinds, codes and messages, which the service and both
// stores answer with (the store contract suite checks the stores).
func TestRefusals(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	share := core.Share{ID: "sh_1", ProfessionalID: "dr-a", Status: core.ShareActive, ExpiresAt: now.Add(time.Minute),
		MaxViews: 2, ViewsUsed: 1, MaxDevices: 1, Devices: []string{"dev-a"}}
	with := func(edit func(*core.Share)) core.Share {
		s := share
		edit(&s)
		return s
	}
	revoked := func(s *core.Share) { s.Status = core.ShareRevoked }
	expired := func(s *core.Share) { s.ExpiresAt = now }
	exhausted := func(s *core.Share) { s.ViewsUsed = s.MaxViews }
	notFound := &core.Error{Kind: core.KindNotFound, Code: core.CodeNotFound, Message: "share not found"}
	gone := func(code, msg string) *core.Error { return &core.Error{Kind: core.KindGone, Code: code, Message: msg} }
	wasRevoked := gone(core.CodeSessionRevoked, "the session was revoked")
	hasExpired := gone(core.CodeSessionExpired, "the session has expired")
	noViews := gone(core.CodeViewsExhausted, "the session has no views left")
	mismatch := &core.Error{Kind: core.KindForbidden, Code: core.CodeDeviceMismatch, Message: "the session is bound to another device"}

	for _, tc := range []struct {
		name string
		got  error
		want *core.Error // nil: allowed
	}{
		{"use: the grantee", share.RefuseUse("dr-a", now), nil},
		{"use: a nanosecond before expiry", with(expired).RefuseUse("dr-a", now.Add(-time.Nanosecond)), nil},
		{"use: another professional", share.RefuseUse("dr-b", now), notFound},
		{"use: another professional, revoked", with(revoked).RefuseUse("dr-b", now), notFound},
		{"use: revoked", with(revoked).RefuseUse("dr-a", now), wasRevoked},
		{"use: revoked and expired", with(func(s *core.Share) { revoked(s); expired(s) }).RefuseUse("dr-a", now), wasRevoked},
		{"use: expired at now", with(expired).RefuseUse("dr-a", now), hasExpired},
		{"use: expired by the job", with(func(s *core.Share) { s.Status = core.ShareExpired }).RefuseUse("dr-a", now.Add(-time.Hour)), hasExpired},
		{"view: views left", share.RefuseView("dr-a", now), nil},
		{"view: exhausted", with(exhausted).RefuseView("dr-a", now), noViews},
		{"view: exhausted and revoked", with(func(s *core.Share) { exhausted(s); revoked(s) }).RefuseView("dr-a", now), wasRevoked},
		{"view: exhausted and expired", with(func(s *core.Share) { exhausted(s); expired(s) }).RefuseView("dr-a", now), hasExpired},
		{"view: another professional", with(exhausted).RefuseView("dr-b", now), notFound},
		{"device: bound", share.RefuseDevice("dr-a", "dev-a", now), nil},
		{"device: room to bind", with(func(s *core.Share) { s.MaxDevices = 2 }).RefuseDevice("dr-a", "dev-b", now), nil},
		{"device: no room", share.RefuseDevice("dr-a", "dev-b", now), mismatch},
		{"device: no room, revoked", with(revoked).RefuseDevice("dr-a", "dev-b", now), wasRevoked},
		{"device: another professional", share.RefuseDevice("dr-b", "dev-b", now), notFound},
	} {
		t.Run(tc.name, func(t *testing.T) { wantRefusal(t, tc.got, tc.want) })
	}

	key := core.EphemeralKey{ID: "ek_1", ShareID: "sh_1", ProfessionalID: "dr-a", Status: core.KeyIssued, ExpiresAt: now.Add(time.Second)}
	used := key
	used.Status = core.KeyUsed
	keyNotFound := &core.Error{Kind: core.KindNotFound, Code: core.CodeNotFound, Message: "key not found"}
	for _, tc := range []struct {
		name string
		got  error
		want *core.Error
	}{
		{"claim: issued", key.RefuseClaim("dr-a", "sh_1", now), nil},
		{"claim: another professional", key.RefuseClaim("dr-b", "sh_1", now), keyNotFound},
		{"claim: another professional, used", used.RefuseClaim("dr-b", "sh_1", now), keyNotFound},
		{"claim: read under another share", key.RefuseClaim("dr-a", "sh_2", now), keyNotFound},
		{"claim: used", used.RefuseClaim("dr-a", "sh_1", now), gone(core.CodeKeyUsed, "the key was already used")},
		{"claim: used and expired", used.RefuseClaim("dr-a", "sh_1", key.ExpiresAt), gone(core.CodeKeyUsed, "the key was already used")},
		{"claim: expired at now", key.RefuseClaim("dr-a", "sh_1", key.ExpiresAt), gone(core.CodeKeyExpired, "the key has expired")},
	} {
		t.Run(tc.name, func(t *testing.T) { wantRefusal(t, tc.got, tc.want) })
	}
}

func wantRefusal(t *testing.T, got error, want *core.Error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("got %v, want no refusal", got)
		}
		return
	}
	var ce *core.Error
	if !errors.As(got, &ce) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if ce.Kind != want.Kind || ce.Code != want.Code || ce.Message != want.Message {
		t.Errorf("got kind %v code %q message %q, want kind %v code %q message %q", ce.Kind, ce.Code, ce.Message, want.Kind, want.Code, want.Message)
	}
}
