package stack

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	defaults := Config{
		StackName: DefaultStackName, AssetDir: DefaultAssetDir, LogRetentionDays: DefaultLogRetentionDays,
		NoncurrentVersionDays: DefaultNoncurrentVersionDays, ThrottleRate: DefaultThrottleRate,
		ThrottleBurst: DefaultThrottleBurst, TerminationProtection: true, PortalDir: DefaultPortalDir,
	}
	tests := []struct {
		name    string
		ctx     map[string]string
		want    func(c *Config)
		wantErr string
	}{
		{name: "defaults", ctx: nil, want: func(*Config) {}},
		{
			name: "everything set",
			ctx: map[string]string{
				CtxStackName: "MedShareStaging", CtxAccount: "111122223333", CtxRegion: "eu-west-1",
				CtxAssetDir: "/tmp/fns", CtxOIDCIssuer: "https://id.example.com/", CtxOIDCAudience: "app, web",
				CtxCORSOrigins: "https://app.example.com,http://localhost:3000", CtxAlarmEmail: "ops@example.com",
				CtxLogRetentionDays: "731", CtxNoncurrentDays: "7", CtxThrottleRate: "20", CtxThrottleBurst: "40",
				CtxTerminationProtection: "false", CtxPortalDir: "/tmp/portal", CtxCognitoDomainPrefix: "medshare-staging-7",
			},
			want: func(c *Config) {
				c.StackName, c.Account, c.Region, c.AssetDir = "MedShareStaging", "111122223333", "eu-west-1", "/tmp/fns"
				c.OIDCIssuer, c.OIDCAudience = "https://id.example.com/", []string{"app", "web"}
				c.CORSOrigins = []string{"https://app.example.com", "http://localhost:3000"}
				c.AlarmEmail, c.LogRetentionDays, c.NoncurrentVersionDays = "ops@example.com", 731, 7
				c.ThrottleRate, c.ThrottleBurst, c.TerminationProtection = 20, 40, false
				c.PortalDir, c.CognitoDomainPrefix = "/tmp/portal", "medshare-staging-7"
			},
		},
		{name: "retention not a CloudWatch value", ctx: map[string]string{CtxLogRetentionDays: "100"}, wantErr: "logRetentionDays=100"},
		{name: "retention not a number", ctx: map[string]string{CtxLogRetentionDays: "a year"}, wantErr: "logRetentionDays"},
		{name: "account without region", ctx: map[string]string{CtxAccount: "111122223333"}, wantErr: "go together"},
		{name: "issuer without audience", ctx: map[string]string{CtxOIDCIssuer: "https://id.example.com"}, wantErr: "oidcAudience"},
		{name: "audience without issuer", ctx: map[string]string{CtxOIDCAudience: "app"}, wantErr: "only used with"},
		{name: "issuer over http", ctx: map[string]string{CtxOIDCIssuer: "http://id.example.com", CtxOIDCAudience: "a"}, wantErr: "https"},
		{name: "origin with a path", ctx: map[string]string{CtxCORSOrigins: "https://app.example.com/x"}, wantErr: "not an origin"},
		{name: "origin over http", ctx: map[string]string{CtxCORSOrigins: "http://app.example.com"}, wantErr: "not an origin"},
		{name: "throttle out of range", ctx: map[string]string{CtxThrottleRate: "0"}, wantErr: "throttleRate"},
		{name: "termination protection not a bool", ctx: map[string]string{CtxTerminationProtection: "maybe"}, wantErr: "true or false"},
		{name: "alarm email", ctx: map[string]string{CtxAlarmEmail: "ops"}, wantErr: "email"},
		{name: "domain prefix uppercase", ctx: map[string]string{CtxCognitoDomainPrefix: "MedShare"}, wantErr: "cognitoDomainPrefix"},
		{name: "domain prefix ends with a hyphen", ctx: map[string]string{CtxCognitoDomainPrefix: "medshare-"}, wantErr: "cognitoDomainPrefix"},
		{name: "domain prefix names cognito", ctx: map[string]string{CtxCognitoDomainPrefix: "my-cognito-login"}, wantErr: "cognitoDomainPrefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(func(k string) string { return tt.ctx[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckPortal(t *testing.T) {
	err := CheckPortal(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "index.html") || !strings.Contains(err.Error(), CtxPortalDir) {
		t.Errorf("CheckPortal of an empty dir = %v, want the missing page and the fix", err)
	}
	if err := CheckPortal("../../" + DefaultPortalDir); err != nil {
		t.Errorf("CheckPortal of the committed portal: %v", err)
	}
}

func TestCheckAssets(t *testing.T) {
	err := CheckAssets(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), "health") {
		t.Errorf("CheckAssets of an empty dir = %v, want the missing functions and the fix", err)
	}
	dir, err := placeholderAssets()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAssets(dir); err != nil {
		t.Errorf("CheckAssets of a complete dir: %v", err)
	}
}
