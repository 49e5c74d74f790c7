// Package stack is the MedShare CDK stack: one construct per concern (keys,
// storage, data, events, functions, API, jobs, monitoring) wired by New, and
// the cdk-nag checks that gate it. Everything it names comes from the
// project's own tables: the routes (httpapi.Routes), the scheduled jobs
// (jobs.Jobs), the table (dynamostore.TableInput) and the functions'
// environment (awsruntime).
package stack

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"

	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// The context keys the app reads (cdk.json, or `-c key=value`).
const (
	CtxStackName             = "stackName"             // CloudFormation stack name (default MedShare)
	CtxAccount               = "account"               // fixed account; empty: environment-agnostic
	CtxRegion                = "region"                // fixed region; empty: environment-agnostic
	CtxAssetDir              = "assetDir"              // directory holding <function>/bootstrap (default dist/functions)
	CtxOIDCIssuer            = "oidcIssuer"            // an existing OIDC issuer URL instead of a Cognito user pool
	CtxOIDCAudience          = "oidcAudience"          // its audiences (comma-separated); required with oidcIssuer
	CtxCORSOrigins           = "corsOrigins"           // origins allowed to call the API and upload (comma-separated)
	CtxAlarmEmail            = "alarmEmail"            // an address subscribed to the alarm topic
	CtxLogRetentionDays      = "logRetentionDays"      // retention of every log group (default 365)
	CtxNoncurrentDays        = "noncurrentVersionDays" // days a deleted or overwritten object version is kept (default 30)
	CtxThrottleRate          = "throttleRate"          // API steady-state requests per second (default 50)
	CtxThrottleBurst         = "throttleBurst"         // API burst (default 100)
	CtxTerminationProtection = "terminationProtection" // stack termination protection (default true)
	CtxPortalDir             = "portalDir"             // the built portal, index.html at its root (default web/dist)
	CtxCognitoDomainPrefix   = "cognitoDomainPrefix"   // the hosted UI's domain prefix (default <stack name>-<account id>)
	// CtxChatCDNPublicKey enables CloudFront delivery of chat images: the
	// public key (RSA 2048) of the key pair that signs their URLs, as the
	// one line of base64 that `medshare cdn-key generate` prints (its DER),
	// or as PEM. CtxChatCDNNextPublicKey adds a second key to the key group
	// while the signing key is rotated (docs/DEPLOY.md).
	CtxChatCDNPublicKey     = "chatCdnPublicKey"
	CtxChatCDNNextPublicKey = "chatCdnNextPublicKey"
)

// The legacy chat images' migration (LegacyMigration, ARCHITECTURE §9):
// CtxLegacyBucket names the legacy chat's bucket in this account's S3,
// which the stack imports (it never creates nor changes it) and lets the
// migration function read; CtxLegacyURLPrefix is where its objects were
// published (every URL of the export starts with it) and CtxLegacyKeyPrefix
// what is put before the rest of a URL's path to make its key. With a
// legacy bucket the stack has the migration's state machine.
const (
	CtxLegacyBucket    = "legacyBucket"
	CtxLegacyURLPrefix = "legacyUrlPrefix"
	CtxLegacyKeyPrefix = "legacyKeyPrefix"
)

// Config is what the stack is built from.
type Config struct {
	StackName       string
	Account, Region string
	// AssetDir holds one directory per function (FunctionNames()) with its
	// `bootstrap` in it, as `make build` writes them.
	AssetDir string
	// OIDCIssuer, when set, replaces the Cognito user pool: the JWT
	// authorizer trusts this issuer for OIDCAudience. Its tokens must carry
	// the role in the cognito:groups claim (httpapi.ClaimGroups).
	OIDCIssuer   string
	OIDCAudience []string
	CORSOrigins  []string
	AlarmEmail   string
	// LogRetentionDays must be one of CloudWatch Logs' retention values.
	LogRetentionDays      int
	NoncurrentVersionDays int
	ThrottleRate          float64
	ThrottleBurst         int
	TerminationProtection bool
	// PortalDir is the built portal that the stack deploys (web/dist).
	PortalDir string
	// CognitoDomainPrefix is the prefix of the hosted UI's domain
	// (https://<prefix>.auth.<region>.amazoncognito.com), which must be
	// unique in the region; "" takes <lowercased stack name>-<account id>.
	CognitoDomainPrefix string
	// ChatCDNPublicKeys, when set, put chat images behind CloudFront
	// (ChatCDN): the public keys its key group trusts, in PEM, the current
	// one first.
	ChatCDNPublicKeys []string
	// LegacyBucket, when set, is the legacy chat's bucket that the
	// migration reads (LegacyMigration), with LegacyURLPrefix and
	// LegacyKeyPrefix (migrate.Settings).
	LegacyBucket, LegacyURLPrefix, LegacyKeyPrefix string
}

// Defaults.
const (
	DefaultStackName             = "MedShare"
	DefaultAssetDir              = "dist/functions"
	DefaultLogRetentionDays      = 365
	DefaultNoncurrentVersionDays = 30
	DefaultThrottleRate          = 50
	DefaultThrottleBurst         = 100
	DefaultPortalDir             = "web/dist"
)

// retentionDays are the values CloudWatch Logs accepts.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// ConfigFromContext reads the configuration from the context of node (the
// app's). Unset keys keep their defaults.
func ConfigFromContext(node constructs.Node) (Config, error) {
	get := func(key string) string {
		v := node.TryGetContext(&key)
		switch v := v.(type) {
		case nil:
			return ""
		case string:
			return strings.TrimSpace(v)
		case []any: // a JSON list in cdk.json
			parts := make([]string, 0, len(v))
			for _, p := range v {
				parts = append(parts, fmt.Sprint(p))
			}
			return strings.Join(parts, ",")
		default: // a JSON number or boolean in cdk.json
			b, _ := json.Marshal(v)
			return string(b)
		}
	}
	return ParseConfig(get)
}

// ParseConfig reads the configuration from get (a context lookup that
// returns "" for an unset key) and checks it.
func ParseConfig(get func(string) string) (Config, error) {
	c := Config{
		StackName:             or(get(CtxStackName), DefaultStackName),
		Account:               get(CtxAccount),
		Region:                get(CtxRegion),
		AssetDir:              or(get(CtxAssetDir), DefaultAssetDir),
		OIDCIssuer:            get(CtxOIDCIssuer),
		OIDCAudience:          list(get(CtxOIDCAudience)),
		CORSOrigins:           list(get(CtxCORSOrigins)),
		AlarmEmail:            get(CtxAlarmEmail),
		PortalDir:             or(get(CtxPortalDir), DefaultPortalDir),
		CognitoDomainPrefix:   get(CtxCognitoDomainPrefix),
		LogRetentionDays:      DefaultLogRetentionDays,
		NoncurrentVersionDays: DefaultNoncurrentVersionDays,
		ThrottleRate:          DefaultThrottleRate,
		ThrottleBurst:         DefaultThrottleBurst,
		TerminationProtection: true,
	}
	var err error
	if c.LogRetentionDays, err = integer(get, CtxLogRetentionDays, c.LogRetentionDays, 1, 3653); err != nil {
		return c, err
	}
	if !slices.Contains(retentionDays, c.LogRetentionDays) {
		return c, fmt.Errorf("context %s=%d: want one of %v", CtxLogRetentionDays, c.LogRetentionDays, retentionDays)
	}
	if c.NoncurrentVersionDays, err = integer(get, CtxNoncurrentDays, c.NoncurrentVersionDays, 1, 3650); err != nil {
		return c, err
	}
	rate, err := integer(get, CtxThrottleRate, int(c.ThrottleRate), 1, 10000)
	if err != nil {
		return c, err
	}
	c.ThrottleRate = float64(rate)
	if c.ThrottleBurst, err = integer(get, CtxThrottleBurst, c.ThrottleBurst, 1, 5000); err != nil {
		return c, err
	}
	if v := get(CtxTerminationProtection); v != "" {
		if c.TerminationProtection, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("context %s=%q: want true or false", CtxTerminationProtection, v)
		}
	}
	if (c.Account == "") != (c.Region == "") {
		return c, fmt.Errorf("context %s and %s go together: set both or neither", CtxAccount, CtxRegion)
	}
	if c.OIDCIssuer != "" {
		u, perr := url.Parse(c.OIDCIssuer)
		if perr != nil || u.Scheme != "https" || u.Host == "" {
			return c, fmt.Errorf("context %s=%q: want an https URL", CtxOIDCIssuer, c.OIDCIssuer)
		}
		if len(c.OIDCAudience) == 0 {
			return c, fmt.Errorf("context %s needs %s (the client ids its tokens are issued to)", CtxOIDCIssuer, CtxOIDCAudience)
		}
	} else if len(c.OIDCAudience) > 0 {
		return c, fmt.Errorf("context %s is only used with %s", CtxOIDCAudience, CtxOIDCIssuer)
	}
	for _, o := range c.CORSOrigins {
		u, perr := url.Parse(o)
		if perr != nil || (u.Scheme != "https" && u.Hostname() != "localhost") || u.Host == "" || u.Path != "" {
			return c, fmt.Errorf("context %s: %q is not an origin (https://host[:port])", CtxCORSOrigins, o)
		}
	}
	if p := c.CognitoDomainPrefix; p != "" && (!cognitoPrefix.MatchString(p) || strings.Contains(p, "aws") || strings.Contains(p, "amazon") || strings.Contains(p, "cognito")) {
		return c, fmt.Errorf("context %s=%q: want 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen, without aws, amazon or cognito", CtxCognitoDomainPrefix, p)
	}
	if c.AlarmEmail != "" && !strings.Contains(c.AlarmEmail, "@") {
		return c, fmt.Errorf("context %s=%q: want an email address", CtxAlarmEmail, c.AlarmEmail)
	}
	if c.ChatCDNPublicKeys, err = cdnPublicKeys(get(CtxChatCDNPublicKey), get(CtxChatCDNNextPublicKey)); err != nil {
		return c, err
	}
	c.LegacyBucket, c.LegacyURLPrefix, c.LegacyKeyPrefix = get(CtxLegacyBucket), get(CtxLegacyURLPrefix), get(CtxLegacyKeyPrefix)
	switch {
	case c.LegacyBucket == "" && (c.LegacyURLPrefix != "" || c.LegacyKeyPrefix != ""):
		return c, fmt.Errorf("context %s and %s are only used with %s", CtxLegacyURLPrefix, CtxLegacyKeyPrefix, CtxLegacyBucket)
	case c.LegacyBucket != "" && !s3BucketName.MatchString(c.LegacyBucket):
		return c, fmt.Errorf("context %s=%q: want an S3 bucket name", CtxLegacyBucket, c.LegacyBucket)
	case c.LegacyBucket != "":
		settings := migrate.Settings{Source: "s3://" + c.LegacyBucket, URLPrefix: c.LegacyURLPrefix, KeyPrefix: c.LegacyKeyPrefix}
		if err := settings.Check(); err != nil {
			return c, fmt.Errorf("context %s, %s: %w", CtxLegacyURLPrefix, CtxLegacyKeyPrefix, err)
		}
	}
	return c, nil
}

// s3BucketName is the shape of an S3 bucket name (3 to 63 lowercase
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit).
var s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// cognitoPrefix is the shape Cognito accepts for a domain prefix.
var cognitoPrefix = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// CheckPortal reports a portal directory without index.html.
func CheckPortal(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return fmt.Errorf("no index.html in %s: build the portal (make web) or point context %s at it", dir, CtxPortalDir)
	}
	return nil
}

// cdnPublicKeys checks the chat CDN's public keys and returns them in PEM:
// RSA 2048 public keys (what CloudFront's key groups take and the
// functions' signer needs), the next one only beside a current one, and
// not the same.
func cdnPublicKeys(current, next string) ([]string, error) {
	if current == "" {
		if next != "" {
			return nil, fmt.Errorf("context %s needs %s", CtxChatCDNNextPublicKey, CtxChatCDNPublicKey)
		}
		return nil, nil
	}
	keys := []string{current}
	if next != "" {
		keys = append(keys, next)
	}
	var seen []string
	for i, k := range keys {
		name := []string{CtxChatCDNPublicKey, CtxChatCDNNextPublicKey}[i]
		keys[i] = publicKeyPEM(k)
		fp, err := publicKeyFingerprint(keys[i])
		if err != nil {
			return nil, fmt.Errorf("context %s: %w", name, err)
		}
		if slices.Contains(seen, fp) {
			return nil, fmt.Errorf("context %s is the same key as %s", CtxChatCDNNextPublicKey, CtxChatCDNPublicKey)
		}
		seen = append(seen, fp)
	}
	return keys, nil
}

// publicKeyPEM returns k in PEM: k itself when it is PEM, else k read as
// the base64 of a DER public key, the one-line form that fits a context
// value on a command line. What is neither comes back as it is, for
// publicKeyFingerprint to refuse.
func publicKeyPEM(k string) string {
	k = strings.TrimSpace(k)
	if strings.HasPrefix(k, "-----BEGIN") {
		return k + "\n"
	}
	der, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return k
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// publicKeyFingerprint returns the hex SHA-256 of a PEM RSA 2048 public
// key's DER, or why it is not one.
func publicKeyFingerprint(p string) (string, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "PUBLIC KEY" {
		return "", errors.New("want a public key: the line medshare cdn-key generate prints, or PEM (-----BEGIN PUBLIC KEY-----)")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok || rk.N.BitLen() != 2048 {
		return "", errors.New("want an RSA 2048 public key (CloudFront's SHA-1 signed URLs)")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// FunctionNames lists every function of the stack: one per route of the route
// table, then one per scheduled job (lambdafn.Names, the names of
// lambdafn.Permissions). Each name is also the function's directory under
// functions/ and under the asset directory.
func FunctionNames() []string { return lambdafn.Names() }

// CheckAssets reports the functions whose bootstrap is missing from dir.
func CheckAssets(dir string) error {
	var missing []string
	for _, name := range FunctionNames() {
		if _, err := os.Stat(filepath.Join(dir, name, "bootstrap")); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no bootstrap in %s for %s: run `make build` (or point context %s at the binaries)",
			dir, strings.Join(missing, ", "), CtxAssetDir)
	}
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func list(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func integer(get func(string) string, key string, def, lo, hi int) (int, error) {
	v := get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("context %s=%q: want an integer from %d to %d", key, v, lo, hi)
	}
	return n, nil
}
