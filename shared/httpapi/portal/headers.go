// Package portal serves the browser portal (the bundle embedded from
// web/dist) next to the API: its security headers, its cache rules, the
// runtime configuration it reads from /config.json, and, only on a demo
// server on loopback, the demo identities it can sign in as. The headers and
// cache rules are also what the CDK app puts on CloudFront (infra/stack
// portal.go), so that both deployments answer the same.
package portal

import (
	"net/url"
	"slices"
	"strings"
)

// Directives of the Content-Security-Policy, in the order they are written.
// No 'unsafe-inline' or 'unsafe-eval' anywhere: every script and style is a
// file of the bundle, and the configuration is fetched, never inlined.
const (
	cspDefault        = "default-src 'self'"
	cspScript         = "script-src 'self'"
	cspStyle          = "style-src 'self'"
	cspImg            = "img-src 'self' blob: data:"
	cspConnect        = "connect-src 'self'"
	cspObject         = "object-src 'none'"
	cspBase           = "base-uri 'none'"
	cspForm           = "form-action 'self'"
	cspFrameAncestors = "frame-ancestors 'none'"
)

// Origins are the other origins a page may reach besides its own.
type Origins struct {
	// Media are the origins the signed URLs point at (the blob store: S3
	// in AWS, the server itself locally): the page shows chat images from
	// them (img-src) and fetches ciphertexts from them (connect-src).
	Media []string
	// Connect are the origins the page only fetches from: the API when it
	// is on another origin, the identity provider's token endpoint.
	Connect []string
}

// without returns o without self, which 'self' already allows.
func (o Origins) without(self string) Origins {
	drop := func(xs []string) []string {
		return slices.DeleteFunc(slices.Clone(xs), func(x string) bool { return x == self })
	}
	return Origins{Media: drop(o.Media), Connect: drop(o.Connect)}
}

// CSP is the Content-Security-Policy of every page and asset of the portal,
// allowing o's origins where they are needed and nothing else: no inline
// script or style, no eval, no plugin, no base URL, forms only to the page's
// own origin, and never in a frame.
func CSP(o Origins) string {
	join := func(base string, extra ...[]string) string {
		out := base
		for _, xs := range extra {
			for _, x := range xs {
				if !strings.Contains(out+" ", " "+x+" ") {
					out += " " + x
				}
			}
		}
		return out
	}
	return strings.Join([]string{
		cspDefault,
		cspScript,
		cspStyle,
		join(cspImg, o.Media),
		join(cspConnect, o.Media, o.Connect),
		cspObject,
		cspBase,
		cspForm,
		cspFrameAncestors,
	}, "; ")
}

// CSPMeta is CSP(o) without frame-ancestors, which a policy given in a
// <meta http-equiv="Content-Security-Policy"> element cannot hold. The CDK
// app puts it into index.html at deploy time, where it narrows a header
// policy that cannot name its origins exactly (see infra/stack/portal.go);
// a browser enforces both, so the page gets the exact origins.
func CSPMeta(o Origins) string {
	return strings.TrimSuffix(CSP(o), "; "+cspFrameAncestors)
}

// PermissionsPolicy denies the page every powerful feature it has no use
// for: the camera, the microphone, location, screen capture and the
// device APIs. A photo is picked from files, not taken by the page.
const PermissionsPolicy = "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), " +
	"hid=(), magnetometer=(), microphone=(), midi=(), payment=(), serial=(), usb=()"

// The fixed security headers of every answer of the portal, besides the
// CSP and Cache-Control.
const (
	ContentTypeOptions      = "nosniff"
	ReferrerPolicy          = "no-referrer"
	CrossOriginOpener       = "same-origin"
	CrossOriginResource     = "same-origin"
	FrameOptions            = "DENY"
	StrictTransportSecurity = "max-age=31536000; includeSubDomains"
)

// Headers are the security headers of every answer of the portal, with the
// CSP allowing o, as header name → value. Strict-Transport-Security
// (StrictTransportSecurity) is not among them: CloudFront sends it, and
// medshare serve sends it on every answer when it serves TLS (a browser
// ignores it on plain HTTP).
func Headers(o Origins) map[string]string {
	return map[string]string{
		"Content-Security-Policy":      CSP(o),
		"X-Content-Type-Options":       ContentTypeOptions,
		"Referrer-Policy":              ReferrerPolicy,
		"Cross-Origin-Opener-Policy":   CrossOriginOpener,
		"Cross-Origin-Resource-Policy": CrossOriginResource,
		"Permissions-Policy":           PermissionsPolicy,
		"X-Frame-Options":              FrameOptions,
	}
}

// AssetsDir is where the bundle keeps its content-hashed files (web/dist/
// assets/): a file there changes name when it changes, so it may be cached
// for a year. Everything else (index.html, config.json, any file not under
// it) is never stored by a cache: a deploy takes effect at the next load.
const AssetsDir = "assets/"

// Cache-Control values.
const (
	CacheNone      = "no-store"
	CacheImmutable = "public, max-age=31536000, immutable"
)

// CacheControl is the Cache-Control of the portal's file at path (URL
// path, with its leading slash).
func CacheControl(path string) string {
	if strings.HasPrefix(path, "/"+AssetsDir) && len(path) > len(AssetsDir)+1 {
		return CacheImmutable
	}
	return CacheNone
}

// Origin returns the origin (scheme://host[:port]) of an absolute URL, or
// "" when raw is not one.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}
