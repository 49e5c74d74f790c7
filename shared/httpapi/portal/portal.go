package portal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// Config is what the page reads at runtime from /config.json: where the API
// is and how to sign in. It is a file of its own, fetched by the page, so
// that the CSP needs no inline script.
type Config struct {
	// APIBaseURL is the API's base URL; "" means the page's own origin
	// (medshare serve).
	APIBaseURL string `json:"api_base_url"`
	Auth       Auth   `json:"auth"`
	// DemoSignIn says that GET /demo/identities answers: the server runs
	// with --demo on a loopback address.
	DemoSignIn bool `json:"demo_sign_in"`
}

// Sign-in modes.
const (
	// AuthToken: the user pastes a bearer token (medshare token), or picks
	// a demo identity when DemoSignIn is set.
	AuthToken = "token"
	// AuthCognito: the Cognito hosted UI, authorization-code flow with PKCE
	// (S256), a public client without a secret.
	AuthCognito = "cognito"
)

// Auth is how the page signs in. The endpoints and client are set in
// AuthCognito mode only.
type Auth struct {
	Mode                  string   `json:"mode"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint,omitempty"`
	LogoutEndpoint        string   `json:"logout_endpoint,omitempty"`
	ClientID              string   `json:"client_id,omitempty"`
	RedirectURI           string   `json:"redirect_uri,omitempty"`
	Scopes                []string `json:"scopes,omitempty"`
}

// Demo is the demo data of `medshare serve --demo`, which the page may sign
// in as. Mint makes a fresh token for a subject and role.
type Demo struct {
	Patient, Professional, Clinic, Appointment string
	Mint                                       func(sub string, role core.Role) (string, error)
}

// Options configure the portal.
type Options struct {
	// Files is the built bundle: index.html at its root, content-hashed
	// files under AssetsDir.
	Files fs.FS
	// Origins are the origins beyond the page's own that the CSP allows.
	Origins Origins
	// Config is served at /config.json; DemoSignIn is set from Demo.
	Config Config
	// Demo, when not nil, is served at /demo/identities (to a loopback
	// Host only). The caller sets it only for `serve --demo` on a loopback
	// listen address (DemoAllowed).
	Demo *Demo
	// Limit, when not nil, wraps the portal's own answers (its files,
	// config.json, the demo identities), after their headers are set: the
	// local server's rate limit by client address, as for everything else
	// that carries no token (localserver.Limits.LimitIP).
	Limit func(http.Handler) http.Handler
}

// Paths of the portal's own answers.
const (
	ConfigPath = "/config.json"
	DemoPath   = "/demo/identities"
)

// reserved are the path prefixes of the API and of the local server's
// other answers: no file of the bundle is served under them, so that the
// portal never shadows a route.
var reserved = []string{"/v1/", "/api/", "/blobs/", "/health", "/openapi.yaml", ConfigPath, DemoPath}

// file is one file of the bundle, read once.
type file struct {
	name string
	data []byte
	etag string
}

// Wrap serves the portal in front of next (the API's handler): GET and HEAD
// of / (index.html), of a file of the bundle, of /config.json and, when
// enabled, of /demo/identities; everything else goes to next unchanged, so
// the API's routes and answers stay as they are. Every answer of the portal
// carries Headers and CacheControl. There is no fallback from an unknown
// path to index.html: the portal routes with the URL's fragment
// (/#/patient), so an unknown path is next's 404.
func Wrap(next http.Handler, o Options) (http.Handler, error) {
	files := map[string]file{}
	if o.Files != nil {
		err := fs.WalkDir(o.Files, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			urlPath := "/" + p
			for _, r := range reserved {
				if urlPath == r || strings.HasPrefix(urlPath, r) {
					return fmt.Errorf("portal file %s would shadow %s", p, r)
				}
			}
			data, err := fs.ReadFile(o.Files, p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			files[urlPath] = file{name: path.Base(p), data: data, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("portal: %w", err)
		}
	}
	if index, ok := files["/index.html"]; ok {
		files["/"] = index
	}
	cfg := o.Config
	cfg.DemoSignIn = o.Demo != nil
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("portal: config: %w", err)
	}
	own := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == ConfigPath:
			setHeaders(w, r, o.Origins, p)
			w.Header().Set("Content-Type", "application/json")
			http.ServeContent(w, r, "config.json", time.Time{}, bytes.NewReader(config))
		case p == DemoPath:
			serveDemo(w, r, o)
		default:
			f := files[p]
			setHeaders(w, r, o.Origins, p)
			w.Header().Set("Content-Type", contentType(f.name))
			w.Header().Set("ETag", f.etag)
			http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.data))
		}
	}))
	if o.Limit != nil {
		limited := o.Limit(own)
		// The security headers go on a refusal too: it is an answer of the
		// page's origin like any other.
		own = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			setHeaders(w, r, o.Origins, r.URL.Path)
			limited.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		p := r.URL.Path
		_, isFile := files[p]
		if p == ConfigPath || p == DemoPath && o.Demo != nil && loopbackHost(r.Host) || isFile {
			own.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

func setHeaders(w http.ResponseWriter, r *http.Request, o Origins, p string) {
	h := w.Header()
	for k, v := range Headers(o.without(requestOrigin(r))) {
		h.Set(k, v)
	}
	h.Set("Cache-Control", CacheControl(p))
	// As every answer of the API: a request id to quote in a report.
	h.Set("X-Request-Id", core.NewID("rq"))
}

// requestOrigin is the origin the page was loaded from, which 'self'
// stands for.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// contentType is the type of a file of the bundle by its extension; with
// nosniff, a browser runs a script or applies a style only if its type
// says so.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".map", ".json", ".webmanifest":
		return "application/json"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Identity is one demo identity the page may sign in as.
type Identity struct {
	Role  core.Role `json:"role"`
	ID    string    `json:"id"`
	Token string    `json:"token"`
}

// DemoIdentities is the answer of GET /demo/identities.
type DemoIdentities struct {
	AppointmentID string     `json:"appointment_id"`
	Identities    []Identity `json:"identities"`
}

// DemoTokenTTL is how long a token handed out by /demo/identities lives;
// each request mints fresh ones.
const DemoTokenTTL = 12 * time.Hour

func serveDemo(w http.ResponseWriter, r *http.Request, o Options) {
	out := DemoIdentities{AppointmentID: o.Demo.Appointment}
	for _, id := range []Identity{
		{Role: core.RolePatient, ID: o.Demo.Patient},
		{Role: core.RoleProfessional, ID: o.Demo.Professional},
		{Role: core.RoleClinic, ID: o.Demo.Clinic},
	} {
		tok, err := o.Demo.Mint(id.ID, id.Role)
		if err != nil {
			setHeaders(w, r, o.Origins, DemoPath)
			http.Error(w, "could not mint demo tokens", http.StatusInternalServerError)
			return
		}
		id.Token = tok
		out.Identities = append(out.Identities, id)
	}
	b, _ := json.Marshal(out) // strings only: cannot fail
	setHeaders(w, r, o.Origins, DemoPath)
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "identities.json", time.Time{}, bytes.NewReader(b))
}

// loopbackHost reports whether a request's Host names this machine:
// localhost or a loopback address. The demo identities are refused to any
// other Host, so that a page of another site whose name was rebound to
// 127.0.0.1 (DNS rebinding) cannot read them from the user's browser.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DemoAllowed reports whether a server listening on addr with --demo may
// offer demo sign-in: only when demo is set and addr is a loopback address,
// so that tokens of the demo identities are never handed to the network.
func DemoAllowed(demo bool, addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return demo && ok && tcp.IP.IsLoopback()
}
