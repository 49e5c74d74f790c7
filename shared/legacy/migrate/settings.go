package migrate

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/medshare/medshare/shared/legacy"
)

// The environment of the migration: `medshare migrate` reads it under its
// flags, and the migration function reads it alone.
const (
	// EnvLegacyURLPrefix is where the legacy objects were published: the
	// start of every URL of the export (legacy.Origin.URLPrefix).
	EnvLegacyURLPrefix = "MEDSHARE_LEGACY_URL_PREFIX"
	// EnvLegacyKeyPrefix is put before the rest of a URL's path to make its
	// key in the source (legacy.Origin.KeyPrefix).
	EnvLegacyKeyPrefix = "MEDSHARE_LEGACY_KEY_PREFIX"
	// EnvLegacySource is where the objects are read: s3://BUCKET (the S3
	// API) or an http(s):// base URL (plain GETs).
	EnvLegacySource = "MEDSHARE_LEGACY_SOURCE"
	// EnvLegacyEndpoint is the S3 endpoint of an S3-compatible legacy
	// bucket (DigitalOcean Spaces: https://nyc3.digitaloceanspaces.com);
	// empty for the AWS account's own S3.
	EnvLegacyEndpoint = "MEDSHARE_LEGACY_ENDPOINT"
	// EnvLegacyRegion is that endpoint's region (default: the AWS one).
	EnvLegacyRegion = "MEDSHARE_LEGACY_REGION"
	// EnvLegacyPathStyle is "true" to address the legacy bucket by path.
	EnvLegacyPathStyle = "MEDSHARE_LEGACY_PATH_STYLE"
	// EnvLegacyAccessKeyID and EnvLegacySecretAccessKey are the keys of an
	// S3-compatible endpoint (with EnvLegacyEndpoint only; otherwise the
	// AWS credentials of the process read the bucket).
	EnvLegacyAccessKeyID     = "MEDSHARE_LEGACY_ACCESS_KEY_ID"
	EnvLegacySecretAccessKey = "MEDSHARE_LEGACY_SECRET_ACCESS_KEY"
)

// Settings say where the legacy objects are and how their URLs map to keys.
type Settings struct {
	URLPrefix, KeyPrefix string
	Source               string
	Endpoint, Region     string
	PathStyle            bool
	AccessKeyID          string
	SecretAccessKey      string
}

// SettingsFromEnv reads Settings from the environment.
func SettingsFromEnv(getenv func(string) string) Settings {
	return Settings{
		URLPrefix: getenv(EnvLegacyURLPrefix), KeyPrefix: getenv(EnvLegacyKeyPrefix),
		Source: getenv(EnvLegacySource), Endpoint: getenv(EnvLegacyEndpoint), Region: getenv(EnvLegacyRegion),
		PathStyle:   getenv(EnvLegacyPathStyle) == "true",
		AccessKeyID: getenv(EnvLegacyAccessKeyID), SecretAccessKey: getenv(EnvLegacySecretAccessKey),
	}
}

// Origin is the mapping of the export's URLs to the source's keys.
func (s Settings) Origin() (legacy.Origin, error) {
	if s.URLPrefix == "" {
		return legacy.Origin{}, fmt.Errorf("the legacy url prefix is not set (--legacy-url-prefix or %s)", EnvLegacyURLPrefix)
	}
	return legacy.NewOrigin(s.URLPrefix, s.KeyPrefix)
}

// Bucket returns the bucket of an s3:// source, and whether the source is one.
func (s Settings) Bucket() (string, bool) {
	b, ok := strings.CutPrefix(s.Source, "s3://")
	return strings.TrimSuffix(b, "/"), ok
}

// Check refuses settings that name no source, or an S3 source that is not
// a bucket name, or keys without an endpoint.
func (s Settings) Check() error {
	if _, err := s.Origin(); err != nil {
		return err
	}
	if b, ok := s.Bucket(); ok {
		if b == "" || strings.Contains(b, "/") {
			return fmt.Errorf("legacy source %q: want s3://BUCKET (the key prefix is --legacy-key-prefix)", s.Source)
		}
	} else {
		u, err := url.Parse(s.Source)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("legacy source %q: want s3://BUCKET or an http(s):// base URL (--legacy-source or %s)", s.Source, EnvLegacySource)
		}
		if s.Endpoint != "" {
			return fmt.Errorf("a legacy endpoint is for an s3:// source, not %s", s.Source)
		}
	}
	if (s.AccessKeyID != "" || s.SecretAccessKey != "") && (s.Endpoint == "" || s.AccessKeyID == "" || s.SecretAccessKey == "") {
		return fmt.Errorf("%s and %s go together, with %s", EnvLegacyAccessKeyID, EnvLegacySecretAccessKey, EnvLegacyEndpoint)
	}
	return nil
}
