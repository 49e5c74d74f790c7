// Package config reads the service's configuration from the environment, the
// same way for the local server and the Lambda functions.
package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// Environment variables.
const (
	EnvChatURLTTL     = "MEDSHARE_CHAT_URL_TTL"     // Go duration, default 1h
	EnvUploadTTL      = "MEDSHARE_UPLOAD_TTL"       // Go duration, default 15m
	EnvMaxUploadBytes = "MEDSHARE_MAX_UPLOAD_BYTES" // integer, default 20971520

	// The limits per hour (core.Limits), integers from 1 to MaxLimit.
	EnvLimitDeniedRecords   = "MEDSHARE_LIMIT_DENIED_RECORDS"   // default core.DefaultDeniedRecordLimit
	EnvLimitSessions        = "MEDSHARE_LIMIT_SESSIONS"         // default core.DefaultShareCreateLimit
	EnvLimitAccesses        = "MEDSHARE_LIMIT_ACCESSES"         // default core.DefaultAccessOpenLimit
	EnvLimitActivityReports = "MEDSHARE_LIMIT_ACTIVITY_REPORTS" // default core.DefaultActivityReportLimit
	EnvLimitAppointments    = "MEDSHARE_LIMIT_APPOINTMENTS"     // default core.DefaultAppointmentLimit
	EnvLimitChatUploads     = "MEDSHARE_LIMIT_CHAT_UPLOADS"     // default core.DefaultChatUploadLimit
	EnvLimitPhotoKeys       = "MEDSHARE_LIMIT_PHOTO_KEYS"       // default core.DefaultPhotoKeyLimit

	// EnvLegacyResolve is "on" (the default) or "off": whether an old chat
	// image URL of an image not yet migrated resolves to its legacy URL
	// (core.Config.LegacyResolutionOff, phase 4 of ARCHITECTURE §9).
	EnvLegacyResolve = "MEDSHARE_LEGACY_RESOLVE"
)

// MaxLimit is the largest value of a limit variable.
const MaxLimit = 1_000_000

// Service reads the service's tunables; unset variables keep the defaults.
func Service(getenv func(string) string) (core.Config, error) {
	var c core.Config
	var err error
	if c.ChatURLTTL, err = duration(getenv, EnvChatURLTTL, time.Second, 7*24*time.Hour); err != nil {
		return c, err
	}
	if c.UploadTTL, err = duration(getenv, EnvUploadTTL, time.Second, 7*24*time.Hour); err != nil {
		return c, err
	}
	if v := getenv(EnvMaxUploadBytes); v != "" {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 1 || n > 5<<30 {
			return c, fmt.Errorf("%s=%q: want a byte count between 1 and 5 GiB", EnvMaxUploadBytes, v)
		}
		c.MaxUploadBytes = n
	}
	for _, l := range []struct {
		name string
		v    *int
	}{
		{EnvLimitDeniedRecords, &c.Limits.DeniedRecords},
		{EnvLimitSessions, &c.Limits.SharesCreated},
		{EnvLimitAccesses, &c.Limits.AccessesOpened},
		{EnvLimitActivityReports, &c.Limits.ActivityReports},
		{EnvLimitAppointments, &c.Limits.Appointments},
		{EnvLimitChatUploads, &c.Limits.ChatUploads},
		{EnvLimitPhotoKeys, &c.Limits.PhotoKeys},
	} {
		v := getenv(l.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return c, fmt.Errorf("%s=%q: want a count per hour between 1 and %d", l.name, v, MaxLimit)
		}
		*l.v = n
	}
	switch v := getenv(EnvLegacyResolve); v {
	case "", "on":
	case "off":
		c.LegacyResolutionOff = true
	default:
		return c, fmt.Errorf("%s=%q: want on or off", EnvLegacyResolve, v)
	}
	return c, nil
}

func duration(getenv func(string) string, name string, lo, hi time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("%s=%q: want a Go duration between %v and %v", name, v, lo, hi)
	}
	return d, nil
}
