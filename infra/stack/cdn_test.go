package stack

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"html"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/cdnblob"
	"github.com/medshare/medshare/shared/httpapi/portal"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

var (
	cdnKeysOnce sync.Once
	cdnKeyPEMs  []string
)

// testCDNKeys returns two PEM RSA 2048 public keys, as `medshare cdn-key
// generate` prints them.
func testCDNKeys(t *testing.T) []string {
	t.Helper()
	cdnKeysOnce.Do(func() {
		for i := 0; i < 2; i++ {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			b, err := cdnblob.PublicKeyPEM(k)
			if err != nil {
				panic(err)
			}
			cdnKeyPEMs = append(cdnKeyPEMs, string(b))
		}
	})
	return cdnKeyPEMs
}

// oneLine is a PEM public key as the line `medshare cdn-key generate`
// prints: the base64 of its DER.
func oneLine(t *testing.T, p string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		t.Fatal("not PEM")
	}
	return base64.StdEncoding.EncodeToString(block.Bytes)
}

// TestChatCDN synthesizes the stack with chat images behind CloudFront, in
// the middle of a key rotation (two public keys: one as the line `medshare
// cdn-key generate` prints, one in PEM), and checks each concern of the
// construct; the rest of the stack is as TestStack checks it.
func TestChatCDN(t *testing.T) {
	keys := testCDNKeys(t)
	s := synth(t, map[string]string{CtxChatCDNPublicKey: oneLine(t, keys[0]), CtxChatCDNNextPublicKey: keys[1], CtxCORSOrigins: "https://app.example.com"})
	cdn := s.stack.ChatCDN
	if cdn == nil {
		t.Fatal("no chat CDN with a public key in the context")
	}
	id := func(c any) string { return logicalID(s.stack.Stack, c) }
	// The portal has a distribution, an origin access control and
	// response-headers policies of its own: the CDN's are found by their
	// construct.
	distID, kgID, oacID := id(cdn.Distribution.Node().DefaultChild()), id(cdn.KeyGroup.Node().DefaultChild()), ""
	for oid := range s.resources("AWS::CloudFront::OriginAccessControl") {
		if strings.HasPrefix(oid, "ChatCdn") {
			oacID = oid
		}
	}
	mine := func(typ, id string) map[string]any {
		t.Helper()
		r, ok := s.resources(typ)[id]
		if !ok {
			t.Fatalf("no %s %s", typ, id)
		}
		return r
	}
	secretID, secretKeyID, logsID := id(cdn.Secret.Node().DefaultChild()), id(cdn.SecretKey.Node().DefaultChild()), id(cdn.Logs.Node().DefaultChild())
	objID, accessLogsID := keyID(s, "bucket"), keyID(s, "logbucket")

	t.Run("distribution", func(t *testing.T) {
		d := mine("AWS::CloudFront::Distribution", distID)
		cfg := props(d)["DistributionConfig"].(map[string]any)
		b := cfg["DefaultCacheBehavior"].(map[string]any)
		if b["ViewerProtocolPolicy"] != "https-only" || s.render(b["AllowedMethods"]) != "GET,HEAD" {
			t.Errorf("behavior: %v over %v, want https-only GET and HEAD", b["AllowedMethods"], b["ViewerProtocolPolicy"])
		}
		if got := s.render(b["TrustedKeyGroups"]); got != kgID {
			t.Errorf("trusted key groups %s, want only %s: every request must be signed", got, kgID)
		}
		if got := str(b["ResponseHeadersPolicyId"].(map[string]any)["Ref"]); got != id(cdn.Headers.Node().DefaultChild()) {
			t.Errorf("response headers policy %s", got)
		}
		if len(asList(cfg["CacheBehaviors"])) > 0 && cfg["CacheBehaviors"] != nil {
			t.Errorf("cache behaviors %v: the default behavior must be the only one", cfg["CacheBehaviors"])
		}
		origins := asList(cfg["Origins"])
		if len(origins) != 1 {
			t.Fatalf("%d origins, want the bucket only", len(origins))
		}
		o := origins[0].(map[string]any)
		if got := s.render(o["DomainName"]); got != "bucket" {
			t.Errorf("origin %s, want the objects' bucket", got)
		}
		if o["OriginPath"] != "/"+strings.TrimSuffix(lambdafn.ChatPrefix, "/") {
			t.Errorf("origin path %v, want /%s: no other prefix is reachable", o["OriginPath"], strings.TrimSuffix(lambdafn.ChatPrefix, "/"))
		}
		if got := s.render(o["OriginAccessControlId"]); got != oacID {
			t.Errorf("origin access control %s, want %s", got, oacID)
		}
		if oai := s.render(o["S3OriginConfig"].(map[string]any)["OriginAccessIdentity"]); oai != "" {
			t.Errorf("origin access identity %q beside the access control", oai)
		}
		logging := cfg["Logging"].(map[string]any)
		if got := s.render(logging["Bucket"]); got != logsID {
			t.Errorf("access logs to %s, want %s", got, logsID)
		}
	})

	t.Run("origin access control", func(t *testing.T) {
		oac := mine("AWS::CloudFront::OriginAccessControl", oacID)
		c := props(oac)["OriginAccessControlConfig"].(map[string]any)
		if c["SigningBehavior"] != "always" || c["SigningProtocol"] != "sigv4" || c["OriginAccessControlOriginType"] != "s3" {
			t.Errorf("origin access control %v, want SigV4 on every request to S3", c)
		}
	})

	t.Run("bucket policy", func(t *testing.T) {
		// CloudFront may read the chat images, from this distribution only,
		// and nothing else; the bucket's denials stay.
		var allows []string
		denies := 0
		for _, st := range s.bucketStatements(objID) {
			if st["Effect"] == "Deny" {
				denies++
				continue
			}
			allows = append(allows, s.render(st["Principal"].(map[string]any)["Service"])+" "+s.render(st["Action"])+" "+
				s.render(st["Resource"])+" "+s.conditions(st["Condition"]))
		}
		want := []string{"cloudfront.amazonaws.com s3:GetObject bucket/" + lambdafn.ChatPrefix + "* StringEquals{AWS:SourceArn=arn:${Partition}:cloudfront::${AccountId}:distribution/" + distID + "}"}
		if diff := cmp.Diff(want, allows); diff != "" {
			t.Errorf("object bucket policy's Allow statements (-want +got):\n%s", diff)
		}
		if denies != 8 {
			t.Errorf("%d denials on the bucket, want the 8 of TestStack/storage", denies)
		}
	})

	t.Run("data key policy", func(t *testing.T) {
		k := s.resources("AWS::KMS::Key")[keyID(s, "key")]
		var got []string
		for _, st := range asList(props(k)["KeyPolicy"].(map[string]any)["Statement"]) {
			st := st.(map[string]any)
			if p, ok := st["Principal"].(map[string]any); ok && p["Service"] != nil {
				got = append(got, str(st["Effect"])+" "+s.render(p["Service"])+" "+s.render(st["Action"])+" "+s.conditions(st["Condition"]))
			}
		}
		want := []string{"Allow cloudfront.amazonaws.com kms:Decrypt ArnLike{AWS:SourceArn=arn:${Partition}:cloudfront::${AccountId}:distribution/*} " +
			"StringEquals{kms:ViaService=s3.${Region}.amazonaws.com}"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("service statements of the data key (-want +got):\n%s", diff)
		}
	})

	t.Run("key group", func(t *testing.T) {
		pks := s.resources("AWS::CloudFront::PublicKey")
		var encoded, ids []string
		for pid, pk := range pks {
			encoded = append(encoded, strings.TrimSpace(str(props(pk)["PublicKeyConfig"].(map[string]any)["EncodedKey"])))
			ids = append(ids, pid)
		}
		sort.Strings(encoded)
		sort.Strings(ids)
		want := []string{strings.TrimSpace(keys[0]), strings.TrimSpace(keys[1])}
		sort.Strings(want)
		if diff := cmp.Diff(want, encoded); diff != "" {
			t.Errorf("public keys (-want +got):\n%s", diff)
		}
		_, kg := only(t, s, "AWS::CloudFront::KeyGroup")
		if got := s.render(props(kg)["KeyGroupConfig"].(map[string]any)["Items"]); got != strings.Join(ids, ",") {
			t.Errorf("key group items %s, want %v", got, ids)
		}
		// Each key's resource follows the key, not its role.
		for i, pk := range cdn.PublicKeys {
			fp, _ := publicKeyFingerprint(keys[i])
			if got := *pk.Node().Id(); got != "PublicKey"+fp[:12] {
				t.Errorf("key %d has construct id %s, want one named by its fingerprint", i, got)
			}
		}
	})

	t.Run("secret", func(t *testing.T) {
		sec := s.resources("AWS::SecretsManager::Secret")[secretID]
		if got := s.render(props(sec)["KmsKeyId"]); got != secretKeyID {
			t.Errorf("secret encrypted with %s, want its own key %s", got, secretKeyID)
		}
		if sec["DeletionPolicy"] != "Retain" {
			t.Error("the signing key's secret is not retained")
		}
		if _, ok := props(sec)["SecretString"]; ok {
			t.Error("the template holds the secret's value")
		}
		k := s.resources("AWS::KMS::Key")[secretKeyID]
		if props(k)["EnableKeyRotation"] != true {
			t.Error("the secret's key is not rotated")
		}
		// Only the signer may read the secret: no other policy names it,
		// and no template value is a private key.
		for pid, p := range s.resources("AWS::IAM::ManagedPolicy") {
			doc := props(p)["PolicyDocument"].(map[string]any)
			for _, st := range asList(doc["Statement"]) {
				st := st.(map[string]any)
				names := strings.Contains(s.render(st["Resource"]), secretID) || strings.Contains(s.render(st["Resource"]), secretKeyID)
				if names && s.render(props(p)["Roles"]) != "role:"+ChatCDNFunction {
					t.Errorf("policy %s on %s grants %v on the secret or its key", pid, s.render(props(p)["Roles"]), st["Action"])
				}
			}
		}
		for _, p := range s.resources("AWS::IAM::Policy") {
			if strings.Contains(s.render(props(p)["PolicyDocument"]), secretID) {
				t.Errorf("an inline policy names the secret: %v", props(p)["PolicyDocument"])
			}
		}
		if tpl := s.render(s.json["Resources"]); strings.Contains(tpl, "PRIVATE KEY") {
			t.Error("the template holds a private key")
		}
	})

	t.Run("signer", func(t *testing.T) {
		fns := s.resources("AWS::Lambda::Function")
		for name, fid := range s.fns {
			env := props(fns[fid])["Environment"].(map[string]any)["Variables"].(map[string]any)
			domain, hasDomain := env[cdnblob.EnvDomain]
			secret, hasSecret := env[cdnblob.EnvKeySecret]
			if name != ChatCDNFunction {
				if hasDomain || hasSecret {
					t.Errorf("%s has the CDN's environment", name)
				}
				continue
			}
			if s.render(domain) != distID || s.render(secret) != secretID {
				t.Errorf("%s's environment: %s=%s, %s=%s; want the distribution's domain and the secret's ARN",
					name, cdnblob.EnvDomain, s.render(domain), cdnblob.EnvKeySecret, s.render(secret))
			}
			deps := asList(fns[fid]["DependsOn"])
			if !strings.Contains(s.render(deps), id(cdn.ReadKey.Node().DefaultChild())) {
				t.Errorf("%s does not depend on its permission to read the key: %v", name, deps)
			}
		}
	})

	t.Run("iam", func(t *testing.T) {
		// Every function keeps TestStack/iam's permissions; the signer adds
		// the read of the secret, and its key only through Secrets Manager.
		want := wantIAM()
		want[ChatCDNFunction] = append(want[ChatCDNFunction],
			"secretsmanager:GetSecretValue "+secretID,
			"kms:Decrypt "+secretKeyID+" if StringEquals{kms:ViaService=secretsmanager.${Region}.amazonaws.com}")
		checkGrants(t, s, want)
	})

	t.Run("headers", func(t *testing.T) {
		h := mine("AWS::CloudFront::ResponseHeadersPolicy", id(cdn.Headers.Node().DefaultChild()))
		cfg := props(h)["ResponseHeadersPolicyConfig"].(map[string]any)
		sec := cfg["SecurityHeadersConfig"].(map[string]any)
		for _, k := range []string{"ContentTypeOptions", "FrameOptions", "ReferrerPolicy", "StrictTransportSecurity", "ContentSecurityPolicy"} {
			if _, ok := sec[k]; !ok {
				t.Errorf("no %s header", k)
			}
		}
		if sec["FrameOptions"].(map[string]any)["FrameOption"] != "DENY" {
			t.Errorf("frame options %v", sec["FrameOptions"])
		}
		cors := cfg["CorsConfig"].(map[string]any)
		if got := s.render(cors["AccessControlAllowOrigins"].(map[string]any)["Items"]); got != "https://app.example.com,https://cdn" {
			t.Errorf("CORS origins %s, want the stack's and the portal's", got)
		}
	})

	// The portal shows chat images from the distribution: its header CSP
	// allows CloudFront's domains, and the <meta> CSP deployed in its
	// index.html the distribution's own.
	t.Run("portal", func(t *testing.T) {
		pt := mine("AWS::CloudFront::ResponseHeadersPolicy", id(s.stack.Portal.Headers.Node().DefaultChild()))
		csp := s.render(props(pt)["ResponseHeadersPolicyConfig"].(map[string]any)["SecurityHeadersConfig"].(map[string]any)["ContentSecurityPolicy"].(map[string]any)["ContentSecurityPolicy"])
		for _, directive := range []string{"img-src", "connect-src"} {
			if !strings.Contains(csp, directive) || !strings.Contains(strings.SplitN(strings.SplitN(csp, directive, 2)[1], ";", 2)[0], " https://*.cloudfront.net") {
				t.Errorf("the portal's header CSP %q: %s does not allow https://*.cloudfront.net", csp, directive)
			}
		}
		// The markers of deploy-time values render as the resource's name.
		page := stagedFile(t, s, "index.html")
		meta := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(page)
		want := portal.CSPMeta(portal.Origins{
			Media:   append(slices.Clone(exactOrigins.Media), "https://"+s.name(distID)),
			Connect: exactOrigins.Connect,
		})
		if meta == nil || html.UnescapeString(meta[1]) != want {
			t.Errorf("the deployed index.html's CSP:\n%s\nwant %s", page, want)
		}
	})

	t.Run("logging", func(t *testing.T) {
		b := props(s.resources("AWS::S3::Bucket")[logsID])
		if oc := s.render(b["OwnershipControls"].(map[string]any)["Rules"].([]any)[0].(map[string]any)["ObjectOwnership"]); oc != "BucketObjectWriter" && oc != "BucketOwnerPreferred" {
			t.Errorf("log bucket ownership %s: CloudFront delivers its logs through an ACL", oc)
		}
		pab := b["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				t.Errorf("log bucket: %s is not true", k)
			}
		}
		if got := s.render(b["LoggingConfiguration"].(map[string]any)["DestinationBucketName"]); got != "logbucket" || accessLogsID == "" {
			t.Errorf("the log bucket's access logs go to %s, want the access-log bucket", got)
		}
	})

	t.Run("outputs", func(t *testing.T) {
		outputs := s.json["Outputs"].(map[string]any)
		for _, name := range []string{OutCdnDomain, OutCdnKeySecret, OutCdnPublicKeyID, OutCdnNextPublicKeyID} {
			if _, ok := outputs[name]; !ok {
				t.Errorf("no output %s", name)
			}
		}
		want := id(cdn.PublicKeys[0].Node().DefaultChild())
		if got := s.render(outputs[OutCdnPublicKeyID].(map[string]any)["Value"]); got != want {
			t.Errorf("%s is %s, want the current key %s", OutCdnPublicKeyID, got, want)
		}
	})

	t.Run("warnings", func(t *testing.T) {
		// The origin's own grant is skipped on purpose (the bucket policy
		// above is scoped to the chat images); nothing else warns.
		for _, w := range *assertions.Annotations_FromStack(s.stack.Stack).FindWarning(jsii.String("*"), assertions.Match_AnyValue()) {
			t.Errorf("CDK warning on %s: %v", *w.Id, w.Entry.Data)
		}
	})
	t.Run("nag", func(t *testing.T) { testNag(t, s) })
	t.Run("dependencies", func(t *testing.T) { testDependencies(t, s) })
}

// TestNoChatCDNByDefault: without a public key there is no distribution,
// and chat-signed-url hands out presigned S3 GETs (its environment names
// no distribution).
func TestNoChatCDNByDefault(t *testing.T) {
	s := synth(t, nil)
	if s.stack.ChatCDN != nil || len(s.resources("AWS::CloudFront::Distribution")) != 1 {
		t.Error("a chat CDN without chatCdnPublicKey (the one distribution is the portal's)")
	}
	env := props(s.resources("AWS::Lambda::Function")[s.fns[ChatCDNFunction]])["Environment"].(map[string]any)["Variables"].(map[string]any)
	if _, ok := env[cdnblob.EnvDomain]; ok {
		t.Errorf("%s names a distribution", ChatCDNFunction)
	}
}

func TestChatCDNConfig(t *testing.T) {
	keys := testCDNKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for name, c := range map[string]struct {
		ctx map[string]string
		ok  bool
	}{
		"none":                         {nil, true},
		"one key":                      {map[string]string{CtxChatCDNPublicKey: keys[0]}, true},
		"one key on a line":            {map[string]string{CtxChatCDNPublicKey: oneLine(t, keys[0])}, true},
		"the same key twice, two ways": {map[string]string{CtxChatCDNPublicKey: oneLine(t, keys[0]), CtxChatCDNNextPublicKey: keys[0]}, false},
		"two keys":                     {map[string]string{CtxChatCDNPublicKey: keys[0], CtxChatCDNNextPublicKey: keys[1]}, true},
		"the next key alone":           {map[string]string{CtxChatCDNNextPublicKey: keys[1]}, false},
		"the same key twice":           {map[string]string{CtxChatCDNPublicKey: keys[0], CtxChatCDNNextPublicKey: keys[0]}, false},
		"not PEM":                      {map[string]string{CtxChatCDNPublicKey: "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"}, false},
		"a 1024-bit key":               {map[string]string{CtxChatCDNPublicKey: smallPEM}, false},
		"a private key":                {map[string]string{CtxChatCDNPublicKey: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := ParseConfig(func(k string) string { return c.ctx[k] })
			if (err == nil) != c.ok {
				t.Fatalf("ParseConfig: %v, want ok=%v", err, c.ok)
			}
			if c.ok && len(cfg.ChatCDNPublicKeys) != len(c.ctx) {
				t.Errorf("%d keys, want %d", len(cfg.ChatCDNPublicKeys), len(c.ctx))
			}
			for i, k := range cfg.ChatCDNPublicKeys {
				if strings.TrimSpace(k) != strings.TrimSpace(keys[i]) {
					t.Errorf("key %d is not the PEM of the context's key:\n%s", i, k)
				}
			}
		})
	}
}
