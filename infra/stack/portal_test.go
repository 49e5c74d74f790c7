package stack

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/httpapi/portal"
)

// The managed cache policies of CloudFront the portal's behaviors use.
const (
	cachingDisabled  = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	cachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
)

// headerCSP is the CSP of the portal's response-headers policies, as the
// template renders it: the local server's policy, with the kinds of the
// API's and the bucket's origins in the stack's region (see Portal).
var headerCSP = portal.CSP(portal.Origins{
	Media:   []string{"https://*.s3.${Region}.amazonaws.com"},
	Connect: []string{"https://*.execute-api.${Region}.amazonaws.com", "https://medshare-${AccountId}.auth.${Region}.amazoncognito.com"},
})

// exactOrigins are the origins the deployed index.html's <meta> policy
// names: the object bucket, the API and the hosted UI.
var exactOrigins = portal.Origins{
	Media:   []string{"https://bucket"},
	Connect: []string{"api", "https://medshare-${AccountId}.auth.${Region}.amazoncognito.com"},
}

// testPortal checks the portal's hosting: a private bucket that only the
// distribution reads (origin access control), the same headers as
// medshare serve on every answer, HTTPS only, the deployed bundle with its
// exact-origin CSP and its config.json, and the hosted UI's public client
// with the authorization-code flow only.
func testPortal(t *testing.T, s *synthesized) {
	res := s.json["Resources"].(map[string]any)
	bucket := res[keyID(s, "portalbucket")].(map[string]any)
	p := props(bucket)
	if got := s.render(p["BucketEncryption"].(map[string]any)["ServerSideEncryptionConfiguration"].([]any)[0].(map[string]any)["ServerSideEncryptionByDefault"].(map[string]any)["SSEAlgorithm"]); got != "AES256" {
		t.Errorf("portal bucket encryption %s", got)
	}
	if s.render(p["LoggingConfiguration"].(map[string]any)["DestinationBucketName"]) != "logbucket" {
		t.Errorf("portal bucket logs to %v", p["LoggingConfiguration"])
	}
	// Its policy: TLS only, and reads by CloudFront for this distribution
	// only; nothing else is allowed.
	var allows []string
	for _, st := range s.bucketStatements(keyID(s, "portalbucket")) {
		if st["Effect"] == "Allow" {
			pr, _ := st["Principal"].(map[string]any)
			allows = append(allows, s.render(pr["Service"])+" "+s.render(st["Action"])+" "+s.render(st["Resource"])+" "+s.conditions(st["Condition"]))
		}
	}
	wantAllows := []string{"cloudfront.amazonaws.com s3:GetObject portalbucket/* StringEquals{AWS:SourceArn=arn:${Partition}:cloudfront::${AccountId}:distribution/cdn}"}
	if diff := cmp.Diff(wantAllows, allows); diff != "" {
		t.Errorf("portal bucket policy's Allow statements (-want +got):\n%s", diff)
	}

	_, oac := only(t, s, "AWS::CloudFront::OriginAccessControl")
	oc := props(oac)["OriginAccessControlConfig"].(map[string]any)
	if oc["OriginAccessControlOriginType"] != "s3" || oc["SigningBehavior"] != "always" || oc["SigningProtocol"] != "sigv4" {
		t.Errorf("origin access control %v", oc)
	}
	dist := props(res[keyID(s, "cdn")].(map[string]any))["DistributionConfig"].(map[string]any)
	origins := asList(dist["Origins"])
	if len(origins) != 1 || s.render(origins[0].(map[string]any)["DomainName"]) != "portalbucket" || origins[0].(map[string]any)["OriginAccessControlId"] == nil {
		t.Errorf("distribution origins %v, want the portal bucket through the origin access control", origins)
	}
	if dist["DefaultRootObject"] != "index.html" || s.render(dist["Logging"].(map[string]any)["Bucket"]) != "cdnlogs" {
		t.Errorf("distribution root %v, logging %v", dist["DefaultRootObject"], dist["Logging"])
	}
	headers, assetHeaders := logicalID(s.stack.Stack, s.stack.Portal.Headers.Node().DefaultChild()), logicalID(s.stack.Stack, s.stack.Portal.AssetHeaders.Node().DefaultChild())
	type behavior struct{ Path, Viewer, Cache, Headers, Methods string }
	got := []behavior{}
	for _, b := range append([]any{dist["DefaultCacheBehavior"]}, asList(dist["CacheBehaviors"])...) {
		b := b.(map[string]any)
		got = append(got, behavior{str(b["PathPattern"]), str(b["ViewerProtocolPolicy"]), str(b["CachePolicyId"]), s.render(b["ResponseHeadersPolicyId"]), s.render(b["AllowedMethods"])})
	}
	wantBehaviors := []behavior{
		{"", "redirect-to-https", cachingDisabled, headers, "GET,HEAD"},
		{"/" + portal.AssetsDir + "*", "redirect-to-https", cachingOptimized, assetHeaders, "GET,HEAD"},
	}
	if diff := cmp.Diff(wantBehaviors, got); diff != "" {
		t.Errorf("distribution behaviors (-want +got):\n%s", diff)
	}

	// Both policies give every answer the local server's headers; they
	// differ only in Cache-Control.
	for id, cache := range map[string]string{headers: portal.CacheNone, assetHeaders: portal.CacheImmutable} {
		cfg := props(res[id].(map[string]any))["ResponseHeadersPolicyConfig"].(map[string]any)
		sec := cfg["SecurityHeadersConfig"].(map[string]any)
		gotSec := map[string]string{
			"csp":      s.render(sec["ContentSecurityPolicy"].(map[string]any)["ContentSecurityPolicy"]),
			"frame":    str(sec["FrameOptions"].(map[string]any)["FrameOption"]),
			"referrer": str(sec["ReferrerPolicy"].(map[string]any)["ReferrerPolicy"]),
			"nosniff":  s.render(sec["ContentTypeOptions"].(map[string]any)["Override"]),
			"hsts":     s.render(sec["StrictTransportSecurity"].(map[string]any)["AccessControlMaxAgeSec"]),
		}
		wantSec := map[string]string{"csp": headerCSP, "frame": "DENY", "referrer": "no-referrer", "nosniff": "true", "hsts": "31536000"}
		if diff := cmp.Diff(wantSec, gotSec); diff != "" {
			t.Errorf("%s security headers (-want +got):\n%s", id, diff)
		}
		for _, bad := range []string{"unsafe-inline", "unsafe-eval"} {
			if strings.Contains(gotSec["csp"], bad) {
				t.Errorf("%s: the CSP allows %s", id, bad)
			}
		}
		gotCustom := map[string]string{}
		for _, h := range asList(cfg["CustomHeadersConfig"].(map[string]any)["Items"]) {
			h := h.(map[string]any)
			gotCustom[str(h["Header"])] = str(h["Value"])
			if h["Override"] != true {
				t.Errorf("%s: header %s does not override the origin's", id, h["Header"])
			}
		}
		local := portal.Headers(portal.Origins{})
		wantCustom := map[string]string{
			"Cache-Control":                cache,
			"Cross-Origin-Opener-Policy":   local["Cross-Origin-Opener-Policy"],
			"Cross-Origin-Resource-Policy": local["Cross-Origin-Resource-Policy"],
			"Permissions-Policy":           local["Permissions-Policy"],
		}
		if diff := cmp.Diff(wantCustom, gotCustom); diff != "" {
			t.Errorf("%s custom headers (-want +got):\n%s", id, diff)
		}
	}

	// The hosted UI and the portal's client: public, code flow only,
	// Cognito users, the portal's URL as its only callback and logout URL.
	_, domain := only(t, s, "AWS::Cognito::UserPoolDomain")
	if got := s.render(props(domain)["Domain"]); got != "medshare-${AccountId}" {
		t.Errorf("hosted UI domain prefix %s", got)
	}
	cp := props(res[keyID(s, "portalclient")].(map[string]any))
	gotClient := map[string]string{
		"flows": s.render(cp["AllowedOAuthFlows"]), "secret": s.render(cp["GenerateSecret"]),
		"scopes": s.render(cp["AllowedOAuthScopes"]), "callbacks": s.render(cp["CallbackURLs"]), "logouts": s.render(cp["LogoutURLs"]),
		"providers": s.render(cp["SupportedIdentityProviders"]), "auth": s.render(cp["ExplicitAuthFlows"]),
		"refresh": s.render(cp["RefreshTokenValidity"]) + " " + str(cp["TokenValidityUnits"].(map[string]any)["RefreshToken"]),
		"oauth":   s.render(cp["AllowedOAuthFlowsUserPoolClient"]),
	}
	wantClient := map[string]string{
		"flows": "code", "secret": "false", "scopes": "email,openid,profile", "callbacks": "https://cdn/", "logouts": "https://cdn/",
		"providers": "COGNITO", "auth": "ALLOW_REFRESH_TOKEN_AUTH", "refresh": "720 minutes", "oauth": "true",
	}
	if diff := cmp.Diff(wantClient, gotClient); diff != "" {
		t.Errorf("portal app client (-want +got):\n%s", diff)
	}

	// What is deployed: the bundle's files, index.html with the exact
	// origins in its <meta> policy, and config.json; all into the portal
	// bucket, by a handler whose role has only its managed policy.
	_, dep := only(t, s, "Custom::CDKBucketDeployment")
	dp := props(dep)
	if s.render(dp["DestinationBucketName"]) != "portalbucket" || dp["Prune"] != true {
		t.Errorf("deployment %v", dp)
	}
	page := stagedFile(t, s, "index.html")
	meta := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(page)
	if meta == nil || !strings.Contains(page, "<head>"+meta[0]) {
		t.Fatalf("the deployed index.html has no <meta> CSP first in its head:\n%s", page)
	}
	if got, want := html.UnescapeString(meta[1]), portal.CSPMeta(exactOrigins); got != want {
		t.Errorf("deployed <meta> CSP:\n got %s\nwant %s", got, want)
	}
	cfg := stagedConfig(t, s)
	base := "https://signin.auth.${Region}.amazoncognito.com"
	wantCfg := portal.Config{APIBaseURL: "api", Auth: portal.Auth{
		Mode: portal.AuthCognito, AuthorizationEndpoint: base + "/oauth2/authorize", TokenEndpoint: base + "/oauth2/token",
		LogoutEndpoint: base + "/logout", ClientID: "portalclient", RedirectURI: "https://cdn/", Scopes: PortalScopes,
	}}
	if diff := cmp.Diff(wantCfg, cfg); diff != "" {
		t.Errorf("deployed config.json (-want +got):\n%s", diff)
	}
	var roleOfDeployer string
	for _, fn := range s.resources("AWS::Lambda::Function") {
		if props(fn)["Handler"] == "index.handler" {
			roleOfDeployer = s.render(props(fn)["Role"])
		}
	}
	if roleOfDeployer != "deployrole" {
		t.Errorf("the deployment handler runs as %q, want the portal's deploy role", roleOfDeployer)
	}
	var lines []string
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, pol := range s.resources(typ) {
			if !strings.Contains(s.render(props(pol)["Roles"]), "deployrole") {
				continue
			}
			if typ == "AWS::IAM::Policy" {
				t.Errorf("the deploy role has an inline policy")
			}
			for _, st := range asList(props(pol)["PolicyDocument"].(map[string]any)["Statement"]) {
				st := st.(map[string]any)
				for _, a := range asList(st["Action"]) {
					lines = append(lines, str(a)+" "+s.render(st["Resource"]))
				}
			}
		}
	}
	sort.Strings(lines)
	want := []string{
		"logs:CreateLogStream LOGS",
		"logs:PutLogEvents LOGS",
		"s3:DeleteObject portalbucket/*",
		"s3:GetObject arn:${Partition}:s3:::cdk-hnb659fds-assets-${AccountId}-${Region}/*",
		"s3:ListBucket portalbucket",
		"s3:PutObject portalbucket/*",
	}
	logsID := logicalID(s.stack.Stack, s.stack.Portal.Node().FindChild(jsiiStr("DeployLogs")).Node().DefaultChild())
	for i := range lines {
		lines[i] = strings.ReplaceAll(lines[i], logsID, "LOGS")
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("the deploy role's permissions (-want +got):\n%s", diff)
	}
}

func jsiiStr(s string) *string { return &s }

// stagedFile returns the content of the file named name that the portal's
// deployment stages in the cloud assembly, with the deployment's markers
// (deploy-time values) replaced by their rendered values.
func stagedFile(t *testing.T, s *synthesized, name string) string {
	t.Helper()
	dir := *awscdk.Stage_Of(s.stack.Stack).Outdir()
	_, dep := only(t, s, "Custom::CDKBucketDeployment")
	keys, markerSets := asList(props(dep)["SourceObjectKeys"]), asList(props(dep)["SourceMarkers"])
	var out []string
	for i, key := range keys {
		// A source's zip is staged as the directory asset.<its hash>.
		b, err := os.ReadFile(filepath.Join(dir, "asset."+strings.TrimSuffix(str(key), ".zip"), name))
		if err != nil {
			continue
		}
		content := string(b)
		for k, v := range markerSets[i].(map[string]any) {
			content = strings.ReplaceAll(content, k, s.render(v))
		}
		out = append(out, content)
	}
	if len(out) != 1 {
		t.Fatalf("%d deployed sources hold %s, want 1", len(out), name)
	}
	return out[0]
}

// stagedConfig is the deployed config.json.
func stagedConfig(t *testing.T, s *synthesized) portal.Config {
	t.Helper()
	var cfg portal.Config
	raw := stagedFile(t, s, "config.json")
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("config.json: %v\n%s", err, raw)
	}
	return cfg
}
