package stack

import (
	"strings"
	"testing"
)

// TestExternalIssuerAndCORS synthesizes the stack with an existing OIDC
// issuer and browser origins: no user pool, the authorizer trusts the
// issuer, CORS opens the API and the bucket to those origins and the
// portal's only, and the portal signs in with a pasted token.
func TestExternalIssuerAndCORS(t *testing.T) {
	s := synth(t, map[string]string{
		CtxOIDCIssuer:   "https://id.example.com/",
		CtxOIDCAudience: "medshare-app,medshare-web",
		CtxCORSOrigins:  "https://app.example.com",
		CtxAlarmEmail:   "ops@example.com",
	})
	t.Run("issuer", func(t *testing.T) {
		if n := len(s.resources("AWS::Cognito::UserPool")); n != 0 {
			t.Errorf("%d user pools with an external issuer, want 0", n)
		}
		_, auth := only(t, s, "AWS::ApiGatewayV2::Authorizer")
		jwt := props(auth)["JwtConfiguration"].(map[string]any)
		if got := s.render(jwt["Issuer"]); got != "https://id.example.com/" {
			t.Errorf("issuer %s", got)
		}
		if got := s.render(jwt["Audience"]); got != "medshare-app,medshare-web" {
			t.Errorf("audience %s", got)
		}
		if _, ok := s.json["Outputs"].(map[string]any)[OutUserPoolID]; ok {
			t.Error("user pool output without a user pool")
		}
	})
	t.Run("cors", func(t *testing.T) {
		bucket := s.resources("AWS::S3::Bucket")[keyID(s, "bucket")]
		cors, ok := props(bucket)["CorsConfiguration"].(map[string]any)
		if !ok {
			t.Fatal("no CORS on the bucket")
		}
		var origins []string
		for _, r := range asList(cors["CorsRules"]) {
			rule := r.(map[string]any)
			origins = append(origins, s.render(rule["AllowedOrigins"]))
			if got := s.render(rule["AllowedMethods"]); got != "GET,PUT" {
				t.Errorf("bucket CORS methods %s, want GET,PUT", got)
			}
			// The headers a presigned PUT signs (s3blob.PresignPut), in
			// the stack's rule and the portal's.
			if got := s.render(rule["AllowedHeaders"]); got != "content-type,if-none-match,x-amz-*" {
				t.Errorf("bucket CORS headers of %s: %s, want content-type,if-none-match,x-amz-*", s.render(rule["AllowedOrigins"]), got)
			}
		}
		if got := strings.Join(origins, " "); got != "https://app.example.com https://cdn" {
			t.Errorf("bucket CORS origins %s", got)
		}
		_, api := only(t, s, "AWS::ApiGatewayV2::Api")
		apiCors := props(api)["CorsConfiguration"].(map[string]any)
		if got := s.render(apiCors["AllowOrigins"]); got != "https://app.example.com,https://cdn" {
			t.Errorf("API CORS origins %s", got)
		}
		if got := s.render(apiCors["AllowHeaders"]); !strings.Contains(got, "authorization") {
			t.Errorf("API CORS headers %s lack authorization", got)
		}
	})
	t.Run("alarm email", func(t *testing.T) {
		subs := s.resources("AWS::SNS::Subscription")
		if len(subs) != 1 {
			t.Fatalf("%d subscriptions, want 1", len(subs))
		}
		for _, sub := range subs {
			p := props(sub)
			if p["Protocol"] != "email" || p["Endpoint"] != "ops@example.com" || s.render(p["TopicArn"]) != "alarmtopic" {
				t.Errorf("subscription %v", p)
			}
		}
	})
	t.Run("portal", func(t *testing.T) {
		if n := len(s.resources("AWS::Cognito::UserPoolClient")); n != 0 {
			t.Errorf("%d app clients with an external issuer, want 0", n)
		}
		cfg := stagedConfig(t, s)
		if cfg.Auth.Mode != "token" || cfg.Auth.ClientID != "" || cfg.APIBaseURL != "api" {
			t.Errorf("config.json with an external issuer: %+v, want the API and a pasted token", cfg)
		}
	})
	t.Run("nag", func(t *testing.T) { testNag(t, s) })
}

// TestLowStageThrottle synthesizes the stack with stage limits below the
// public routes' own: the public routes are held to the stage's.
func TestLowStageThrottle(t *testing.T) {
	s := synth(t, map[string]string{CtxThrottleRate: "2", CtxThrottleBurst: "4"})
	testPublicThrottling(t, s, 2, 4)
}
