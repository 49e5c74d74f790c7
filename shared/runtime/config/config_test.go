package config

import (
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

func TestService(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     map[string]string
		chatTTL time.Duration
		ok      bool
	}{
		{"defaults", nil, 0, true},
		{"chat ttl", map[string]string{EnvChatURLTTL: "30m"}, 30 * time.Minute, true},
		{"chat ttl not a duration", map[string]string{EnvChatURLTTL: "1 hour"}, 0, false},
		{"chat ttl too long", map[string]string{EnvChatURLTTL: "200h"}, 0, false},
		{"chat ttl negative", map[string]string{EnvChatURLTTL: "-1m"}, 0, false},
		{"upload ttl", map[string]string{EnvUploadTTL: "0s"}, 0, false},
		{"max upload", map[string]string{EnvMaxUploadBytes: "1048576"}, 0, true},
		{"max upload zero", map[string]string{EnvMaxUploadBytes: "0"}, 0, false},
		{"max upload words", map[string]string{EnvMaxUploadBytes: "lots"}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Service(func(k string) string { return c.env[k] })
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if c.ok && cfg.ChatURLTTL != c.chatTTL {
				t.Errorf("ChatURLTTL = %v, want %v", cfg.ChatURLTTL, c.chatTTL)
			}
		})
	}
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
	for _, c := range []struct {
		name string
		env  map[string]string
		want core.Limits
		ok   bool
	}{
		{"defaults (zero: the core's)", nil, core.Limits{}, true},
		{"all set", map[string]string{
			EnvLimitDeniedRecords: "5", EnvLimitSessions: "10", EnvLimitAccesses: "20",
			EnvLimitActivityReports: "30", EnvLimitAppointments: "40", EnvLimitChatUploads: "50", EnvLimitPhotoKeys: "60",
		}, core.Limits{DeniedRecords: 5, SharesCreated: 10, AccessesOpened: 20, ActivityReports: 30, Appointments: 40, ChatUploads: 50, PhotoKeys: 60}, true},
		{"zero", map[string]string{EnvLimitSessions: "0"}, core.Limits{}, false},
		{"negative", map[string]string{EnvLimitDeniedRecords: "-1"}, core.Limits{}, false},
		{"too large", map[string]string{EnvLimitAccesses: "1000001"}, core.Limits{}, false},
		{"words", map[string]string{EnvLimitAppointments: "many"}, core.Limits{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Service(func(k string) string { return c.env[k] })
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if c.ok && cfg.Limits != c.want {
				t.Errorf("Limits = %+v, want %+v", cfg.Limits, c.want)
			}
		})
	}
}
