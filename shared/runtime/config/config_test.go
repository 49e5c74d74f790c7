package config

import (
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

func TestService(t *testing.T) {
	testService(t, "ChatURLTTL", func(c core.Config) time.Duration { return c.ChatURLTTL }, []serviceCase[time.Duration]{
		{"defaults", nil, 0, true},
		{"chat ttl", map[string]string{EnvChatURLTTL: "30m"}, 30 * time.Minute, true},
		{"chat ttl not a duration", map[string]string{EnvChatURLTTL: "1 hour"}, 0, false},
		{"chat ttl too long", map[string]string{EnvChatURLTTL: "200h"}, 0, false},
		{"chat ttl negative", map[string]string{EnvChatURLTTL: "-1m"}, 0, false},
		{"upload ttl", map[string]string{EnvUploadTTL: "0s"}, 0, false},
		{"max upload", map[string]string{EnvMaxUploadBytes: "1048576"}, 0, true},
		{"max upload zero", map[string]string{EnvMaxUploadBytes: "0"}, 0, false},
		{"max upload words", map[string]string{EnvMaxUploadBytes: "lots"}, 0, false},
	})
}

func TestLegacyResolve(t *testing.T) {
	for v, want := range map[string]struct{ off, ok bool }{
		"": {false, true}, "on": {false, true}, "off": {true, true}, "OFF": {false, false}, "false": {false, false},
	} {
		cfg, err := Service(func(k string) string {
			if k == EnvLegacyResolve {
				return v
			}
			return ""
		})
		if (err == nil) != want.ok || (err == nil && cfg.LegacyResolutionOff != want.off) {
			t.Errorf("%s=%q: off %v, err %v; want off %v, ok %v", EnvLegacyResolve, v, cfg.LegacyResolutionOff, err, want.off, want.ok)
		}
	}
}

func TestLimits(t *testing.T) {
	testService(t, "Limits", func(c core.Config) core.Limits { return c.Limits }, []serviceCase[core.Limits]{
		{"defaults (zero: the core's)", nil, core.Limits{}, true},
		{"all set", map[string]string{
			EnvLimitDeniedRecords: "5", EnvLimitSessions: "10", EnvLimitAccesses: "20",
			EnvLimitActivityReports: "30", EnvLimitAppointments: "40", EnvLimitChatUploads: "50", EnvLimitPhotoKeys: "60",
		}, core.Limits{DeniedRecords: 5, SharesCreated: 10, AccessesOpened: 20, ActivityReports: 30, Appointments: 40, ChatUploads: 50, PhotoKeys: 60}, true},
		{"zero", map[string]string{EnvLimitSessions: "0"}, core.Limits{}, false},
		{"negative", map[string]string{EnvLimitDeniedRecords: "-1"}, core.Limits{}, false},
		{"too large", map[string]string{EnvLimitAccesses: "1000001"}, core.Limits{}, false},
		{"words", map[string]string{EnvLimitAppointments: "many"}, core.Limits{}, false},
	})
}

// serviceCase is an environment and what Service makes of it: want, or a
// refusal when !ok.
type serviceCase[T comparable] struct {
	name string
	env  map[string]string
	want T
	ok   bool
}

// testService runs Service on each case's environment and checks its
// verdict and, when it accepts, the field that get reads.
func testService[T comparable](t *testing.T, field string, get func(core.Config) T, cases []serviceCase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Service(func(k string) string { return c.env[k] })
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if c.ok && get(cfg) != c.want {
				t.Errorf("%s = %+v, want %+v", field, get(cfg), c.want)
			}
		})
	}
}
