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
)

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
