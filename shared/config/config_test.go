package config

import (
	"testing"
	"time"
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
